"""vLLM's compile-cache folders as vLLM filed them: ``vllm-cache inspect``, and every reader.

Torch-free. ``tree`` finds the hash, rank and prefix folders under a path (and
reads each folder's factors file through ``identity/factors``), ``artifacts``
the index and the artifacts' headers, ``aot_model`` the AOT-compiled model,
read inertly (``cachekey_cli.pickled``); file access goes through
``cachekey_cli.reading``. What they read is the frozen ``records``.
"""

from __future__ import annotations

from cachekey_cli.vllm.records import Deployment


def read(path: str) -> Deployment:
    """Everything vLLM filed under PATH (a root, torch_compile_cache, a folder or a file)."""
    from cachekey_cli.vllm.layout import tree

    return tree.read(path)


__all__ = ["Deployment", "read"]
