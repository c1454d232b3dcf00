"""Mirror vLLM 0.33.0's warm start on a vLLM cache: which artifact each piece gets.

Read from vLLM 0.33.0's source (vllm/compilation/):

- default mode (``VLLM_USE_AOT_COMPILE=1``, ``VLLM_USE_MEGA_AOT_ARTIFACT=1``):
  ``decorators.py`` loads ``torch_aot_compile/<hash>/rank_<r>_<dp>/model`` if its
  recorded sources still match the files, and that one file holds every piece
  (its ``inductor_cache/aotautograd/`` folders are named by the pieces' AOT keys);
- per-piece modes (``VLLM_USE_MEGA_AOT_ARTIFACT=0``, or ``VLLM_USE_AOT_COMPILE=0``):
  with AOT compile on, the AOT-compiled model loads first when it can, and brings
  its recorded graph (``aot_load``); then ``CompilerManager.load`` (backends.py)
  looks each piece up in the hash folder's index by ``(compile range, graph
  index, compiler)``, by position and never by graph, and
  ``InductorStandaloneAdaptor.load`` (compiler_interface.py) loads the artifact it
  names, which checks torch's build key and then serves whatever AOT key its
  header holds, with shape guards skipped.

So a piece is ``stale`` when vLLM would load an artifact whose stored AOT key
is not the piece's own key, or run the piece of an AOT-compiled model's old
graph. Telling that needs the piece's own key as vLLM computes it: exact where
the profile reproduces vLLM's keys, or, elsewhere, the keys of a snapshot baked
into the cache (equal keys then and now mean the artifact is this piece's).
Here: the cache read, the mode, the release and the opt-outs; what each piece
meets is ``loads``. Torch-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cachekey_cli.cache_hits import baked as baked_mod
from cachekey_cli.cache_hits.records import CacheCheck, CurrentPiece, PieceCache, model_id
from cachekey_cli.vllm import releases
from cachekey_cli.vllm.identity import code_check
from cachekey_cli.vllm.identity.code_check import ModelCode
from cachekey_cli.vllm.identity.code_factor import code_hash
from cachekey_cli.vllm.records import INDEX_SETTING, NO_INDEX, Deployment
from cachekey_cli.vllm.warm_start import aot_load, fallback, folder_choice, loads, reuse

NOT_EXACT = ("these keys are vLLM's torch side only (without what vLLM itself adds: its "
             "PostGradPassManager), so they cannot equal the cache's")


def read(path: str) -> Deployment:
    """The vLLM cache under PATH. A folder PATH names (hash, rank or prefix) must be sound:
    an index that is not a literal or a damaged artifact there is an InputError (exit 3)."""
    from cachekey_cli.vllm import layout
    from cachekey_cli.vllm.layout import tree

    dep = layout.read(path)
    if dep.kind in ("hash folder", "rank folder", "prefix folder"):
        for folder in dep.folders:
            loads.validate(folder)
        # the warm start loads the AOT-compiled model first, whichever folder was named
        models = tree.enclosing_aot_models(dep)
        if models is not None:
            notes = tuple(n for n in dep.notes if n != tree.AOT_HINT)
            dep = dataclasses.replace(dep, aot_models=models, notes=notes)
    return dep


def model_code(analysis: Any) -> ModelCode:
    """vLLM's code factor of the model as it is now: the traced files, hashed from disk."""
    return ModelCode(analysis.model.source, analysis.traced_files,
                     code_hash(t.path for t in analysis.traced_files),
                     code_check.model_file(analysis.model.source))


def check(analysis: Any, dep: Deployment, now: Sequence[CurrentPiece],
          baked: baked_mod.Baked | None, *, code: ModelCode, torch_key: str) -> CacheCheck:
    """Every piece in ``now`` against ``dep``. ``code`` is vLLM's code factor of the current
    model (``model_code``), ``torch_key`` this torch's build key (hex)."""
    info = analysis.profile
    m = folder_choice.mode(info.cache_mode if info else None, analysis.environment.torch)
    exact = info is not None and not info.not_reproduced
    expected_folder, expected_aot = deployment_names(info)
    keys = loads.Keys(exact, baked)
    notes: list[str] = []
    if not exact:
        notes.append(NOT_EXACT + ("; hit and stale are told apart with the snapshot baked into "
                                  "the cache" if keys.baked else "; the folder, the index and "
                                  "the torch build key are still checked"))
    row, release, assumed = _release(info, dep)
    if assumed:
        notes.append(assumed)
    facts = [("cache", f"vLLM {dep.kind} {dep.path}"),
             ("vllm", release),
             ("mode", f"{m.name} (from VLLM_USE_AOT_COMPILE, VLLM_USE_MEGA_AOT_ARTIFACT)"),
             ("torch", f"{analysis.environment.torch}, build key {torch_key[:8]}…")]
    if info is not None and "platform" in info.settings:  # a vllm: model's platform
        facts.append(("platform", info.settings["platform"]))
    rank = (info.folder_factors if info else {}).get("rank_folder", folder_choice.RANK)
    opted_out = opt_out(m, getattr(analysis, "config_overrides", {}))
    pieces: list[PieceCache]
    more: list[str]
    lines: tuple[str, ...]
    if opted_out:
        facts.append(("cache use", f"disabled ({opted_out.split(':')[0]})"))
        aot = aot_load.AotLoad(None, why=opted_out)
        pieces, more, lines = loads.every(now, "miss", opted_out), [], ()
    elif m.mega:
        aot = aot_load.load(dep, code, m, expected_aot, analysis.environment.torch, rank)
        pieces, more, lines = loads.mega(dep, now, keys, aot)
    else:
        aot = aot_load.load(dep, code, m, expected_aot, analysis.environment.torch, rank)
        pieces, more, lines = loads.per_piece(dep, now, code, keys, m, expected_folder,
                                                  torch_key, facts, aot, info,
                                                  analysis.environment.torch)
    # repeats of a piece this start already loaded or compiled come from memory
    pieces, reuse_notes = reuse.in_memory(
        pieces, now, loads_pieces=not (m.mega and aot.model is not None), exact=exact)
    more = list(more) + list(reuse_notes)
    # the AOT-compile folder this start uses: vLLM's own name for it, else the model it found
    # when that one is this start's (it loads, or its source check fails); an env or torch
    # change names a new folder, whose Inductor cache starts empty
    own = aot.found is not None and (aot.model is not None or bool(aot.changed))
    folder = expected_aot or (aot.found.hash if own and aot.found else None)
    # a model decorated use_aot_compile=False compiles without AOT compile, whatever the
    # environment says, and vLLM files no index for it
    index_less = info is not None and info.settings.get(INDEX_SETTING) == NO_INDEX
    compiles_aot = m.aot and not index_less
    where = fallback.NoAotCache(
        row.no_aot_inductor_dir, m.cache_disabled,
        _rank_dir(dep, expected_folder, rank))
    pieces, fallback_notes = fallback.second_level(
        pieces, now, dep, compiles_aot, m.mega, folder, assumed=expected_aot is None,
        no_aot=where)
    if index_less:
        pieces = [_inductor_is_the_cache(p) for p in pieces]
    more = list(more) + list(fallback_notes)
    return CacheCheck(model=model_id(analysis),
                      profile="vllm", path=dep.path, kind=dep.kind, pieces=tuple(pieces),
                      facts=tuple(facts), notes=tuple(notes + more), folder=lines)


def _release(info: Any, dep: Deployment) -> tuple[releases.Release, str, str | None]:
    """The release whose warm-start rules apply, the header's vLLM line, and a caveat when
    its rules are assumed: the installed vLLM where the profile called it, else the newest
    release that writes the cache's layout, else the newest release."""
    version = info.vllm_version if info is not None else None
    if version:
        resolved = releases.resolve(version)
        return (resolved.release,
                f"{version} (importable; warm-start rules checked on {releases.CHECKED})",
                resolved.assumed)
    layouts = {f.factors.layout for f in dep.folders}
    if len(layouts) == 1:
        (layout,) = layouts
        writers = [r for r in releases.RELEASES if r.layout == layout]
        names = [r.version for r in writers]
        return (writers[-1], f"not importable: the cache's factors file is vLLM "
                f"{' or '.join(names)}'s; vLLM {names[-1]}'s warm start assumed", None)
    return (releases.NEWEST, f"not importable: vLLM {releases.NEWEST.version}'s warm start "
            f"assumed (checked on {releases.CHECKED})", None)


def _inductor_is_the_cache(p: PieceCache) -> PieceCache:
    """A model vLLM files no index for: a piece Inductor's cache serves whole (its AOTAutograd
    entry) is as warm as that model's start gets, so it hits; the rest stays a miss."""
    if p.cache != "miss" or p.fallback != "aotautograd":
        return p
    return dataclasses.replace(p, cache="hit", reasons=(
        "vLLM files no index for this model (decorated use_aot_compile=False): every start "
        "compiles it through Inductor's cache in the hash folder, which serves this piece "
        "whole",), unchecked=())


def _rank_dir(dep: Deployment, folder: str | None, rank: str) -> str | None:
    """``<hash>/rank_<r>_<dp>`` of this start's hash folder, where PATH holds it."""
    import os

    for f in dep.folders:
        if folder is not None and f.hash == folder and f.rank in (rank, None):
            return os.path.dirname(f.path) if f.prefix else f.path
    return None


def opt_out(m: folder_choice.Mode, overrides: Mapping[str, str]) -> str | None:
    """Why this deployment's vLLM reads nothing from its compile cache, if it does not.

    vLLM 0.33.0: ``VLLM_DISABLE_COMPILE_CACHE=1`` skips the AOT-compiled model
    (decorators.py) and, through ``is_compile_cache_enabled`` (compiler_interface.py),
    the index; so does Inductor's ``force_disable_caches`` in the compilation config's
    ``inductor_compile_config``. The pieces still go through ``CompilerManager.compile``,
    so identical ones are still compiled once.
    """
    if m.cache_disabled:
        return ("VLLM_DISABLE_COMPILE_CACHE=1: vLLM's torch.compile cache is disabled; it loads "
                "nothing from it and files nothing in it")
    if str(overrides.get("inductor.force_disable_caches", "")).lower() == "true":
        return ("force_disable_caches in the Inductor config: vLLM's torch.compile cache is "
                "disabled; it loads nothing from it and files nothing in it")
    return None


def deployment_names(info: Any) -> tuple[str | None, str | None]:
    """The hash folder and AOT-compile folder this deployment would use, when the profile
    named them with vLLM's own factor functions (``ProfileInfo.hash_folder`` and
    ``aot_compile_folder``, where vLLM is importable); None each otherwise."""
    if info is None:
        return None, None
    return info.hash_folder, info.aot_compile_folder


