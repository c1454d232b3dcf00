"""What each vLLM release does with its compile cache: one row per release, one place.

Every rule that differs between the vLLM releases cachekey was checked against
is a field here, and code asks the row (``release.names_folder(...)``,
``release.serve_cli``) instead of comparing version strings. Where vLLM is
installed its own functions come first (``compile/live.py``); the
rows are what a torch-free, vLLM-free reader needs (a cache's factors file, its
code factor, its folder name) and what the live code must know to call vLLM at
all (which module holds the serve parser, which keyword the backend takes).

The facts were read off each release's wheel (``vllm/compilation/backends.py``,
``caching.py``, ``compiler_interface.py``, ``decorators.py``, ``vllm/config/utils.py``,
``vllm/platforms/cpu.py``, ``vllm/entrypoints/``) and checked against real runs
of each release on this project's CPU machines (``fixtures/vllm_releases/``).
A release newer than the newest row is taken to behave like it, and every
report says so (``resolve``). Torch-free and vLLM-free.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# how the factors file and the folder name are built
HASHES = "hashes"  # {"env", "config_hash", "code_hash", "compiler_hash"}; sha256(str(list))[:10]
RAW = "raw"  # the raw factors too: {"env", "config", "code": {"files"}, "compiler"} + hashes


@dataclass(frozen=True)
class CudaBuild:
    """Where a release picks a layer's forward path or weight step by platform, for building
    its model as a CUDA host does on a CPU host (``--platform cuda``, ``vllm/models.py``).
    Each name is ``module:attribute`` in the release's wheel; "" where it has none."""

    # MoERunner._select_forward: CUDA gets the opaque torch.ops.vllm.moe_forward[_shared],
    # CPU the inlined Python _moe_forward (is_cpu() read for this call only)
    moe_selector: str
    # FusedMoEConfig.__post_init__: refuses non-gated experts (is_act_and_mul=False) unless
    # is_cuda_alike() (a validity check, the only platform read there)
    moe_config_check: str
    # the unquantized MoE backend oracle as the MoE method imports it, and the oracle module:
    # where CPU has no kernel (NotImplementedError), the one a CUDA host takes (Triton)
    moe_backend_oracle: str
    moe_oracle_module: str
    # the Qwen GDN layer: __init__ binds forward_cpu on CPU, forward_cuda (which calls the
    # splitting op vllm::qwen_gdn_attention_core) on CUDA
    gdn_layer: str
    # modules of CPU-only kernels whose classes repack weights for vllm._C in
    # process_weights_after_loading (CPU MoE experts, AMX/CPU MLA and CPU attention impls)
    cpu_weight_steps: tuple[str, ...]
    # the unquantized GEMM as linear.py imports it: the function an UnquantizedLinearMethod
    # binds at __init__ (CPU: cpu_unquantized_gemm, calling the layer.cpu_linear its weight
    # step set; CUDA: 0.34.0's cuda_unquantized_gemm, 0.33.0's default_unquantized_gemm, both
    # F.linear unless a bf16 skinny-GEMM plan exists, which only SM121 has)
    gemm_selector: str = ""
    # weight steps that branch on is_cpu() (the dense linear's and the embedding's): on the
    # CPU they pack weights for vllm._C kernels (AMX sgl-kernel, oneDNN, causal-conv1d), on
    # CUDA they mark skinny-GEMM layers; run with is_cpu() False, they take CUDA's branch
    platform_weight_steps: tuple[str, ...] = ()
    # layers that take a CUDA-only fused kernel in bf16/fp16, by capability or a Triton op
    # this host cannot trace: (module:Class, the attribute that must be truthy on the layer
    # or "", what a CUDA host's graph has instead). Listed in the report, not reproduced.
    half_cuda_branches: tuple[tuple[str, str, str], ...] = ()


# vLLM 0.33.0 and 0.34.0 (read off both wheels; identical)
CUDA_BUILD_033 = CudaBuild(
    moe_selector="vllm.model_executor.layers.fused_moe.runner.moe_runner:"
                 "MoERunner._select_forward",
    moe_config_check="vllm.model_executor.layers.fused_moe.config:FusedMoEConfig.__post_init__",
    moe_backend_oracle="vllm.model_executor.layers.fused_moe.unquantized_fused_moe_method:"
                       "select_unquantized_moe_backend",
    moe_oracle_module="vllm.model_executor.layers.fused_moe.oracle.unquantized",
    gdn_layer="vllm.model_executor.layers.mamba.gdn.qwen_gdn_linear_attn:"
              "QwenGatedDeltaNetAttention",
    cpu_weight_steps=(
        "vllm.model_executor.layers.fused_moe.experts.cpu_moe",
        "vllm.model_executor.layers.fused_moe.experts.cpu_int4_moe",
        "vllm.v1.attention.backends.mla.amx_mla",
        "vllm.v1.attention.backends.mla.cpu_mla",
        "vllm.v1.attention.backends.cpu_attn",
    ),
    gemm_selector="vllm.model_executor.layers.linear:dispatch_unquantized_gemm",
    platform_weight_steps=(
        "vllm.model_executor.layers.linear:UnquantizedLinearMethod",
        "vllm.model_executor.layers.vocab_parallel_embedding:UnquantizedEmbeddingMethod",
    ),
    half_cuda_branches=(
        ("vllm.model_executor.models.qwen3_next:Qwen3NextAttention", "attn_output_gate",
         "its gated split, QK RMSNorm, partial RoPE and gate copy are one Triton kernel "
         "(fused_qk_rmsnorm_rope_gate) on CUDA; keyed here as the unfused ops"),
        ("vllm.model_executor.models.deepseek_v2:DeepSeekV2FusedQkvAProjLinear", "",
         "on SM90 and SM100 hosts, where the weight is DeepSeek-V3's 2112×7168, it runs "
         "vllm::min_latency_fused_qkv_a_proj; keyed here as F.linear"),
    ),
)

# vLLM 0.34.0: as 0.33.0, and its CUDA GEMM has a skinny path (0.33.0's is F.linear alone)
CUDA_BUILD_034 = dataclasses.replace(CUDA_BUILD_033, half_cuda_branches=(
    *CUDA_BUILD_033.half_cuda_branches,
    ("vllm.model_executor.layers.linear:LinearBase", "",
     "on SM121 (GB10) hosts, a bf16 linear without bias whose (N, K) has a skinny-GEMM plan "
     "traces vllm::cuda_skinny_unquantized_gemm; other GPUs F.linear, as keyed here"),
))


@dataclass(frozen=True)
class Release:
    """One vLLM release's compile-cache rules (the fields that differ between releases)."""

    version: str
    torch: str  # the torch it pins
    # cache_key_factors.json and the hash folder's name: HASHES (the four hashes, the name
    # sha256(str([env, config, code, compiler]))[:10]) or RAW (the raw factors, the name
    # hash_factors({"env", "config", "code": {"files": [...]}, "compiler"})[:10])
    layout: str
    # the code factor: "joined" (sha256 over each traced file's path and text, joined by
    # newlines, in string order, "<string>" left out) or "files" (one {"path", "hash"} per
    # file in pathlib order, hash = hash_factors({"content": text}); "<...>" names path only)
    code_factor: str
    # where `vllm serve`'s make_arg_parser and validate_parsed_serve_args live
    serve_cli: str
    # VllmBackend/init_backend take use_aot_compile (the decorator's per-model opt-out),
    # and _get_vllm_functorch_config takes it too; without it, the mega flag is the env var
    backend_aot_flag: bool
    # the config and compiler enter the folder as compute_hash() strings, or compile_factors()
    factor_api: str  # "compute_hash" | "compile_factors"
    # CpuPlatform.check_and_update_config refuses an x86 host without a Triton driver
    cpu_needs_triton: bool
    # which variables its env factor lists (envs.compile_factors: every known variable but
    # the ignored ones, set or not): sha256 of the sorted names, 16 hex. A factors file's
    # env names which release wrote it.
    env_names: str
    # --platform cuda: where the model build picks CUDA's forward paths (None: not checked,
    # the model is built as this host builds it)
    cuda_build: CudaBuild | None = None
    # without AOT compile (VLLM_USE_AOT_COMPILE=0, or a model decorated use_aot_compile=False,
    # as vLLM's Transformers backend is), where Inductor's cache is while a piece compiles:
    # "hash_folder" (InductorStandaloneAdaptor.initialize_cache points TORCHINDUCTOR_CACHE_DIR
    # at <hash>/rank_<r>_<dp>/inductor_cache unless the cache is disabled) or "environment"
    # (it leaves the variable to the server's environment)
    no_aot_inductor_dir: str = "hash_folder"

    def names_folder(self, env_hash: str, config_hash: str, code_hash: str,
                     compiler_hash: str, raw: Mapping[str, Any] | None = None) -> str:
        """The hash folder's name (``VllmBackend.__call__``). A RAW release names it from the
        raw factors (``raw``: env, config, code, compiler), not from the four hashes."""
        if self.layout == RAW:
            if raw is None:
                raise ValueError(f"vLLM {self.version} names its folder from the raw factors")
            return hash_factors({k: raw[k] for k in ("env", "config", "code", "compiler")})[:10]
        return folder_from_hashes(env_hash, config_hash, code_hash, compiler_hash)

    def code_factor_of(self, paths: Iterable[str]) -> tuple[str, dict[str, Any]]:
        """(code hash, raw code factor or {}) of these traced files as they are on disk now."""
        from cachekey_cli.vllm.identity import code_factor

        if self.code_factor == "files":
            entries = code_factor.code_files(paths)
            return code_factor.files_hash(entries), {"files": entries}
        return code_factor.code_hash(paths), {}


RELEASES = (
    Release("0.32.0", torch="2.13.0", layout=HASHES, code_factor="joined",
            serve_cli="vllm.entrypoints.launchers.cli_args", backend_aot_flag=False,
            factor_api="compute_hash", cpu_needs_triton=False, env_names="9f948dcbb5e29969",
            no_aot_inductor_dir="environment"),
    Release("0.33.0", torch="2.14.0", layout=HASHES, code_factor="joined",
            serve_cli="vllm.entrypoints.common.cli_args", backend_aot_flag=True,
            factor_api="compute_hash", cpu_needs_triton=False, env_names="12841404b3dee193",
            cuda_build=CUDA_BUILD_033),
    Release("0.34.0", torch="2.14.0", layout=RAW, code_factor="files",
            serve_cli="vllm.entrypoints.common.cli_args", backend_aot_flag=True,
            factor_api="compile_factors", cpu_needs_triton=True, env_names="ab5bf627eca60430",
            cuda_build=CUDA_BUILD_034),
)
NEWEST = RELEASES[-1]
CHECKED = ", ".join(r.version for r in RELEASES)


@dataclass(frozen=True)
class Resolved:
    """The row a version gets, and what is assumed when it is no checked release."""

    release: Release
    assumed: str | None = None  # a one-line caveat for the report header


def resolve(version: str | None) -> Resolved:
    """The row for vLLM ``version``: its own, or the closest checked release, with a caveat."""
    if version is None:
        return Resolved(NEWEST, f"no vLLM version known: vLLM {NEWEST.version}'s rules assumed")
    for r in RELEASES:
        if r.version == _base(version):
            return Resolved(r)
    ours = _tuple(version)
    older = [r for r in RELEASES if _tuple(r.version) <= ours]
    if not older:
        return Resolved(RELEASES[0], f"vLLM {version} is older than any release checked "
                        f"({CHECKED}): vLLM {RELEASES[0].version}'s rules assumed")
    row = older[-1]
    word = "newer than the newest" if row is NEWEST else "not a"
    return Resolved(row, f"vLLM {version} is {word} release checked ({CHECKED}): vLLM "
                    f"{row.version}'s cache rules assumed where vLLM's own functions are not "
                    "called")


def writer(env: Mapping[str, Any]) -> Release | None:
    """The checked release whose env factor lists exactly these variables (a factors file's
    ``env``), or None (another release, or a file written by hand)."""
    names = hashlib.sha256("\n".join(sorted(env)).encode()).hexdigest()[:16]
    return next((r for r in RELEASES if r.env_names == names), None)


def for_layout(layout: str) -> Release:
    """The newest release that writes a factors file of ``layout`` (a torch-free reader's
    best guess of who wrote a cache)."""
    return [r for r in RELEASES if r.layout == layout][-1]


def hash_factors(items: Any) -> str:
    """vLLM's ``hash_factors`` (vllm/config/utils.py, all three releases): sha256 of the
    sorted-keys JSON."""
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


def folder_from_hashes(env_hash: str, config_hash: str, code_hash: str,
                       compiler_hash: str) -> str:
    """The HASHES layout's folder name (vLLM 0.32.0 and 0.33.0, backends.py)."""
    factors = [env_hash, config_hash, code_hash, compiler_hash]
    return hashlib.sha256(str(factors).encode()).hexdigest()[:10]


def _base(version: str) -> str:
    return version.split("+")[0]


def _tuple(version: str) -> tuple[int, ...]:
    """(0, 34, 0) for "0.34.0", "0.34.0rc1" or "0.34.0+cpu": the leading numbers."""
    import re

    out = []
    for part in _base(version).split("."):
        m = re.match(r"\d+", part)
        if m is None:
            break
        out.append(int(m.group()))
    return tuple(out)
