"""vLLM 0.33.0's code factor: a sha256 over the path and content of every traced file.

The recipe is the one ``VllmBackend.__call__`` (vllm/compilation/backends.py)
runs before it names the cache folder:

- the traced files (``compilation_config.traced_files``) in sorted order;
- ``"<string>"`` (code made by ``exec``) is left out, path and all;
- each other file contributes its absolute path, then its text as ``open()``
  reads it; a file that cannot be read contributes its path only;
- everything is joined with ``"\\n"`` and hashed with sha256.

Pure Python, no torch: ``fixtures/vllm/run_vllm.py`` imports it inside vLLM's
own environment to check it against the hash vLLM wrote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from cachekey_cli.analysis.traced import DYNAMIC_CODE


def read_text(path: str) -> str | None:
    """The file's text the way vLLM reads it (``open(path).read()``), or None."""
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def code_hash_from_contents(contents: Mapping[str, str | None]) -> str:
    """vLLM's code hash over ``{path: text or None (unreadable)}``."""
    parts: list[str] = []
    for path in sorted(contents):
        if path == DYNAMIC_CODE:
            continue
        parts.append(path)
        text = contents[path]
        if text is not None:
            parts.append(text)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def code_hash(paths: Iterable[str]) -> str:
    """vLLM's code hash over these traced files as they are on disk now."""
    unique = set(paths)
    return code_hash_from_contents(
        {p: (None if p == DYNAMIC_CODE else read_text(p)) for p in unique}
    )
