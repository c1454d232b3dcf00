"""Renderers for ``cachekey check`` / ``explain``, chosen by name, plus the JUnit XML report."""

from __future__ import annotations

from cachekey_cli.render import Renderer


def check_renderers() -> dict[str, Renderer]:
    from cachekey_cli.render import check_github, check_json, check_markdown, check_rich

    return {
        "rich": check_rich.render,
        "json": check_json.render,
        "markdown": check_markdown.render,
        "github": check_github.render,
    }


def junit_xml(result: object) -> str:
    from cachekey_cli.render import check_junit

    return check_junit.render(result)
