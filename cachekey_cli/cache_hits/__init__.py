"""Will my cache hit? Every compiled piece against a real compile cache: hit, miss or stale.

``cachekey check MODEL --cache PATH``. Torch-free except ``current`` (the
model's pieces and input sizes, through torchapi). A module per stage:

- ``inductor_dir`` reads a ``TORCHINDUCTOR_CACHE_DIR`` (key folders, entries'
  guards), the entries through ``cachekey_cli.pickled``, which reads a
  pickle's structure with ``pickletools``;
- ``guards`` evaluates a guard expression without running it;
- ``inductor`` predicts ``torch.compile``'s lookups and counters;
- ``cachekey_cli/vllm/warm_start/`` mirrors vLLM's warm start on a vLLM cache
  (the folder, the index and artifacts, or the AOT-compiled model), on top of
  these records, ``baked`` and ``inductor``;
- ``baked`` finds and compares a snapshot baked into the cache;
- ``records`` holds the frozen results.

Nothing read from a cache is executed or unpickled: keys come from folder
names and binary headers, guards and FX keys from pickle opcodes, the index
from ``ast.literal_eval``.
"""

from __future__ import annotations

from typing import Any

from cachekey_cli.cache_hits import baked as baked_mod
from cachekey_cli.cache_hits.records import CacheCheck, PieceCache, model_id
from cachekey_cli.wording import plural

SNAPSHOT_NAME = baked_mod.FILE_NAME

__all__ = ["SNAPSHOT_NAME", "CacheCheck", "PieceCache", "check", "find_snapshot", "read"]


def read(profile: str, path: str) -> Any:
    """What PATH holds, read before any tracing: InputError (exit 3) when it is no cache."""
    if profile == "torch-compile":
        from cachekey_cli.cache_hits import inductor_dir

        return inductor_dir.read(path)
    from cachekey_cli.vllm import warm_start

    return warm_start.read(path)


def find_snapshot(profile: str, path: str, cache: Any) -> str | None:
    """The snapshot baked into the cache ``read`` found at PATH: in PATH, or for a folder
    inside a vLLM cache, in a folder above it up to the cache root."""
    if profile == "torch-compile":
        return baked_mod.find(path)
    return baked_mod.find(path, baked_mod.LEVELS_BELOW_ROOT.get(cache.kind, 0))


def check(run: Any, path: str, cache: Any, baked: baked_mod.Baked | None) -> CacheCheck:
    """Every compiled piece of ``run`` (a pipeline Run) against ``cache`` (from ``read``)."""
    from dataclasses import replace

    from cachekey_cli.cache_hits import current

    analysis = run.analysis
    now = current.pieces(run)
    profile = analysis.profile.name if analysis.profile else "vllm"
    if profile == "torch-compile":
        result = _inductor(analysis, path, cache, now)
    else:
        from cachekey_cli.vllm import warm_start

        result = warm_start.check(analysis, cache, now, baked,
                                  code=warm_start.model_code(analysis),
                                  torch_key=current.torch_build_key())
    if baked is not None:
        pieces = tuple(
            p if p.cache == "hit" else replace(p, findings=baked_mod.findings(baked, p.id))
            for p in result.pieces
        )
        notes = result.notes + ((baked.note,) if baked.note else ())
        context = baked.result.context if baked.result is not None else ()
        result = replace(result, pieces=pieces, snapshot=baked.path, notes=notes,
                         context=context)
    return result


def _inductor(analysis: Any, path: str, cache: Any, now: Any) -> CacheCheck:
    from cachekey_cli.cache_hits import inductor, inductor_dir

    bundled = analysis.config_overrides.get("functorch.bundled_autograd_cache") == "True"
    pieces = inductor.predict(cache, now, inductor_dir.folder, bundled=bundled)
    facts = (
        ("cache", f"Inductor cache {path}"),
        ("holds", f"{plural(len(cache.aot_keys), 'AOTAutograd key')}, "
                  f"{plural(len(cache.fx_keys), 'FX-graph key')}"),
        ("current", f"torch {analysis.environment.torch}, {plural(len(now), 'Dynamo graph')}"),
    )
    return CacheCheck(model=model_id(analysis), profile="torch-compile", path=path,
                      kind="Inductor cache", pieces=pieces, facts=facts)

