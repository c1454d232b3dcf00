"""Renderers, chosen by name. Each takes a result and returns a string; none changes a verdict.

A folder per report kind (``diff/``, ``check/``, ``cache_hits/``, ``dedup/``,
``stability/``, ``vllm_cache/``), a file per format in it; ``console.py`` is the
rich set-up they share. The registries below, one per report kind, give each
command its ``--format`` choices; each imports its formats only when called, so
``--help`` imports no rich.
"""

from __future__ import annotations

from collections.abc import Callable

Renderer = Callable[..., str]

DIFF_FORMATS = ("rich", "json", "markdown")
CHECK_FORMATS = ("rich", "json", "markdown", "github")
CACHE_FORMATS = ("rich", "json", "markdown", "github")
DEDUP_FORMATS = ("rich", "json", "markdown")
STABILITY_FORMATS = ("rich", "json", "markdown")
VLLM_CACHE_FORMATS = ("rich", "json", "markdown")


def diff_renderers() -> dict[str, Renderer]:
    """``cachekey diff`` renderers, by format."""
    from cachekey_cli.render.diff import json, markdown, rich

    return {"rich": rich.render, "json": json.render, "markdown": markdown.render}


def check_renderers() -> dict[str, Renderer]:
    """``cachekey check`` / ``explain`` renderers, by format."""
    from cachekey_cli.render.check import github, json, markdown, rich

    return {"rich": rich.render, "json": json.render, "markdown": markdown.render,
            "github": github.render}


def junit_xml(result: object) -> str:
    """``--junit-xml``: one test case per subgraph."""
    from cachekey_cli.render.check import junit

    return junit.render(result)


def cache_renderers() -> dict[str, Renderer]:
    """``cachekey check --cache`` renderers, by format."""
    from cachekey_cli.render.cache_hits import github, json, markdown, rich

    return {"rich": rich.render, "json": json.render, "markdown": markdown.render,
            "github": github.render}


def dedup_renderers() -> dict[str, Renderer]:
    """``cachekey dedup`` renderers, by format."""
    from cachekey_cli.render.dedup import json, markdown, rich

    return {"rich": rich.render, "json": json.render, "markdown": markdown.render}


def stability_renderers() -> dict[str, Renderer]:
    """``cachekey stability`` renderers, by format."""
    from cachekey_cli.render.stability import json, text

    return {"rich": text.render_rich, "json": json.render, "markdown": text.render_markdown}


def vllm_cache_renderers(command: str) -> dict[str, Renderer]:
    """``inspect`` or ``diff`` renderers of ``cachekey vllm-cache``, by format."""
    from cachekey_cli.render.vllm_cache import json, markdown, rich

    modules = {"rich": rich, "json": json, "markdown": markdown}
    return {name: getattr(module, f"render_{command}") for name, module in modules.items()}
