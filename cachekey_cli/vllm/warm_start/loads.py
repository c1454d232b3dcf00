"""What vLLM's warm start loads for each piece, and whether it is the piece's own.

``lookup.check`` decides the mode and the folder; here each piece meets what
vLLM would load for it: the AOT-compiled model that holds every piece
(``mega``, the default mode), or, in the per-piece modes, the hash folder's
index looked up by position and the artifact it names (``per_piece``). A
loaded artifact is ``hit`` or ``stale`` by the piece's own key, known exactly
or from a snapshot baked into the cache (``Keys``). Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cachekey_cli.cache_hits import baked as baked_mod
from cachekey_cli.cache_hits.records import CurrentPiece, PieceCache
from cachekey_cli.errors import InputError
from cachekey_cli.vllm import releases
from cachekey_cli.vllm.identity.code_check import ModelCode
from cachekey_cli.vllm.records import Artifact, Deployment, IndexEntry, PrefixFolder
from cachekey_cli.vllm.warm_start import aot_load, folder_choice
from cachekey_cli.vllm.warm_start.aot_load import DAMAGED


class Keys:
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


def validate(folder: PrefixFolder) -> None:
    """InputError for what vLLM could not read back: the index, or an artifact's header."""
    for note in folder.notes:
        if note.startswith("vllm_compile_cache.py"):
            raise InputError(f"index {folder.path}/{note}", DAMAGED)
    for artifact in folder.artifacts:
        if artifact.problem:
            raise InputError(f"artifact {folder.path}/{artifact.name}: {artifact.problem}",
                             DAMAGED)


def every(now: Sequence[CurrentPiece], word: str, reason: str, place: str = ""
         ) -> list[PieceCache]:
    return [PieceCache(p.id, word, (reason,), keys={"aot_key": p.aot_key}, place=place)
            for p in now]


Outcome = tuple[list[PieceCache], list[str], tuple[str, ...]]  # pieces, notes, folder lines


def mega(dep: Deployment, now: Sequence[CurrentPiece], keys: Keys, aot: aot_load.AotLoad
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
        return every(now, "miss", reason, aot.place), list(aot.notes), lines
    out = []
    for p in now:
        word, reason, unchecked = keys.compare(p, model.aot_keys, "the AOT-compiled model")
        if word == "stale" and keys.exact:
            reason += " (the model holds no artifact under this piece's key)"
        out.append(PieceCache(p.id, word, (reason,), unchecked, keys={"aot_key": p.aot_key},
                              stored={"aot_keys": ", ".join(model.aot_keys)}, place=aot.place))
    return out, list(aot.notes), ()


def per_piece(dep: Deployment, now: Sequence[CurrentPiece], code: ModelCode, keys: Keys,
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
        return [old_graph.get(p.id) or every([p], "miss", reason)[0] for p in now], notes, \
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
        return [old_graph.get(p.id) or every([p], "miss", reason)[0] for p in now], notes, ()
    if len(held) > 1:
        notes.append(f"the index holds several compile ranges; the general range {rng} is "
                     "checked (single sizes are not)")
    by_position = {e.graph_index: e for e in index if e.compile_range == rng}
    artifacts = {a.name: a for a in folder.artifacts}
    builds = (_builds(dep), f" (torch {torch_version})" if torch_version else "")
    out = [old_graph.get(p.id) or _piece(p, by_position.get(p.position), rng, artifacts,
                                         torch_key, builds, keys) for p in now]
    return out, notes, ()


def _old_graph(p: CurrentPiece, aot: aot_load.AotLoad, keys: Keys) -> PieceCache | None:
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
           keys: Keys) -> PieceCache:
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
