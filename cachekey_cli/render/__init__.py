"""Renderers, chosen by name. Each takes a result and returns a string; none changes a verdict."""

from __future__ import annotations

from collections.abc import Callable

Renderer = Callable[..., str]


def diff_renderers() -> dict[str, Renderer]:
    from cachekey_cli.render import diff_json, diff_markdown, diff_rich

    return {"rich": diff_rich.render, "json": diff_json.render, "markdown": diff_markdown.render}


DIFF_FORMATS = ("rich", "json", "markdown")

