"""vLLM's code factor: the path and content of every traced file, in two recipes.

``code_hash`` is vLLM 0.32.0's and 0.33.0's (the ``"joined"`` recipe of
``vllm/releases.py``), the one ``VllmBackend.__call__``
(vllm/compilation/backends.py) runs before it names the cache folder:

- the traced files (``compilation_config.traced_files``) in sorted order;
- ``"<string>"`` (code made by ``exec``) is left out, path and all;
- each other file contributes its absolute path, then its text as ``open()``
  reads it; a file that cannot be read contributes its path only;
- everything is joined with ``"\\n"`` and hashed with sha256.

``code_files``/``files_hash`` are vLLM 0.34.0's (``"files"``;
vllm/compilation/caching.py ``read_code_files`` and ``get_code_factors``): one
``{"path", "hash"}`` entry per file, sorted as ``pathlib`` paths (part by part,
not as strings), ``hash`` = ``hash_factors({"content": text})``; a file that
cannot be read, or a name that starts with ``<`` (``<string>``, ``<frozen …>``),
is listed by path only; the factor is ``hash_factors({"files": entries})``.

Pure Python, no torch: ``fixtures/vllm/run_vllm.py`` imports it inside vLLM's
own environment to check it against the hash vLLM wrote.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath

from cachekey_cli.analysis.traced import DYNAMIC_CODE
from cachekey_cli.vllm.releases import hash_factors


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


def code_files(paths: Iterable[str]) -> list[dict[str, str]]:
    """vLLM 0.34.0's per-file code factors over these traced files as they are on disk now."""
    unique = {PurePosixPath(p) for p in paths}
    out = []
    for path in sorted(unique):
        entry = {"path": str(path)}
        text = None if str(path).startswith("<") else read_text(str(path))
        if text is not None:
            entry["hash"] = hash_factors({"content": text})
        out.append(entry)
    return out


def files_hash(entries: list[dict[str, str]]) -> str:
    """vLLM 0.34.0's code hash: ``hash_factors({"files": entries})``."""
    return hash_factors({"files": entries})

