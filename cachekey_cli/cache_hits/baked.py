"""A snapshot baked into the cache: ``cachekey snapshot MODEL --into PATH`` at bake time.

The recipe: bake the image (compile once, so the cache fills), run
``cachekey snapshot MODEL --into CACHE`` in the same image, ship both, and gate
the deploy on ``cachekey check MODEL --cache CACHE``. The snapshot records
every piece's keys with their components, so a later check explains each miss
or stale piece down to the component, as ``explain`` does; and for vLLM, where
this tool's keys lack what vLLM adds when vLLM is not importable, equal keys
between snapshot and now mean the piece the cache holds is this piece.

Torch-free: the snapshot is read by ``baseline.load`` (JSON only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from cachekey_cli.baseline.snapshot import Snapshot
from cachekey_cli.compare.drift import CheckResult
from cachekey_cli.errors import InputError

FILE_NAME = "cachekeys.json"
# vLLM folders a snapshot may sit above: prefix -> rank -> hash -> torch_compile_cache -> root
VLLM_DEPTH = 4


@dataclass(frozen=True)
class Baked:
    path: str
    snapshot: Snapshot
    result: CheckResult | None  # the snapshot compared with now; None when not comparable
    note: str | None = None


def find(path: str, vllm: bool) -> str | None:
    """The snapshot file in PATH or, for a folder inside a vLLM cache, in a folder above it."""
    folder = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path))
    for _ in range((VLLM_DEPTH if vllm else 0) + 1):
        candidate = os.path.join(folder, FILE_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return None


def compare(path: str, current: Snapshot) -> Baked:
    """Load the baked snapshot and compare it with the current keys (``explain``'s account)."""
    from cachekey_cli.baseline import load
    from cachekey_cli.compare import drift

    old = load.load(path)
    compared = old
    if old.model.get("name") == current.model.get("name") and old.model_id != current.model_id:
        # the same file, another factory (e.g. one per variant of the model): still comparable
        compared = replace(old, model={**old.model, "factory": current.model["factory"]})
    try:
        result = drift.check(compared, current)
    except InputError as exc:
        return Baked(path, old, None, f"the snapshot in the cache ({path}) is not used: "
                     f"{exc.one_line()}")
    return Baked(path, old, result)


def stored_key(baked: Baked, piece_id: str, kind: str = "aot_key") -> tuple[bool, str | None]:
    """(found, key) of a piece as the baked snapshot recorded it."""
    for p in baked.snapshot.pieces:
        if p.id == piece_id:
            return True, p.key(kind).key
    return False, None


def findings(baked: Baked | None, piece_id: str) -> tuple[str, ...]:
    if baked is None or baked.result is None:
        return ()
    for s in baked.result.subgraphs:
        if s.id == piece_id:
            return s.texts()
    return ()
