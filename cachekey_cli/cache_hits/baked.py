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
# How far below the cache root each kind of vLLM PATH sits (root/torch_compile_cache/<hash>/
# rank_<r>_<dp>/<prefix>): a snapshot baked into the cache is looked for up to the root, never
# above it, where a project's own cachekeys.json may lie.
LEVELS_BELOW_ROOT = {
    "cache root": 0,
    "torch_compile_cache": 1,
    "hash folder": 2,
    "rank folder": 3,
    "prefix folder": 4,
    "factors file": 4,  # PATH is the prefix folder's cache_key_factors.json
}


@dataclass(frozen=True)
class Baked:
    path: str
    snapshot: Snapshot
    result: CheckResult | None  # the snapshot compared with now; None when not comparable
    note: str | None = None


def find(path: str, levels_up: int = 0) -> str | None:
    """The snapshot file in PATH or in one of the ``levels_up`` folders above it."""
    folder = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path))
    for _ in range(levels_up + 1):
        candidate = os.path.join(folder, FILE_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return None


def compare(path: str, current: Snapshot, old: Snapshot) -> Baked:
    """The baked snapshot ``old`` (read from ``path``) compared with the current keys
    (``explain``'s account)."""
    from cachekey_cli.compare import drift

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
