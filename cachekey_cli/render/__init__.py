"""Renderers, chosen by name. Each takes a result and returns a string; none changes a verdict."""

from __future__ import annotations

from collections.abc import Callable

Renderer = Callable[..., str]


def diff_renderers() -> dict[str, Renderer]:
    from cachekey_cli.render import diff_json, diff_markdown, diff_rich

    return {"rich": diff_rich.render, "json": diff_json.render, "markdown": diff_markdown.render}


DIFF_FORMATS = ("rich", "json", "markdown")
VLLM_CACHE_FORMATS = ("rich", "json", "markdown")


def vllm_cache_renderers(command: str) -> dict[str, Renderer]:
    """``inspect`` or ``diff`` renderers of ``cachekey vllm-cache``, by format."""
    from cachekey_cli.render import vllm_cache_json, vllm_cache_markdown, vllm_cache_rich

    modules = {"rich": vllm_cache_rich, "json": vllm_cache_json, "markdown": vllm_cache_markdown}
    return {name: getattr(module, f"render_{command}") for name, module in modules.items()}


CACHE_FORMATS = ("rich", "json", "markdown", "github")


def cache_renderers() -> dict[str, Renderer]:
    """``cachekey check --cache`` renderers, by format."""
    from cachekey_cli.render import cache_github, cache_json, cache_markdown, cache_rich

    return {"rich": cache_rich.render, "json": cache_json.render,
            "markdown": cache_markdown.render, "github": cache_github.render}
