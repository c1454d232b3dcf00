"""Renderers for ``cachekey check`` / ``explain``, chosen by name, plus the JUnit XML report."""

from __future__ import annotations

from cachekey_cli.render import Renderer


def check_renderers() -> dict[str, Renderer]:
    from cachekey_cli.render.check import github as check_github
    from cachekey_cli.render.check import json as check_json
    from cachekey_cli.render.check import markdown as check_markdown
    from cachekey_cli.render.check import rich as check_rich

    return {
        "rich": check_rich.render,
        "json": check_json.render,
        "markdown": check_markdown.render,
        "github": check_github.render,
    }


def junit_xml(result: object) -> str:
    from cachekey_cli.render.check import junit as check_junit

    return check_junit.render(result)
