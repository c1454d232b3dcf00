"""vLLM's own model classes, from a ``vllm serve`` command line: cachekey equals real vLLM.

For vLLM's own ``LlamaForCausalLM`` and ``Qwen3ForCausalLM`` (tiny configs in
``fixtures/vllm/models/``, dummy weights), ``fixtures/vllm/run_vllm_serve.py`` builds
the config as ``vllm serve`` does, takes the CUDA deployment's piecewise path on this
CPU (``--platform cuda``) and runs vLLM's real compile: decorator, ``VllmBackend``,
``standalone_compile``, unmodified. ``cachekey snapshot vllm:DIR --platform cuda -- ARGS``
runs in a fresh process with the same environment, and every AOT key, FX key, the hash
folder and the AOT-compile folder it reports must be the ones vLLM filed.

Then ``check --cache`` against a real cache the driver baked: the same serve arguments,
another ``--max-num-batched-tokens``, another ``--dtype`` and an env variable in vLLM's
factors, each compared with what a real warm start did (its own log lines and lookups).
Heavy: ``make test-vllm``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
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
MODES = {"mega": {"VLLM_USE_AOT_COMPILE": "1", "VLLM_USE_MEGA_AOT_ARTIFACT": "1"},
         "artifacts": {"VLLM_USE_AOT_COMPILE": "1", "VLLM_USE_MEGA_AOT_ARTIFACT": "0"}}

pytestmark = pytest.mark.skipif(
    not probe.installed(), reason="vLLM is not importable: make test-vllm"
)


def _env(mode: str, root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLLM_", "TORCHINDUCTOR_"))}
    env.update(MODES[mode])
    env.update(extra or {})
    env["VLLM_CACHE_ROOT"] = str(root)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run(args: list[str], env: dict[str, str], codes: tuple[int, ...] = (0,)
         ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode in codes, done.stderr[-3000:]
    return done


def real_vllm(model: str, mode: str, root: Path, out: Path, serve: tuple[str, ...] = SERVE,
              extra: dict[str, str] | None = None) -> dict[str, Any]:
    """vLLM's own compile (or warm start) of the model, as the driver reports it."""
    _run([sys.executable, str(DRIVER), str(MODELS / model), "--cache-root", str(root),
          "--mode", mode, "--platform", "cuda", "--json-out", str(out), "--", *serve],
         _env(mode, root, extra))
    return dict(json.loads(out.read_text()))


def cachekey(*args: str, mode: str, root: Path, extra: dict[str, str] | None = None,
             codes: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "cachekey_cli", "-q", *args], _env(mode, root, extra),
                codes)


CASES = [(model, mode) for model in ("tiny-llama", "tiny-qwen3") for mode in sorted(MODES)]


@pytest.mark.parametrize(("model", "mode"), CASES)
def test_own_model_keys_and_folders_equal_real_vllm(model, mode, tmp_path, capsys):
    real = real_vllm(model, mode, tmp_path / "vllm", tmp_path / "real.json")
    assert real["vllm"] == importlib.metadata.version("vllm")
    cachekey("snapshot", f"vllm:{MODELS / model}", "--platform", "cuda", "-o",
             str(tmp_path / "ours.json"), "--", *SERVE, mode=mode, root=tmp_path / "unused")
    ours = json.loads((tmp_path / "ours.json").read_text())
    profile = ours["profile"]
    assert profile["not_reproduced"] == [] and profile["compile_range"] == "[1, 2048]"
    pieces = sorted((p for p in ours["subgraphs"] if not p["splitting_op"]),
                    key=lambda p: int(p["name"].rsplit("_", 1)[1]))
    aot = [p["keys"]["aot_key"] for p in pieces]
    fx = [p["keys"]["inductor_key"] for p in pieces]
    assert all(aot)

    (folder,) = real["hash_folders"]
    (written,) = folder["prefixes"]
    assert profile["hash_folder"] == folder["hash"] == written["folder_hash_recomputed"]
    for factor in ("env_hash", "config_hash", "code_hash", "compiler_hash"):
        assert profile["folder_factors"][factor] == written[factor], factor
    (model_dir,) = real["torch_aot_compile"]
    assert profile["aot_compile_folder"] == model_dir["hash"]
    assert model_dir["aotautograd"] == sorted(set(aot))
    filed_aot = sorted({k for c in real["inductor_caches"] for k in c["aotautograd"]})
    filed_fx = sorted({k for c in real["inductor_caches"] for k in c["fxgraph"]})
    assert filed_aot == sorted(set(aot))
    tally = {"pieces": len(pieces), "unique AOT keys": len(set(aot))}
    if mode == "mega":
        assert filed_fx == [] and fx == [None] * len(pieces)
    else:
        assert all(fx) and filed_fx == sorted(set(fx))
        index = {ast.literal_eval(e["key"]): e["value"] for e in written["index"]}
        for (_, i, _), value in index.items():
            assert value["cache_key"] == aot[i], i
        for art in written["artifacts"]:
            i = int(art["name"].rsplit("_", 1)[1])
            assert art["aot_key"] == aot[i], art["name"]
        tally |= {"FX keys": len(filed_fx), "index entries": len(index),
                  "artifact headers": len(written["artifacts"])}
    with capsys.disabled():
        counts = ", ".join(f"{k} {v}" for k, v in tally.items())
        print(f"\nvllm:{model} {mode}: all equal ({counts}); hash folder {folder['hash']}, "
              f"AOT-compile folder {model_dir['hash'][:12]}")


WARM = {  # case -> (serve arguments, extra environment)
    "same": (SERVE, {}),
    "max-num-batched-tokens": (("--max-num-batched-tokens", "4096", "--dtype", "float32"), {}),
    "dtype": (("--max-num-batched-tokens", "2048", "--dtype", "bfloat16"), {}),
    "env": (SERVE, {"VLLM_ENABLE_INDUCTOR_MAX_AUTOTUNE": "0"}),
}


@pytest.fixture(scope="module")
def baked(tmp_path_factory) -> Path:
    """A real per-piece cache of vLLM's own Llama, baked with the serve arguments SERVE."""
    root = tmp_path_factory.mktemp("baked") / "vllm"
    real_vllm("tiny-llama", "artifacts", root, root.parent / "cold.json")
    return root


@pytest.mark.parametrize("case", list(WARM))
def test_check_cache_on_own_model_equals_the_real_warm_start(case, baked, tmp_path, capsys):
    serve, extra = WARM[case]
    root = tmp_path / "vllm"
    shutil.copytree(baked, root)
    done = cachekey("check", f"vllm:{MODELS / 'tiny-llama'}", "--platform", "cuda", "--cache",
                    str(root), "--format", "json", "--", *serve, mode="artifacts", root=root,
                    extra=extra, codes=(0, 1, 3))
    if done.returncode == 3:  # an AMX host: vLLM's CPU platform packs bf16 linear weights
        kernel = re.search(r"torch\.ops\._C\.(\w+), a (?:CPU )?kernel", done.stderr)
        assert kernel, done.stderr[-2000:]
        real = _run([sys.executable, str(DRIVER), str(MODELS / "tiny-llama"), "--cache-root",
                     str(root), "--mode", "artifacts", "--platform", "cuda", "--", *serve],
                    _env("artifacts", root, extra), codes=(1,))
        assert f"_C' object has no attribute '{kernel.group(1)}'" in real.stderr
        pytest.skip(f"{case}: real vLLM cannot build the model on this CPU either (its CPU "
                    f"platform calls torch.ops._C.{kernel.group(1)}, not in this wheel); "
                    "cachekey's one line names the same kernel")
    said = [p["cache"] for p in json.loads(done.stdout)["pieces"]]
    warm = real_vllm("tiny-llama", "artifacts", root, tmp_path / "warm.json", serve, extra)
    log = " | ".join(warm["vllm_log"])
    loaded = [p["loaded"] for p in warm["piece_lookups"]]
    did = ["hit" if x else "miss" for x in loaded] if loaded else ["miss"] * len(said)
    assert said == did, (case, said, did, log)
    assert ("Compiling a graph" in log) == ("miss" in did), log
    with capsys.disabled():
        print(f"\n{case}: cachekey {said}; vLLM's warm start {did}: {log[:300]}")


@pytest.mark.parametrize("model", ["tiny-llama", "tiny-qwen3"])
def test_dedup_on_own_model_shares_the_repeated_layers(model, tmp_path):
    """Four decoder layers of vLLM's own class: the three pieces between attention calls
    are one compile unit (vLLM files one artifact for them), and without vLLM's
    autograd_cache_normalize_inputs they would not be (their parameters' names differ)."""
    folder = tmp_path / model
    folder.mkdir()
    config = json.loads((MODELS / model / "config.json").read_text())
    config["num_hidden_layers"] = 4
    (folder / "config.json").write_text(json.dumps(config))
    done = cachekey("dedup", f"vllm:{folder}", "--platform", "cuda", "--format", "json", "--",
                    *SERVE, mode="mega", root=tmp_path / "unused")
    doc = json.loads(done.stdout)
    tupled = doc["variants"]["tuple_return"]
    assert tupled["compiled"] == 5 and tupled["unique"]["aot_key"] == 3, tupled
    assert doc["normalize_inputs"]["unique_aot_keys"]["off"]["tuple_return"] == 5, doc


PLUGIN_SUITE = '''
import os


def test_deployment_keys(cachekey):
    serve = os.environ["SERVE_ARGS"].split()
    cachekey.check("vllm:{model}", "keys/llama.json", platform="cuda", serve_args=serve)
'''


def test_pytest_plugin_gates_own_model_on_the_keys_vllm_filed(baked, tmp_path):
    """The ``cachekey`` fixture on ``vllm:DIR`` with serve arguments: the baseline it writes
    holds the AOT keys vLLM filed in the baked cache's index; the same arguments pass,
    another ``--max-num-batched-tokens`` fails the test."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_deploy.py").write_text(PLUGIN_SUITE.format(model=MODELS / "tiny-llama"))
    cold = json.loads((baked.parent / "cold.json").read_text())
    (folder,) = cold["hash_folders"]
    (written,) = folder["prefixes"]
    filed = {ast.literal_eval(e["key"])[1]: e["value"]["cache_key"] for e in written["index"]}

    def pytest_run(serve: tuple[str, ...], *extra: str) -> subprocess.CompletedProcess[str]:
        env = _env("artifacts", tmp_path / "unused", {"SERVE_ARGS": " ".join(serve)})
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "-p", "no:randomly", *extra, str(suite)], env=env, cwd=suite,
                              capture_output=True, text=True, timeout=1200)

    first = pytest_run(SERVE, "--cachekey-update")
    assert first.returncode == 0, first.stdout[-3000:]
    doc = json.loads((suite / "keys" / "llama.json").read_text())
    compiled = sorted((p for p in doc["subgraphs"] if not p["splitting_op"]),
                      key=lambda p: int(p["name"].rsplit("_", 1)[1]))
    # vLLM's index counts the compiled pieces (submod_0, _2, _4 are its 0, 1, 2)
    assert [p["keys"]["aot_key"] for p in compiled] == [filed[i] for i in sorted(filed)]
    assert len(filed) == 3

    same = pytest_run(SERVE)
    assert same.returncode == 0, same.stdout[-3000:]
    moved = pytest_run(("--max-num-batched-tokens", "4096", "--dtype", "float32"))
    assert moved.returncode == 1, moved.stdout[-3000:]
    assert "1 failed" in moved.stdout and "drift" in moved.stdout.lower(), moved.stdout[-3000:]
    assert json.loads((suite / "keys" / "llama.json").read_text()) == doc  # not clobbered
