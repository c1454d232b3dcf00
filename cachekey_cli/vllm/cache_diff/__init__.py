"""``vllm-cache diff``: two deployments' caches compared, and what moved the folder.

Torch-free. ``compare`` pairs the two deployments' folders and names every
factor that differs, ``pitfalls`` says in plain words which known cause is
behind it and the fix, ``redeploy`` what a deployment of B does with A's cache.
The deployments come from ``layout.read``.
"""

from __future__ import annotations

from cachekey_cli.vllm.cache_diff.compare import VllmCacheDiff
from cachekey_cli.vllm.records import Deployment


def diff(a: Deployment, b: Deployment) -> VllmCacheDiff:
    """Pair the two deployments' folders, name what differs and the pitfalls behind it."""
    from dataclasses import replace

    from cachekey_cli.vllm.cache_diff import compare, pitfalls, redeploy

    result = pitfalls.find(compare.compare(a, b))
    return replace(result, warm_start=redeploy.predict(result))


__all__ = ["VllmCacheDiff", "diff"]
