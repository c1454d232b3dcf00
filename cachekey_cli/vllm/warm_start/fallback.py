"""Under a vLLM-level miss: what Inductor's own caches still serve, piece by piece.

A piece vLLM does not load is handed to ``standalone_compile``, which looks in
Inductor's caches first. With AOT compile on (vLLM 0.33.0's default),
``VllmBackend`` points ``TORCHINDUCTOR_CACHE_DIR`` at
``torch_aot_compile/<AOT-compile folder>/inductor_cache/``: the folder's name
covers the env, config and compiler factors and the forward's position, not the
code, so after a code change the unchanged pieces' entries are still there
(measured with real vLLM: one of three pieces compiled, and vLLM logged 2.26 s for
it against 11.14 s for the cold bake). The lookup there is torch's
(``inductor.predict``: the AOTAutograd entry and its guards, the forward it
loads, else Inductor's FX entry). Without AOT compile (``VLLM_USE_AOT_COMPILE=0``,
or a model decorated ``use_aot_compile=False``, as vLLM's Transformers backend is,
which files no index at all) vLLM 0.33.0 and 0.34.0 point it at this start's hash
folder, ``<hash>/rank_<r>_<dp>/inductor_cache`` (``InductorStandaloneAdaptor.
initialize_cache``); with the cache disabled, and on 0.32.0, they leave it to the
process's environment: where this check runs with it set (the server's environment, as
for every ``VLLM_*`` variable), that folder is looked up the same way; unset, the level
is ``unknown``. Which release does which is the release row's
``no_aot_inductor_dir``.

Each missed piece gets ``level``: ``aotautograd`` (nothing compiles: AOTAutograd's
entry is served), ``fxgraph`` (AOTAutograd traces again, Inductor's output is
reused), ``cold`` (a full compile) or ``unknown``. Torch-free.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cachekey_cli.cache_hits import inductor, inductor_dir
from cachekey_cli.cache_hits.records import CurrentPiece, PieceCache
from cachekey_cli.vllm.records import AotModel, Deployment

NO_AOT = ("VLLM_USE_AOT_COMPILE=0: vLLM compiles with the TORCHINDUCTOR_CACHE_DIR the server "
          "inherits, which is not set here (set it as the server does to look it up)")


@dataclasses.dataclass(frozen=True)
class NoAotCache:
    """Where Inductor's cache is for a start without AOT compile."""

    rule: str  # the release row's no_aot_inductor_dir: "hash_folder" or "environment"
    cache_disabled: bool  # VLLM_DISABLE_COMPILE_CACHE: vLLM sets nothing
    rank_dir: str | None  # this start's <hash>/rank_<r>_<dp>, where PATH holds it


def second_level(pieces: Sequence[PieceCache], now: Sequence[CurrentPiece], dep: Deployment,
                 aot_compile: bool, bundled: bool, folder: str | None, assumed: bool,
                 no_aot: NoAotCache | None = None,
                 ) -> tuple[list[PieceCache], tuple[str, ...]]:
    """``pieces`` with the Inductor level of each miss; ``folder`` is the AOT-compile
    folder this start uses (its name), ``assumed`` when it was not computed with vLLM's
    own factor functions; ``no_aot``: where the cache is when the start compiles without
    AOT compile."""
    missed = [p for p in pieces if p.cache == "miss"]
    if not missed:
        return list(pieces), ()
    if not aot_compile and no_aot is not None and no_aot.rule == "hash_folder" \
            and not no_aot.cache_disabled:
        return _hash_folder_level(pieces, now, missed, bundled, no_aot.rank_dir)
    inherited = os.environ.get("TORCHINDUCTOR_CACHE_DIR", "")
    if not aot_compile and not inherited:
        return [_with(p, "unknown", (NO_AOT,)) if p.cache == "miss" else p
                for p in pieces], ()
    cache_dir = _inductor_cache(dep.aot_models, folder) if aot_compile else (
        inherited if os.path.isdir(inherited) else None)
    if cache_dir is None and not aot_compile:
        why = f"TORCHINDUCTOR_CACHE_DIR {inherited} does not exist: Inductor's cache starts empty"
        return [_with(p, "cold", (why,)) if p.cache == "miss" else p for p in pieces], ()
    if cache_dir is None:
        why = (f"this start's AOT-compile folder {folder[:12]}… is not in PATH: its Inductor "
               "cache starts empty" if folder else "no AOT-compile folder in PATH: Inductor's "
               "cache starts empty")
        return [_with(p, "cold", (why,)) if p.cache == "miss" else p for p in pieces], \
            _bake_cost(dep.aot_models)
    notes: tuple[str, ...] = ()
    if not aot_compile:
        notes = (f"Inductor's cache under a vLLM miss: TORCHINDUCTOR_CACHE_DIR {cache_dir}, as "
                 "set in this environment (VLLM_USE_AOT_COMPILE=0 leaves it to the server's)",)
    elif assumed and folder:
        notes = (f"Inductor's cache under a vLLM miss: torch_aot_compile/{folder[:12]}…/"
                 "inductor_cache, taken as this start's (the AOT-compile folder's name was not "
                 "computed with vLLM's factor functions)",)
    return _looked_up(pieces, now, missed, bundled, cache_dir), notes


def _looked_up(pieces: Sequence[PieceCache], now: Sequence[CurrentPiece],
               missed: Sequence[PieceCache], bundled: bool, cache_dir: str) -> list[PieceCache]:
    """Each missed piece with what torch's own lookup finds in the Inductor cache."""
    cache = inductor_dir.read(cache_dir)
    by_id = {c.id: c for c in now}
    looked = inductor.predict(cache, [by_id[p.id] for p in missed], inductor_dir.folder,
                              bundled=bundled)
    found = {r.id: r for r in looked}
    out = []
    for p in pieces:
        r = found.get(p.id)
        if r is None:
            out.append(p)
            continue
        level = "aotautograd" if r.cache == "hit" else (r.fallback or "cold")
        said: tuple[str, ...] = r.reasons
        if level == "aotautograd":
            said += (f"its entry records a compile of {r.saved_s:.2f} s, which this start "
                     "does not pay",) if r.saved_s is not None else (
                "its entry records no compile time",)
        elif level == "cold":
            said += ("cost unknown: a new key, so no entry records what it will take",)
        out.append(dataclasses.replace(_with(p, level, said), guards=p.guards + r.guards,
                                       counters=dict(r.counters), saved_s=r.saved_s))
    return out


def _bake_cost(models: Sequence[AotModel]) -> tuple[str, ...]:
    """What the bake PATH holds recorded for its own compile: the cost a cold start can expect
    when every piece compiles again (an estimate: the new pieces' keys are new)."""
    for m in models:
        path = os.path.join(os.path.dirname(os.path.dirname(m.path)), "inductor_cache")
        if not os.path.isdir(path):
            continue
        cache = inductor_dir.read(path)
        seconds = [e.compile_s for key in sorted(cache.aot_keys)
                   for f in [inductor_dir.folder(cache, "aot", key)] if f is not None
                   for e in f.entries if e.compile_s is not None]
        if seconds:
            return (f"the bake in PATH recorded {sum(seconds):.1f} s of compile for its "
                    f"{len(seconds)} AOTAutograd entries (torch_aot_compile/{m.hash[:12]}…): "
                    "about what the cold start here costs, not counting Dynamo and vLLM",)
    return ()


def _hash_folder_level(pieces: Sequence[PieceCache], now: Sequence[CurrentPiece],
                       missed: Sequence[PieceCache], bundled: bool, rank_dir: str | None
                       ) -> tuple[list[PieceCache], tuple[str, ...]]:
    """Without AOT compile: Inductor's cache in this start's hash folder."""
    cache_dir = os.path.join(rank_dir, "inductor_cache") if rank_dir else None
    if cache_dir is None or not os.path.isdir(cache_dir):
        why = ("this start's hash folder is not in PATH: its inductor_cache starts empty"
               if rank_dir is None else
               f"{rank_dir} has no inductor_cache: Inductor's cache starts empty")
        return [_with(p, "cold", (why,)) if p.cache == "miss" else p for p in pieces], ()
    return _looked_up(pieces, now, missed, bundled, cache_dir), (
        f"Inductor's cache under a vLLM miss: {cache_dir}, where vLLM points "
        "TORCHINDUCTOR_CACHE_DIR when it compiles without AOT compile",)


def _with(p: PieceCache, level: str, why: Sequence[str]) -> PieceCache:
    return dataclasses.replace(p, fallback=level, fallback_reasons=tuple(why))


def _inductor_cache(models: Sequence[AotModel], folder: str | None) -> str | None:
    for m in models:
        if folder is not None and m.hash == folder:
            path = os.path.join(os.path.dirname(os.path.dirname(m.path)), "inductor_cache")
            return path if os.path.isdir(path) else None
    return None
