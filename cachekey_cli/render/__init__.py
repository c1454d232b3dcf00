"""Renderers, chosen by name. Each takes a result and returns a string; none changes a verdict.

A folder per report kind (``diff/``, ``check/``, ``cache_hits/``, ``dedup/``,
``stability/``, ``vllm_cache/``), a file per format in it; ``console.py`` is the
rich set-up they share. The registries below give each command its ``--format``
choices.
"""

from __future__ import annotations

from collections.abc import Callable

Renderer = Callable[..., str]


def diff_renderers() -> dict[str, Renderer]:
    from cachekey_cli.render.diff import json as diff_json
    from cachekey_cli.render.diff import markdown as diff_markdown
    from cachekey_cli.render.diff import rich as diff_rich

    return {"rich": diff_rich.render, "json": diff_json.render, "markdown": diff_markdown.render}


DIFF_FORMATS = ("rich", "json", "markdown")
VLLM_CACHE_FORMATS = ("rich", "json", "markdown")


def vllm_cache_renderers(command: str) -> dict[str, Renderer]:
    """``inspect`` or ``diff`` renderers of ``cachekey vllm-cache``, by format."""
    from cachekey_cli.render.vllm_cache import json as vllm_cache_json
    from cachekey_cli.render.vllm_cache import markdown as vllm_cache_markdown
    from cachekey_cli.render.vllm_cache import rich as vllm_cache_rich

    modules = {"rich": vllm_cache_rich, "json": vllm_cache_json, "markdown": vllm_cache_markdown}
    return {name: getattr(module, f"render_{command}") for name, module in modules.items()}


CACHE_FORMATS = ("rich", "json", "markdown", "github")


def cache_renderers() -> dict[str, Renderer]:
    """``cachekey check --cache`` renderers, by format."""
    from cachekey_cli.render.cache_hits import github as cache_github
    from cachekey_cli.render.cache_hits import json as cache_json
    from cachekey_cli.render.cache_hits import markdown as cache_markdown
    from cachekey_cli.render.cache_hits import rich as cache_rich

    return {"rich": cache_rich.render, "json": cache_json.render,
            "markdown": cache_markdown.render, "github": cache_github.render}
