"""The known ways a baked vLLM cache misses, recognised in a diff, in plain words with a fix.

- a path-valued env variable in the env factors (vLLM 0.33.0 still hashes e.g.
  ``CUDA_HOME``, ``VLLM_NCCL_SO_PATH``, ``VLLM_LORA_RESOLVER_CACHE_DIR``; its
  envs.py drops ``VLLM_CACHE_ROOT``, ``VLLM_CONFIG_ROOT`` and others because
  "relocating HOME or the XDG roots silently invalidates every compile cache");
- a per-engine variable (rank, port, host, bundle indices) that differs between
  replicas by design (``VLLM_RAY_BUNDLE_INDICES`` was hashed by older vLLM);
- a cache-mode switch (``VLLM_USE_AOT_COMPILE``, ``VLLM_USE_MEGA_AOT_ARTIFACT``…),
  which also moves the compiler hash;
- the code hash covering absolute paths: the same sources at another path miss;
- a torch or triton upgrade (or any change in Inductor's system info) in the
  compiler factor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from cachekey_cli.vllm.cache_diff.compare import ABSENT, EnvChange, VllmCacheDiff

PATH_VARS = frozenset({
    "CUDA_HOME", "VLLM_CACHE_ROOT", "VLLM_CONFIG_ROOT", "VLLM_CUDART_SO_PATH",
    "VLLM_CUDA_COMPATIBILITY_PATH", "VLLM_DEBUG_DUMP_PATH", "VLLM_FLASHINFER_AUTOTUNE_CACHE_DIR",
    "VLLM_LOGGING_CONFIG_PATH", "VLLM_LORA_RESOLVER_CACHE_DIR", "VLLM_MODEL_REDIRECT_PATH",
    "VLLM_NCCL_INCLUDE_PATH", "VLLM_NCCL_SO_PATH", "VLLM_RPC_BASE_PATH", "VLLM_RUST_FRONTEND_PATH",
    "VLLM_XLA_CACHE_PATH", "LD_LIBRARY_PATH",
})
PER_ENGINE = re.compile(r"(RANK|PORT|_HOST$|_IP$|_IPS$|INDICES|START_DATE|MASTER)")
MODE_VARS = frozenset({
    "VLLM_USE_AOT_COMPILE", "VLLM_USE_MEGA_AOT_ARTIFACT", "VLLM_USE_STANDALONE_COMPILE",
    "VLLM_COMPILE_CACHE_SAVE_FORMAT", "VLLM_DISABLE_COMPILE_CACHE",
})


GENERIC_COMPILER = (
    "the compiler hash covers torch's version and source key, triton, the CUDA/ROCm toolkit "
    "and GPU, and the Inductor and functorch config; any of them moving (most often a torch or "
    "triton upgrade) gives a new folder"
)


@dataclass(frozen=True)
class Pitfall:
    kind: str  # path-env | per-engine-env | cache-mode | code-paths | compiler
    title: str
    detail: str
    fix: str


def find(diff: VllmCacheDiff) -> VllmCacheDiff:
    """The diff with its pitfalls filled in, each kind once."""
    found: dict[str, Pitfall] = {}
    for folder in diff.folders:
        for change in folder.env:
            pitfall = _env_pitfall(change)
            if pitfall and pitfall.kind not in found:
                found[pitfall.kind] = pitfall
            elif pitfall:
                old = found[pitfall.kind]
                found[pitfall.kind] = replace(old, detail=f"{old.detail}; {pitfall.detail}")
        code = folder.factor("code")
        if code is not None and "code-paths" not in found:
            evidence = _same_code_elsewhere(diff, folder.where, code.details)
            if evidence:
                found["code-paths"] = Pitfall(
                    "code-paths", "the code hash covers absolute paths",
                    f"{evidence}, yet the code hash differs: vLLM 0.33.0 hashes the absolute "
                    "path of every traced file (yours and torch's own, e.g. "
                    "torch/nn/modules/linear.py), so a checkout or venv at another path gets "
                    "another hash folder. With the default mega AOT artifact a warm start still "
                    "loads the AOT-compiled model (its sources are checked by content); with "
                    "VLLM_USE_MEGA_AOT_ARTIFACT=0 or VLLM_USE_AOT_COMPILE=0 the pieces compile "
                    "again",
                    "build the cache and serve from the same absolute paths (same venv "
                    "location, same WORKDIR/checkout path), or keep the default mega mode",
                )
        if folder.factor("compiler") is not None and "compiler" not in found:
            found["compiler"] = _compiler(diff, folder.torch_keys)
    mode, compiler = found.get("cache-mode"), found.get("compiler")
    if mode and compiler and compiler.detail == GENERIC_COMPILER:
        # the mode switch is the visible cause: say so once, under the mode pitfall
        found["cache-mode"] = replace(mode, detail=f"{mode.detail}; here the compiler hash "
                                      "moved with it, and no torch or triton change is recorded")
        del found["compiler"]
    return replace(diff, pitfalls=tuple(found.values()))


def _env_pitfall(change: EnvChange) -> Pitfall | None:
    name = change.name
    values = [v for v in (change.before, change.after) if v is not ABSENT]
    if name in MODE_VARS:
        return Pitfall(
            "cache-mode", "a cache-mode switch differs",
            f"{name} differs; it selects how vLLM caches (and moves the compiler hash too)",
            "use the same VLLM_USE_AOT_COMPILE / VLLM_USE_MEGA_AOT_ARTIFACT settings when "
            "baking the cache and when serving",
        )
    if PER_ENGINE.search(name):
        return Pitfall(
            "per-engine-env", "a per-engine variable is in the key",
            f"{name} is set per engine or replica (a rank, port, host or placement), so each "
            "one gets its own folder",
            f"compare the same engine's folders; if it should not key the cache, leave {name} "
            "unset when baking, or ask vLLM to ignore it in envs.compile_factors",
        )
    if name in PATH_VARS or any(_looks_like_path(v) for v in values):
        return Pitfall(
            "path-env", "a path-valued env variable is in the key",
            f"{name} is a location, hashed as text: the same files at another path give "
            "another folder",
            f"set {name} to the same path when baking the cache and when serving (or leave it "
            "unset in both); newer vLLM drops more location-only variables from the key",
        )
    return None


def _looks_like_path(value: Any) -> bool:
    if not isinstance(value, str) or not value or " " in value:
        return False
    return value.startswith(("/", "~", "./", "../")) or bool(re.match(r"^[A-Za-z]:[\\/]", value))


def _same_code_elsewhere(diff: VllmCacheDiff, where: str, details: tuple[Any, ...]) -> str:
    """Evidence that only paths moved: equal traced sources, or a moved forward file."""
    for aot in diff.aot:
        if aot.a.sources and aot.b.sources and not aot.sources:
            moved = next((c for c in aot.forward if c.name == "file"), None)
            tail = f" (the model's file moved: {moved.before} → {moved.after})" if moved else ""
            return f"the traced modules have the same content in both AOT models{tail}"
    for folder in diff.folders:
        code_a, code_b = folder.a.factors.code, folder.b.factors.code
        if folder.where == where and code_a is not None and code_b is not None:
            if sorted(e.hash or "" for e in code_a) == sorted(e.hash or "" for e in code_b):
                return "every traced file has the same content hash on both sides"
    return ""


def _compiler(diff: VllmCacheDiff, torch_keys: tuple[str, str] | None) -> Pitfall:
    moved = [c for d in diff.aot for c in d.system]
    if moved:
        what = ", ".join(f"{c.name} {c.before} → {c.after}" for c in moved)
        detail = f"the compiler factor covers Inductor's system info, and it moved: {what}"
    elif torch_keys:
        detail = (f"the artifacts were built by different torch builds (torch key "
                  f"{torch_keys[0][:12]} → {torch_keys[1][:12]}): a torch upgrade or rebuild")
    else:
        detail = GENERIC_COMPILER
    return Pitfall(
        "compiler", "the compiler factor moved",
        detail,
        "bake the cache with exactly the torch, triton and CUDA of the serving image; after "
        "an upgrade, bake it again",
    )
