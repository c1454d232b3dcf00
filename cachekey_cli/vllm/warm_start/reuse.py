"""vLLM's in-process reuse of identical pieces: a piece whose key this start already holds.

``CompilerManager`` (vllm/compilation/backends.py, the same in vLLM 0.32.0, 0.33.0
and 0.34.0) keeps ``loaded_artifacts``, every artifact this process has loaded
or compiled, by AOT key:

- ``load`` files a loaded piece there under the key its index entry records;
- ``compile`` wraps torch's ``autograd_cache_key``: as soon as a piece's key is
  computed, a key already in ``loaded_artifacts`` raises ``StopCompiling`` and the
  piece gets that artifact, in memory; otherwise the piece compiles and its
  artifact is filed there under its own key. Such a reused piece gets no index
  entry (``handle`` is None), which is why a bake of a model whose layers repeat
  holds one entry per distinct key, not one per piece.

So at a warm start a piece with no index entry (or one that vLLM compiles for
any other reason) costs nothing when an earlier piece of the same start left
its key in memory. It loads no foreign artifact either: the artifact it gets
was filed under its own key. This module relabels such pieces ``hit`` with
``reuses`` set to the earlier piece's position. It runs in every mode that
goes through ``CompilerManager.compile`` (per-piece, no-AOT, and a mega start
whose AOT-compiled model does not load), and after the first level, before
Inductor's own cache is consulted. Torch-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from cachekey_cli.cache_hits.records import CurrentPiece, PieceCache

NOTE = ("{n} an AOT key with an earlier piece of the same start: vLLM files one "
        "artifact per key and serves the repeats from memory (CompilerManager's "
        "loaded_artifacts), so they neither load nor compile anything")


def in_memory(pieces: Sequence[PieceCache], now: Sequence[CurrentPiece], *,
              loads_pieces: bool = True, exact: bool = True
              ) -> tuple[list[PieceCache], tuple[str, ...]]:
    """``pieces`` (in any order) with vLLM's in-memory reuse applied in graph order.

    ``loads_pieces``: whether the pieces vLLM does not compile went through
    ``CompilerManager.load`` (per-piece index). A mega AOT-compiled model that loads
    brings every piece at once and never reaches the compiler manager.
    ``exact``: whether the pieces' keys are vLLM's own. vLLM files a loaded piece under
    the key its index entry records; where our keys are not vLLM's, a loaded piece
    stands in memory under its own key instead (the part of vLLM's key we cannot
    reproduce is the same for every piece of one compile range, so equal keys among
    the pieces still mean equal keys to vLLM).
    """
    if not loads_pieces:
        return list(pieces), ()
    by_id = {p.id: p for p in pieces}
    held: dict[str, int] = {}  # AOT key -> the position of the piece that left it in memory
    reused: dict[str, PieceCache] = {}
    for cur in sorted(now, key=lambda c: c.position):
        p = by_id.get(cur.id)
        if p is None:
            continue
        if p.cache in ("hit", "stale"):
            # vLLM loaded an artifact for it: filed in memory under the index's key
            key = (p.stored.get("index_cache_key") if exact else None) or cur.aot_key
            if key:
                held.setdefault(key, cur.position)
            continue
        if p.stored.get("artifact") and p.stored.get("index_cache_key"):
            continue  # an index entry whose artifact fails to load: vLLM stops (no reuse)
        if cur.aot_key and cur.aot_key in held:
            reused[cur.id] = _reuse(p, cur, held[cur.aot_key])
        elif cur.aot_key:
            held.setdefault(cur.aot_key, cur.position)  # compiled here, then kept
    if not reused:
        return list(pieces), ()
    n = len(reused)
    note = NOTE.format(n="1 piece shares" if n == 1 else f"{n} pieces share")
    return [reused.get(p.id, p) for p in pieces], (note,)


def _reuse(p: PieceCache, cur: CurrentPiece, source: int) -> PieceCache:
    reason = f"piece #{source}'s AOT key {(cur.aot_key or '')[:12]}…: served from memory"
    return dataclasses.replace(p, cache="hit", reasons=(reason,), unchecked=(), reuses=source,
                               place=f"in memory (piece #{source})", fallback=None,
                               fallback_reasons=(), saved_s=None)
