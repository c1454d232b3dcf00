"""What a deployment of B does with A's cache, given what differs and B's cache mode.

vLLM 0.33.0 with ``VLLM_USE_AOT_COMPILE=1`` (the default) first looks for
``torch_aot_compile/<hash>/rank_<r>_<dp>/model``, whose name covers the env,
config and (mega mode) Inductor factors and the forward's name and first line,
not the code; it loads it if the recorded sources still match the files by
content (vllm/compilation/decorators.py, ``_try_load_aot_compiled_fn``). In
mega mode (``VLLM_USE_MEGA_AOT_ARTIFACT=1``, the default) that model holds
every piece, and the hash folder is not read. Otherwise the pieces are looked up
in the hash folder. Checked with real vLLM on the fixture model: the same
sources at another path loaded directly in mega mode, and compiled the pieces
again (into a new hash folder) with ``VLLM_USE_MEGA_AOT_ARTIFACT=0``; an edited
traced file failed the source check and compiled again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cachekey_cli.vllm.cache_diff.compare import AotDiff, FolderDiff, VllmCacheDiff


@dataclass(frozen=True)
class WarmStart:
    kind: str  # reuses | loads-aot | recompiles-pieces | source-check-fails | recompiles
    text: str


def _on(env: Any, name: str) -> bool:
    value = env.get(name, True)
    return value not in (False, 0, "0", "false", "False", None)


def predict(r: VllmCacheDiff) -> WarmStart:
    if not r.differs:
        return WarmStart("reuses", "Nothing differs: a deployment of B reuses A's cache.")
    if not r.folders:
        return WarmStart("recompiles", "The caches differ.")
    f = r.folders[0]
    env = f.b.factors.env
    aot_mode, mega = _on(env, "VLLM_USE_AOT_COMPILE"), _on(env, "VLLM_USE_MEGA_AOT_ARTIFACT")
    pair = next((d for d in r.aot if d.b.rank == (f.b.rank or d.b.rank)), None)
    if aot_mode and pair is not None:
        return _with_aot(f, pair, mega)
    if aot_mode and f.folder_differs:
        return WarmStart("recompiles", (
            f"B files its pieces under {f.b.hash or f.b.factors.folder_hash}, not "
            f"{f.a.hash or f.a.factors.folder_hash}. Whether B still loads an AOT-compiled "
            "model depends on torch_aot_compile/: compare the cache roots to see."))
    if f.folder_differs:
        return WarmStart("recompiles", (
            f"B looks for its pieces under {f.b.hash or f.b.factors.folder_hash}, which A does "
            "not have: B compiles from scratch."))
    return WarmStart("recompiles", "The folders keep their names, but what they hold differs.")


def _with_aot(f: FolderDiff, pair: AotDiff, mega: bool) -> WarmStart:
    if pair.a.hash != pair.b.hash:
        return WarmStart("recompiles", (
            f"B looks for torch_aot_compile/{pair.b.hash[:12]}…, which A does not have (its "
            "name covers the env, config and compiler factors and the forward's position): B "
            "compiles from scratch."))
    if pair.sources:
        names = ", ".join(c.name for c in pair.sources)
        return WarmStart("source-check-fails", (
            f"B finds A's AOT-compiled model, but its source check fails ({names} changed): "
            "vLLM compiles again and overwrites it."))
    if mega:
        return WarmStart("loads-aot", (
            "B loads A's AOT-compiled model directly (same torch_aot_compile folder, same "
            "traced sources). In this mode (mega AOT artifact) a warm start does not read "
            "the hash folder, so its different name costs nothing."))
    if f.folder_differs:
        return WarmStart("recompiles-pieces", (
            "B loads A's AOT-compiled model, then compiles its pieces again into its own hash "
            f"folder {f.b.hash or f.b.factors.folder_hash} (A's artifacts are under "
            f"{f.a.hash or f.a.factors.folder_hash})."))
    return WarmStart("recompiles", "The folders keep their names, but what they hold differs.")
