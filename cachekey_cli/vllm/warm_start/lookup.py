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
Torch-free.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from cachekey_cli.cache_hits import baked as baked_mod
from cachekey_cli.cache_hits.records import CacheCheck, CurrentPiece, PieceCache, model_id
from cachekey_cli.errors import InputError
from cachekey_cli.vllm import releases
from cachekey_cli.vllm.identity import code_check
from cachekey_cli.vllm.identity.code_check import ModelCode
from cachekey_cli.vllm.identity.code_factor import code_hash
from cachekey_cli.vllm.records import Artifact, Deployment, IndexEntry, PrefixFolder
from cachekey_cli.vllm.warm_start import aot_load, fallback, folder_choice, reuse
from cachekey_cli.vllm.warm_start.aot_load import DAMAGED

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
            validate(folder)
        # the warm start loads the AOT-compiled model first, whichever folder was named
        models = tree.enclosing_aot_models(dep)
        if models is not None:
            notes = tuple(n for n in dep.notes if n != tree.AOT_HINT)
            dep = dataclasses.replace(dep, aot_models=models, notes=notes)
    return dep


def validate(folder: PrefixFolder) -> None:
    """InputError for what vLLM could not read back: the index, or an artifact's header."""
    for note in folder.notes:
        if note.startswith("vllm_compile_cache.py"):
            raise InputError(f"index {folder.path}/{note}", DAMAGED)
    for artifact in folder.artifacts:
        if artifact.problem:
            raise InputError(f"artifact {folder.path}/{artifact.name}: {artifact.problem}",
                             DAMAGED)


class _Keys:
    """How a piece's own key is known: exactly, from a baked snapshot, or not at all."""

    def __init__(self, exact: bool, baked: baked_mod.Baked | None) -> None:
        self.exact = exact
        self.baked = baked if baked is not None and baked.result is not None else None

    def compare(self, p: CurrentPiece, stored: Sequence[str], where: str
                ) -> tuple[str, str, tuple[str, ...]]:
        """(word, reason, unchecked) for a piece whose artifact vLLM would load."""
        shown = ", ".join(f"{k[:12]}…" for k in stored) or "no key"
        if self.exact:
            if p.aot_key is not None and p.aot_key in stored:
                return "hit", f"vLLM loads {where}, filed under this piece's AOT key", ()
            return "stale", (f"vLLM loads {where}, filed under {shown}, not under this piece's "
                             f"AOT key {(p.aot_key or '(none)')[:12]}…"), ()
        if self.baked is not None:
            found, then = baked_mod.stored_key(self.baked, p.id)
            if found and then == p.aot_key:
                return "hit", (f"vLLM loads {where}; this piece's keys equal the ones the "
                               "snapshot baked into the cache recorded"), ()
            what = "is not in" if not found else "moved since"
            return "stale", (f"vLLM loads {where}, but this piece {what} the snapshot baked "
                             "into the cache: the artifact was compiled for another graph"), ()
        return "hit", f"vLLM loads {where}", (
            f"key: the artifact's AOT key ({shown}) was not compared with this piece's, which "
            "is not vLLM's exact key here, and the cache holds no snapshot to compare with",)


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
    keys = _Keys(exact, baked)
    notes: list[str] = []
    if not exact:
        notes.append(NOT_EXACT + ("; hit and stale are told apart with the snapshot baked into "
                                  "the cache" if keys.baked else "; the folder, the index and "
                                  "the torch build key are still checked"))
    release, assumed = _release(info, dep)
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
        pieces, more, lines = _all(now, "miss", opted_out), [], ()
    elif m.mega:
        aot = aot_load.load(dep, code, m, expected_aot, analysis.environment.torch, rank)
        pieces, more, lines = _mega(dep, now, keys, aot)
    else:
        aot = aot_load.load(dep, code, m, expected_aot, analysis.environment.torch, rank)
        pieces, more, lines = _per_piece(dep, now, code, keys, m, expected_folder, torch_key,
                                         facts, aot, info, analysis.environment.torch)
    # repeats of a piece this start already loaded or compiled come from memory
    pieces, reuse_notes = reuse.in_memory(
        pieces, now, loads_pieces=not (m.mega and aot.model is not None), exact=exact)
    more = list(more) + list(reuse_notes)
    # the AOT-compile folder this start uses: vLLM's own name for it, else the model it found
    # when that one is this start's (it loads, or its source check fails); an env or torch
    # change names a new folder, whose Inductor cache starts empty
    own = aot.found is not None and (aot.model is not None or bool(aot.changed))
    folder = expected_aot or (aot.found.hash if own and aot.found else None)
    pieces, fallback_notes = fallback.second_level(
        pieces, now, dep, m.aot, m.mega, folder, assumed=expected_aot is None)
    more = list(more) + list(fallback_notes)
    return CacheCheck(model=model_id(analysis),
                      profile="vllm", path=dep.path, kind=dep.kind, pieces=tuple(pieces),
                      facts=tuple(facts), notes=tuple(notes + more), folder=lines)


def _release(info: Any, dep: Deployment) -> tuple[str, str | None]:
    """The header's vLLM line, and a caveat when its rules are assumed: the installed vLLM
    where the profile called it, else the newest release that writes the cache's layout."""
    version = info.vllm_version if info is not None else None
    if version:
        resolved = releases.resolve(version)
        return (f"{version} (importable; warm-start rules checked on {releases.CHECKED})",
                resolved.assumed)
    layouts = {f.factors.layout for f in dep.folders}
    if len(layouts) == 1:
        (layout,) = layouts
        writers = [r.version for r in releases.RELEASES if r.layout == layout]
        return (f"not importable: the cache's factors file is vLLM {' or '.join(writers)}'s; "
                f"vLLM {writers[-1]}'s warm start assumed"), None
    return (f"not importable: vLLM {releases.NEWEST.version}'s warm start assumed (checked on "
            f"{releases.CHECKED})"), None


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


def _all(now: Sequence[CurrentPiece], word: str, reason: str, place: str = ""
         ) -> list[PieceCache]:
    return [PieceCache(p.id, word, (reason,), keys={"aot_key": p.aot_key}, place=place)
            for p in now]


Outcome = tuple[list[PieceCache], list[str], tuple[str, ...]]  # pieces, notes, folder lines


def _mega(dep: Deployment, now: Sequence[CurrentPiece], keys: _Keys, aot: aot_load.AotLoad
          ) -> Outcome:
    if not dep.aot_models and dep.kind not in ("cache root", "torch_compile_cache"):
        raise InputError(
            f"{dep.path} is a vLLM {dep.kind}; in the mode in force (mega AOT artifact) a warm "
            "start reads only torch_compile_cache/torch_aot_compile/…/model, which is not "
            "under it",
            "pass the cache root (VLLM_CACHE_ROOT) or its torch_compile_cache")
    model = aot.model
    if model is None:
        lines = tuple(f"traced module {c}: its source differs from the AOT-compiled model's "
                      "record" for c in aot.changed)
        reason = aot.why if aot.changed else f"{aot.why}: vLLM compiles from scratch"
        return _all(now, "miss", reason, aot.place), list(aot.notes), lines
    out = []
    for p in now:
        word, reason, unchecked = keys.compare(p, model.aot_keys, "the AOT-compiled model")
        if word == "stale" and keys.exact:
            reason += " (the model holds no artifact under this piece's key)"
        out.append(PieceCache(p.id, word, (reason,), unchecked, keys={"aot_key": p.aot_key},
                              stored={"aot_keys": ", ".join(model.aot_keys)}, place=aot.place))
    return out, list(aot.notes), ()


def _per_piece(dep: Deployment, now: Sequence[CurrentPiece], code: ModelCode, keys: _Keys,
               m: folder_choice.Mode, expected: str | None, torch_key: str,
               facts: list[tuple[str, str]], aot: aot_load.AotLoad, info: Any,
               torch_version: str) -> Outcome:
    folder_factors = info.folder_factors if info else None
    code, warm_notes = aot_load.warm_code(aot, code)
    if warm_notes and expected is not None and folder_factors:
        f = folder_factors  # vLLM's own factors, with the code factor of this warm start
        release = releases.resolve(info.vllm_version).release
        # a raw-factor release's name needs its raw config factors, which the profile does
        # not keep: the folder is then chosen by the factors each folder recorded
        expected = None if release.layout == releases.RAW else releases.folder_from_hashes(
            f["env_hash"], f["config_hash"], code.code_hash, f["compiler_hash"])
    choice = folder_choice.choose(dep, code, m, expected, folder_factors,
                                  getattr(info, "raw_factors", None),
                                  getattr(info, "vllm_version", None))
    notes = list(aot.notes) + list(warm_notes) + list(choice.notes)
    old_graph = {p.id: _old_graph(p, aot, keys) for p in now} if aot.model else {}
    folder = choice.folder
    if folder is not None:
        picks = "this deployment's" if choice.picks else "not the one this deployment uses"
        facts.append(("folder", f"{folder.hash} ({picks})"))
    # a failed source check comes first: it is why the warm start traces and compiles again
    lead = f"{aot.why}; " if aot.model is None and aot.changed else ""
    if folder is None or not choice.picks:
        target = choice.expected or "another folder"
        reason = (f"{lead}this deployment files its pieces under {target}, which "
                  f"{'PATH does not hold' if folder is None else 'is not this folder'}: "
                  "vLLM compiles every piece")
        return [old_graph.get(p.id) or _all([p], "miss", reason)[0] for p in now], notes, \
            choice.lines
    index = _index(folder)
    held = {e.compile_range for e in index if e.compile_range}
    rng = _range(info.compile_range if info else None) or max(
        held or {(0, 0)}, key=lambda r: (r[1] - r[0], r))
    if rng not in held:
        reason = lead + (f"the index holds no entry for compile range {rng} (it holds "
                  f"{', '.join(map(str, sorted(held)))}): vLLM compiles every piece" if held else
                  f"{folder.hash}/{folder.where} has no index (vllm_compile_cache.py): vLLM finds "
                  "no piece there")
        return [old_graph.get(p.id) or _all([p], "miss", reason)[0] for p in now], notes, ()
    if len(held) > 1:
        notes.append(f"the index holds several compile ranges; the general range {rng} is "
                     "checked (single sizes are not)")
    by_position = {e.graph_index: e for e in index if e.compile_range == rng}
    artifacts = {a.name: a for a in folder.artifacts}
    builds = (_builds(dep), f" (torch {torch_version})" if torch_version else "")
    out = [old_graph.get(p.id) or _piece(p, by_position.get(p.position), rng, artifacts,
                                         torch_key, builds, keys) for p in now]
    return out, notes, ()


def _old_graph(p: CurrentPiece, aot: aot_load.AotLoad, keys: _Keys) -> PieceCache | None:
    """A stale piece of the loaded AOT-compiled model's graph; None when it is this piece."""
    model = aot.model
    if model is None or not model.aot_keys:
        return None
    word, _, _ = keys.compare(p, model.aot_keys, "the AOT-compiled model")
    if word != "stale":
        return None
    return PieceCache(p.id, "stale", (
        "vLLM loads the AOT-compiled model, whose graph is not this model's: it runs the old "
        "graph's piece here (loaded from the folder, or compiled again where the folder lacks "
        "it), and this piece's own key is not among the model's "
        f"({', '.join(k[:12] + '…' for k in model.aot_keys)})",), keys={"aot_key": p.aot_key},
        stored={"aot_keys": ", ".join(model.aot_keys)}, place=aot.place)


def _range(text: str | None) -> tuple[int, int] | None:
    """The profile's compile range, e.g. "[1, 2048]"; None when it names no numbers."""
    import re

    m = re.fullmatch(r"\[\s*(\d+)\s*,\s*(\d+)\s*\]", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def _index(folder: PrefixFolder) -> tuple[IndexEntry, ...]:
    """The folder's index entries of vLLM's standalone compiler (none: no index file)."""
    validate(folder)
    compiler = "inductor_standalone"
    return tuple(e for e in folder.index if e.compiler == compiler)


def _builds(dep: Deployment) -> str:
    versions = sorted({x.system.get("torch", "") for x in dep.aot_models} - {""})
    return f" (torch {', '.join(versions)}, as the AOT-compiled model records)" if versions else ""


# vLLM 0.33.0's CompilerManager.load calls the adaptor's load outside its try (backends.py)
STOPS = ("vLLM stops with that error instead of compiling the piece again (remove the folder, "
         "or the index entry, to let it compile)")


def _piece(p: CurrentPiece, entry: IndexEntry | None, rng: tuple[int, int],
           artifacts: dict[str, Artifact], torch_key: str, builds: tuple[str, str],
           keys: _Keys) -> PieceCache:
    place = f"index ({rng[0]}, {rng[1]}) #{p.position}"
    mine = {"aot_key": p.aot_key}
    if entry is None:
        return PieceCache(p.id, "miss", (f"no index entry for piece #{p.position} in range "
                                         f"{rng}: this piece's AOT key is absent from the "
                                         "folder",), keys=mine, place=place)
    artifact = artifacts.get(entry.handle or "")
    stored = {"index_cache_key": entry.aot_key, "artifact": entry.handle}
    if artifact is None:
        return PieceCache(p.id, "miss", (f"the index names {entry.handle}, which is not in the "
                                         f"folder: {STOPS}",), keys=mine,
                          stored=stored, place=place)
    stored["artifact_aot_key"] = artifact.aot_key
    stored["artifact_torch_key"] = artifact.torch_key
    if artifact.torch_key and artifact.torch_key != torch_key:
        return PieceCache(p.id, "miss", (
            f"built by another torch: {artifact.name} carries build key "
            f"{artifact.torch_key[:8]}…{builds[0]}, this torch's is {torch_key[:8]}…{builds[1]}; "
            f"torch's CompiledArtifact.load refuses it (torch_key mismatch): {STOPS}",),
            keys=mine, stored=stored, place=place)
    held = [k for k in (artifact.aot_key,) if k]
    word, reason, unchecked = keys.compare(p, held, f"{artifact.name}")
    reasons = [reason]
    if entry.aot_key and artifact.aot_key and entry.aot_key != artifact.aot_key:
        reasons.append(f"the index records {entry.aot_key[:12]}… for it, its header "
                       f"{artifact.aot_key[:12]}… (vLLM serves the header's)")
    return PieceCache(p.id, word, tuple(reasons), unchecked, keys=mine, stored=stored,
                      place=place)
