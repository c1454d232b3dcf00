"""MoE, MLA and hybrid architectures under ``--platform cuda``: cachekey equals real vLLM.

Issue 26. On this CPU host vLLM's layers take the CPU's forward paths and weight steps
(the MoE runner inlines its Python ``_moe_forward`` and prepacks the experts' weights with a
``vllm._C`` kernel; the Qwen GDN layer binds ``forward_cpu``, which does not split; AMX MLA
packs W_UK/W_UV), so neither real vLLM nor cachekey could build these models as a CUDA host
does. With ``--cuda-build`` the driver (``fixtures/vllm/run_vllm_serve.py``, its own
``fixtures/vllm/cuda_build.py``, independent of cachekey's code) builds each model as a
CUDA host does and runs vLLM's real compile; ``cachekey snapshot vllm:DIR --platform cuda``
(``vllm/models.py``, from the release's ``CudaBuild`` row) must file the same keys:

- every compiled piece's AOT key (the ``tuple_return`` variant, which the snapshot keeps)
  equals the index entry and the artifact header vLLM filed at its graph index, and the
  ``aotautograd/`` and ``fxgraph/`` sets equal vLLM's;
- the hash folder and its four factors equal vLLM's;
- the report lists what the build changed, after the platform overrides.

Tiny configs (``fixtures/vllm/models/make_arch_configs.py``), dummy weights, artifacts
mode (the index carries every piece's AOT key). Heavy: ``make test-vllm``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cachekey_cli.vllm import probe

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "fixtures" / "vllm" / "run_vllm_serve.py"
MODELS = ROOT / "fixtures" / "vllm" / "models"
SERVE = ("--max-num-batched-tokens", "2048", "--dtype", "float32")
MODE = "artifacts"

pytestmark = pytest.mark.skipif(
    not probe.installed(), reason="vLLM is not importable: make test-vllm"
)


def _release_row() -> Any:
    import importlib.metadata

    from cachekey_cli.vllm import releases

    return releases.resolve(importlib.metadata.version("vllm")).release


_ROW = _release_row() if probe.installed() else None
# a release without a CudaBuild row (0.32.0) builds these models as the CPU host does: its
# MoE layers stop on the CPU prepack kernel, in cachekey's one line and in vLLM alike
needs_cuda_build = pytest.mark.skipif(
    _ROW is not None and _ROW.cuda_build is None,
    reason="no CudaBuild row for this vLLM release (vllm/releases.py)")
# a release whose backend takes no use_aot_compile (0.32.0): the Transformers backend's
# opt-out is listed as not reproduced there, not keyed
needs_backend_aot_flag = pytest.mark.skipif(
    _ROW is not None and not _ROW.backend_aot_flag,
    reason="this vLLM release's backend takes no use_aot_compile (vllm/releases.py)")

# family -> what the build must report having changed (a substring of one override line)
FAMILIES = {
    "tiny-qwen3-moe": ("moe_forward", "CPUUnquantizedExperts"),
    "tiny-deepseek-v2": ("moe_forward", "CPUUnquantizedExperts"),
    "tiny-qwen3-next": ("moe_forward", "forward_cuda"),
    "tiny-gpt-oss": ("moe_forward", "CPUUnquantizedExperts"),
    "tiny-nemotron-h": ("non-gated-experts check", "Triton"),
}


def _env(root: Path, mega: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLLM_", "TORCHINDUCTOR_"))}
    # artifacts mode, or vLLM's default (one mega artifact per model)
    env.update({"VLLM_USE_AOT_COMPILE": "1", "VLLM_USE_MEGA_AOT_ARTIFACT": "1" if mega else "0"})
    env["VLLM_CACHE_ROOT"] = str(root)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@needs_cuda_build
@pytest.mark.parametrize(("model", "changed"), list(FAMILIES.items()))
def test_architecture_keys_and_folder_equal_real_vllm(model, changed, tmp_path, capsys):
    _keys_and_folder_equal(model, changed, SERVE, tmp_path, capsys)


@needs_cuda_build
@pytest.mark.parametrize("model", ["tiny-qwen3-moe", "tiny-qwen3-next"])
def test_bf16_keys_and_folder_equal_real_vllm(model, tmp_path, capsys):
    """In bf16, built as a CUDA host builds it, real vLLM compiles here too (the CPU's GEMM
    weight step would call vllm._C kernels on this AMX host): the keys equal. Qwen3-Next's
    attention takes a fused Triton kernel on a real CUDA host in bf16, which neither side can
    trace here: cachekey lists it, and the rest equals."""
    import importlib.metadata

    from cachekey_cli.vllm import releases

    serve = ("--max-num-batched-tokens", "2048", "--dtype", "bfloat16")
    row = releases.resolve(importlib.metadata.version("vllm")).release.cuda_build
    listed = {name.rsplit(":", 1)[1] for name, _, _ in row.half_cuda_branches}
    unkept = tuple(name for name in ("Qwen3NextAttention", "LinearBase") if name in listed
                   and (name != "Qwen3NextAttention" or model == "tiny-qwen3-next"))
    _keys_and_folder_equal(model, ("unquantized linear GEMM: CUDA's",), serve, tmp_path, capsys,
                           unkept)


def _real_and_ours(model: str, serve: tuple[str, ...], tmp_path: Path, mode: str = MODE,
                   cuda_build: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Real vLLM's compile of ``model`` (the driver's summary) and cachekey's snapshot of it,
    both for a CUDA deployment with the same serve arguments, in ``mode``."""
    mega = mode == "mega"
    real_json = tmp_path / "real.json"
    _run([sys.executable, str(DRIVER), str(MODELS / model), "--cache-root",
          str(tmp_path / "vllm"), "--mode", mode, "--platform", "cuda",
          *(["--cuda-build"] if cuda_build else []), "--json-out", str(real_json), "--",
          *serve], _env(tmp_path / "vllm", mega=mega))
    _run([sys.executable, "-m", "cachekey_cli", "-q", "snapshot", f"vllm:{MODELS / model}",
          "--platform", "cuda", "-o", str(tmp_path / "ours.json"), "--", *serve],
         _env(tmp_path / "unused", mega=mega))
    return json.loads(real_json.read_text()), json.loads((tmp_path / "ours.json").read_text())


def _hash_folder_equal(profile: dict[str, Any], real: dict[str, Any], factors: bool = True
                       ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one hash folder vLLM filed, its prefix folder; cachekey named the same folder
    (and, with ``factors``, the same four factor hashes)."""
    (folder,) = real["hash_folders"]
    (written,) = folder["prefixes"]
    assert profile["hash_folder"] == folder["hash"] == written["folder_hash_recomputed"]
    for factor in ("env_hash", "config_hash", "code_hash", "compiler_hash") if factors else ():
        assert profile["folder_factors"][factor] == written[factor], factor
    return folder, written


def _filed_sets_equal(real: dict[str, Any], aot: list[str], fx: list[str]) -> list[str]:
    """Inductor's aotautograd/ and fxgraph/ entries vLLM's compile filed are cachekey's keys;
    the fxgraph/ keys."""
    filed_aot = sorted({k for c in real["inductor_caches"] for k in c["aotautograd"]})
    filed_fx = sorted({k for c in real["inductor_caches"] for k in c["fxgraph"]})
    assert filed_aot == sorted(set(aot)) and filed_fx == sorted(set(fx))
    return filed_fx


def _keys_and_folder_equal(model: str, changed: tuple[str, ...], serve: tuple[str, ...],
                           tmp_path: Path, capsys: Any, unkept: tuple[str, ...] = ()) -> None:
    real, ours = _real_and_ours(model, serve, tmp_path)
    profile = ours["profile"]
    assert profile["compile_range"] == "[1, 2048]"
    assert len(profile["not_reproduced"]) == len(unkept), profile["not_reproduced"]
    for name, line in zip(unkept, profile["not_reproduced"], strict=True):
        assert line.startswith(f"{name} ("), line
    overrides = [v for k, v in sorted(profile["settings"].items())
                 if k.startswith("platform.override.")]
    for what in changed:
        assert any(what in line for line in overrides), (what, overrides)

    # vLLM's index numbers the compiled pieces in order, splitting ops skipped
    pieces = sorted((p for p in ours["subgraphs"] if not p["splitting_op"]),
                    key=lambda p: int(p["name"].rsplit("_", 1)[1]))
    aot = [p["keys"]["aot_key"] for p in pieces]
    fx = [p["keys"]["inductor_key"] for p in pieces]
    assert all(aot) and all(fx)

    folder, written = _hash_folder_equal(profile, real)
    index = {ast.literal_eval(e["key"])[1]: e["value"]["cache_key"] for e in written["index"]}
    # one entry per AOT key: a piece whose key an earlier piece filed is served from memory
    assert set(index) <= set(range(len(pieces))) and set(index.values()) == set(aot), index
    equal = [i for i in index if index[i] == aot[i]]
    assert len(equal) == len(index), {i: (aot[i], index[i]) for i in index if i not in equal}
    for art in written["artifacts"]:
        i = int(art["name"].rsplit("_", 1)[1])
        assert art["aot_key"] == aot[i], art["name"]
    filed_fx = _filed_sets_equal(real, aot, fx)
    with capsys.disabled():
        print(f"\nvllm:{model} {MODE} {serve[-1]}: AOT keys {len(equal)}/{len(index)} index "
              f"entries equal ({len(pieces)} pieces, {len(set(aot))} unique), FX {len(filed_fx)}, "
              f"hash folder {folder['hash']}; "
              f"build: {'; '.join(overrides[-len(changed):])[:200]}")


@needs_cuda_build
@pytest.mark.parametrize("model", ["tiny-deepseek-v2", "tiny-qwen3-next"])
def test_architecture_mega_mode_folders_and_aot_keys_equal_real_vllm(model, tmp_path, capsys):
    """vLLM's default mode files one AOT-compiled model (``torch_aot_compile/<hash>``) with
    its pieces' ``aotautograd`` entries bundled in: both folders and every AOT key equal."""
    real, ours = _real_and_ours(model, SERVE, tmp_path, mode="mega")
    profile = ours["profile"]
    assert profile["not_reproduced"] == [] and profile["cache_mode"] == "aot-compile+mega-artifact"
    aot = [p["keys"]["aot_key"] for p in ours["subgraphs"] if not p["splitting_op"]]
    assert all(aot)
    folder, _ = _hash_folder_equal(profile, real, factors=False)
    (model_dir,) = real["torch_aot_compile"]
    assert profile["aot_compile_folder"] == model_dir["hash"]
    assert model_dir["aotautograd"] == sorted(set(aot))
    with capsys.disabled():
        print(f"\nvllm:{model} mega: AOT-compile folder {model_dir['hash'][:12]}, "
              f"{len(set(aot))}/{len(set(aot))} aotautograd entries equal ({len(aot)} pieces), "
              f"hash folder {folder['hash']}")


@needs_backend_aot_flag
def test_transformers_backend_keys_and_folder_equal_real_vllm(tmp_path, capsys):
    """``HeliumForCausalLM`` is in none of vLLM's registry tables: vLLM serves it through its
    Transformers backend, which calls the compiled HF decoder with keywords (``[1, T]``
    input_ids and position_ids) and decorates it ``use_aot_compile=False``. That backend
    files no index, no artifacts and no AOT-compiled model: the pieces are in the hash
    folder's ``inductor_cache`` (the unmodified driver; nothing to build as CUDA does)."""
    model = "tiny-helium"
    real, ours = _real_and_ours(model, SERVE, tmp_path, cuda_build=False)
    profile = ours["profile"]
    assert profile["not_reproduced"] == [] and profile["aot_compile_folder"] is None
    pieces = [p for p in ours["subgraphs"] if not p["splitting_op"]]
    aot = [p["keys"]["aot_key"] for p in pieces]
    fx = [p["keys"]["inductor_key"] for p in pieces]
    assert all(aot) and all(fx)
    folder, written = _hash_folder_equal(profile, real)
    assert "index" not in written or not written["index"], written.get("index")
    filed_fx = _filed_sets_equal(real, aot, fx)
    with capsys.disabled():
        print(f"\nvllm:{model} {MODE}: aotautograd {len(set(aot))}/{len(set(aot))} equal "
              f"({len(pieces)} pieces), FX {len(filed_fx)}, hash folder {folder['hash']}")


def test_the_release_row_names_what_the_installed_vllm_has():
    """Every selector and weight-step module the installed release's ``CudaBuild`` row names
    exists in its wheel (a release that moved one gets a new row, not a silent no-op)."""
    import importlib
    import importlib.metadata

    from cachekey_cli.vllm import models, releases

    row = releases.resolve(importlib.metadata.version("vllm")).release.cuda_build
    if row is None:
        pytest.skip("no CudaBuild row for this release: its models are built as the host does")
    for name in (row.moe_selector, row.moe_config_check, row.moe_backend_oracle,
                 row.gdn_layer + ".forward_cuda", row.gdn_layer + ".forward_cpu"):
        owner, attr = models._attr(name)
        assert hasattr(owner, attr), name
    oracle = importlib.import_module(row.moe_oracle_module)
    assert hasattr(oracle.UnquantizedMoeBackend, "TRITON")
    for module in row.cpu_weight_steps:
        importlib.import_module(module)
    owner, attr = models._attr(row.gemm_selector)
    assert callable(getattr(owner, attr)), row.gemm_selector
    for name in row.platform_weight_steps:
        owner, attr = models._attr(name + ".process_weights_after_loading")
        assert hasattr(owner, attr), name
    for name, _attribute, _what in row.half_cuda_branches:
        owner, attr = models._attr(name)
        assert isinstance(getattr(owner, attr), type), name



@needs_backend_aot_flag
def test_transformers_backend_warm_start_is_served_by_the_hash_folders_inductor_cache(
        tmp_path, capsys):
    """The Transformers backend files no index (``use_aot_compile=False``): every start
    compiles each piece through Inductor's cache, which vLLM points at
    ``<hash>/rank_0_0/inductor_cache``. After a real bake, ``check --cache`` calls the
    unchanged redeploy a hit (exit 0), and a real warm start on that cache agrees: every
    AOTAutograd lookup hits. A changed ``--max-num-batched-tokens`` names a new folder, whose
    Inductor cache is empty: cold misses (exit 1), and the real start misses too."""
    model, root = "tiny-helium", tmp_path / "vllm"
    driver = [sys.executable, str(DRIVER), str(MODELS / model), "--cache-root", str(root),
              "--mode", MODE, "--platform", "cuda"]
    _run([*driver, "--json-out", str(tmp_path / "bake.json"), "--", *SERVE], _env(root))
    for case, serve, code, want in (
            ("same", SERVE, 0, {"hit"}),
            ("4096", ("--max-num-batched-tokens", "4096", "--dtype", "float32"), 1,
             {"miss → cold compile"})):
        done = subprocess.run(
            [sys.executable, "-m", "cachekey_cli", "-q", "check", f"vllm:{MODELS / model}",
             "--platform", "cuda", "--cache", str(root), "--format", "json", "--", *serve],
            env=_env(tmp_path / "unused"), cwd=ROOT, capture_output=True, text=True,
            timeout=1200)
        assert done.returncode == code, (case, done.stderr[-2000:])
        report = json.loads(done.stdout)
        labels = {p["label"] for p in report["pieces"] if p.get("reuses") is None}
        assert labels == want, (case, labels)
        warm = tmp_path / f"warm-{case}.json"
        _run([*driver, "--json-out", str(warm), "--", *serve], _env(root))
        counters = json.loads(warm.read_text())["torch_counters"]["aot_autograd"]
        if case == "same":
            assert counters.get("autograd_cache_hit") == 3 and \
                not counters.get("autograd_cache_miss"), counters
        else:
            assert counters.get("autograd_cache_miss") == 3, counters
        with capsys.disabled():
            print(f"\nvllm:{model} warm start ({case}): cachekey {sorted(labels)}, exit "
                  f"{done.returncode}; real vLLM's AOTAutograd counters {counters}")


@pytest.mark.skipif(_ROW is None or _ROW.cuda_build is not None,
                    reason="this vLLM release builds MoE models as a CUDA host does")
def test_a_release_without_cuda_build_says_why_in_one_line(tmp_path):
    """Without a CudaBuild row (vLLM 0.32.0), an MoE model is built the CPU host's way, which
    calls a vllm._C kernel this wheel lacks: one line, exit 3, naming the kernel."""
    done = subprocess.run(
        [sys.executable, "-m", "cachekey_cli", "-q", "diff", f"vllm:{MODELS / 'tiny-qwen3-moe'}",
         "--platform", "cuda", "--", *SERVE],
        env=_env(tmp_path / "unused"), cwd=ROOT, capture_output=True, text=True, timeout=600)
    line = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 3, done.stderr[-2000:]
    assert line.startswith("cachekey: error: vLLM cannot build") and "torch.ops._C." in line, \
        line
