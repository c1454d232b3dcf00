"""vLLM compile-cache folders: read them, compare two, and say what moved the folder.

Torch-free except ``model_factor`` (``--model``). A module per stage:
``reading`` (safe file access), ``tree`` (find hash/rank/prefix folders),
``factors`` (``cache_key_factors.json``), ``artifacts`` (index and artifact
headers), ``aot_model`` (the AOT-compiled model, read inertly), ``compare``
(pair and diff two deployments), ``pitfalls`` (plain-words causes and fixes),
``warm_start`` (what B does with A's cache),
``code_factor`` (vLLM's code hash) and ``code_check`` (current code vs a folder).
"""

from __future__ import annotations

from cachekey_cli.vllm_cache.compare import VllmCacheDiff
from cachekey_cli.vllm_cache.records import Deployment


def read(path: str) -> Deployment:
    """Everything vLLM filed under PATH (a root, torch_compile_cache, a folder or a file)."""
    from cachekey_cli.vllm_cache import tree

    return tree.read(path)


def diff(a: Deployment, b: Deployment) -> VllmCacheDiff:
    """Pair the two deployments' folders, name what differs and the pitfalls behind it."""
    from dataclasses import replace

    from cachekey_cli.vllm_cache import compare, pitfalls, warm_start

    result = pitfalls.find(compare.compare(a, b))
    return replace(result, warm_start=warm_start.predict(result))


__all__ = ["Deployment", "VllmCacheDiff", "diff", "read"]
