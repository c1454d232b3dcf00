"""The files Dynamo traced while capturing, each with the sha256 of its bytes.

vLLM 0.33.0 hashes the path and content of exactly these files into its cache
folder's code factor (see cachekey_cli/vllm/identity/code_factor.py); snapshots
record them so that ``explain`` can name the file that changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from cachekey_cli.results import TracedFile

DYNAMIC_CODE = "<string>"  # code made by exec(): no file to hash


def traced_file(path: str) -> TracedFile:
    if path == DYNAMIC_CODE:
        return TracedFile(path, None)
    try:
        with open(path, "rb") as f:
            return TracedFile(path, hashlib.sha256(f.read()).hexdigest())
    except OSError:
        return TracedFile(path, None)


def traced_files(paths: Iterable[str]) -> tuple[TracedFile, ...]:
    return tuple(traced_file(p) for p in sorted(set(paths)))
