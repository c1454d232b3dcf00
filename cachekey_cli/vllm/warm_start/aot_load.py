"""The AOT-compiled model a vLLM 0.33.0 warm start loads, and what loading it implies.

With ``VLLM_USE_AOT_COMPILE=1`` (vllm/compilation/decorators.py) vLLM first looks
for ``torch_aot_compile/<hash>/rank_<r>_<dp>/model``, whose name covers the env,
config and (mega mode) compiler factors and the forward's position, not the code.
It loads it when the sources it recorded still match the files
(``_verify_source_unchanged``), and then:

- it runs the **recorded graph**, not a fresh trace of the model: a change Dynamo
  never traced (a constant read in ``__init__``, a dtype set from a config file)
  leaves the model loading while its pieces are the old ones. A piece whose own
  key the model's graph does not give is ``stale``, whether vLLM then finds its
  artifact or compiles the old piece again;
- it hashes into the folder's code factor the files of the **modules the model
  recorded**, not a fresh trace's files (see ``warm_code``).

Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachekey_cli.analysis.traced import DYNAMIC_CODE
from cachekey_cli.errors import InputError
from cachekey_cli.vllm.identity import code_check
from cachekey_cli.vllm.identity.code_check import ModelCode
from cachekey_cli.vllm.identity.code_factor import code_hash
from cachekey_cli.vllm.records import AotModel, Deployment
from cachekey_cli.vllm.warm_start import folder_choice

DAMAGED = "the cache is damaged: delete the folder (vLLM compiles again) or bake it again"


@dataclass(frozen=True)
class AotLoad:
    """What the warm start does with ``torch_aot_compile``."""

    model: AotModel | None  # the model vLLM loads; None: Dynamo traces the model again
    found: AotModel | None = None  # the model looked at, loaded or not
    why: str = ""  # why it does not load
    changed: tuple[str, ...] = ()  # traced modules whose source differs (the source check)
    notes: tuple[str, ...] = ()

    @property
    def place(self) -> str:
        m = self.found
        return f"torch_aot_compile/{m.hash[:12]}…/{m.rank}/model" if m else ""


def load(dep: Deployment, code: ModelCode, m: folder_choice.Mode, expected: str | None,
         torch_version: str, rank: str = folder_choice.RANK) -> AotLoad:
    """Which AOT-compiled model this warm start (of ``rank``'s folder) loads, or why none."""
    if not m.aot:
        return AotLoad(None, why="VLLM_USE_AOT_COMPILE=0: there is no AOT-compiled model")
    models = [x for x in dep.aot_models if x.rank == rank]
    model, notes = pick_model(models, code, expected)
    if model is None:
        where = f"torch_aot_compile/{expected[:12]}…" if expected else "an AOT-compiled model"
        return AotLoad(None, why=f"the cache has no {where} for {rank}",
                       notes=notes)
    if model.problem:
        raise InputError(f"AOT-compiled model {model.path} {model.problem}", DAMAGED)
    built = model.system.get("torch")
    if built and built != torch_version:
        return AotLoad(None, model, f"built by torch {built}, this is torch {torch_version}: "
                       "the AOT-compile folder's name covers the torch build", notes=notes)
    record = next((f for f in dep.folders if f.rank in (rank, None)), None)
    if expected is None and record is not None:
        moved = [v for v, _, _ in folder_choice.env_changes(record)]
        moved += [v for v, x in m.recorded(record).items() if x != m.wanted()[v]]
        if moved:
            return AotLoad(None, model, f"{', '.join(moved)} differ from the cache's record, and "
                           "the AOT-compile folder's name covers the env", notes=notes)
    changed = source_changes(model, code)
    if changed:
        return AotLoad(None, model, f"the AOT-compiled model's source check fails "
                       f"({', '.join(changed)} changed): vLLM compiles again and overwrites it",
                       changed, notes)
    return AotLoad(model, model, notes=notes)


def source_changes(model: AotModel, code: ModelCode) -> tuple[str, ...]:
    """The traced modules whose source differs from the AOT-compiled model's record of them.

    vLLM checks them on load (``_verify_source_unchanged``) and compiles again when
    one differs. A recorded module this trace did not reach is not compared. vLLM
    finds each module's file through the warm start's ``sys.modules``; a recorded
    ``__main__`` is the script it runs, taken to be the model file (``code.main``).
    """
    recorded = {s.module: s.sha256 for s in model.sources}
    out = []
    for f in code.files:
        module = code_check.module_for(f.path, recorded, code.main)
        if module is not None and recorded[module] != f.sha256:
            out.append(module)
    return tuple(sorted(set(out)))


def pick_model(models: Sequence[AotModel], code: ModelCode, expected: str | None
               ) -> tuple[AotModel | None, tuple[str, ...]]:
    """The AOT-compiled model this deployment looks for, and notes on how it was picked."""
    if expected is not None:
        return next((x for x in models if x.hash == expected), None), ()
    if not models:
        return None, ()
    unchanged = [x for x in models if not source_changes(x, code)]
    chosen: Any = (unchanged or list(models))[0]
    note = (f"the AOT-compile folder's name was not computed with vLLM's factor functions (it "
            f"covers the env, config and compiler factors and the forward's position): "
            f"{chosen.hash[:12]}… is taken as the one this deployment loads")
    return chosen, (note,)


def warm_code(aot: AotLoad, code: ModelCode) -> tuple[ModelCode, tuple[str, ...]]:
    """The code factor vLLM hashes into the folder name on this warm start.

    When the AOT-compiled model loads, the traced files are the files of the
    modules it recorded, not a fresh trace's. The two differ when a fresh trace
    also passes through code without a module file (e.g. ``<frozen
    _collections_abc>``), whose name vLLM hashes on a cold start: then the warm
    start files its pieces under another folder than the cold start did
    (measured with a small HF Llama).
    """
    model = aot.model
    if model is None or not model.sources:
        return code, ()
    recorded = {s.module: s.sha256 for s in model.sources}
    files = tuple(f for f in code.files
                  if code_check.module_for(f.path, recorded, code.main) is not None)
    dropped = sorted({f.path for f in code.files} - {f.path for f in files} - {DYNAMIC_CODE})
    notes: tuple[str, ...] = ()
    if code_check.MAIN in recorded and not any(
            code_check.module_for(f.path, recorded, code.main) == code_check.MAIN
            for f in code.files):
        notes = (f"the AOT-compiled model recorded a module __main__ (the model was defined in a "
                 f"script started with python), which vLLM reads from the script the warm start "
                 f"runs; {code.model} is not a model file that could be that script, so its "
                 f"source and path were not checked",)
    if not dropped:  # the same files (vLLM leaves "<string>" out of the hash anyway)
        return code, notes
    warm = ModelCode(code.model, files, code_hash(f.path for f in files), code.main)
    return warm, notes + (
        f"the AOT-compiled model loads first, so vLLM hashes the files of the modules it "
        f"recorded, not {', '.join(dropped)} (which a fresh trace also passes through): "
        f"code hash {code.code_hash[:12]} → {warm.code_hash[:12]}",)
