"""Real vLLM is the oracle: cachekey's keys and folder names equal what vLLM files.

The installed release (0.32.0, 0.33.0 or 0.34.0) runs; every assertion holds for each.

For each model and each of vLLM's three cache modes, ``fixtures/vllm/run_vllm.py``
runs vLLM's own compile on the CPU and reports what it filed (index, artifact
headers, ``aotautograd``/``fxgraph`` folders of every Inductor cache, hash
folder, AOT-compile folder); ``cachekey snapshot --vllm-config`` runs in a fresh
process with the same environment and the same config as JSON
(``fixtures/vllm/cpu_config.json``), and every key it reports must be the one
vLLM filed. Heavy (a vLLM run is about a minute): ``make test-vllm``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cachekey_cli.vllm import probe

ROOT = Path(__file__).resolve().parents[2]
VLLM_DIR = ROOT / "fixtures" / "vllm"
CONFIG = VLLM_DIR / "cpu_config.json"
MODELS = ("custom_op_model.py", "deep_decoder.py")
INSTALLED = importlib.metadata.version("vllm") if probe.installed() else ""

pytestmark = pytest.mark.skipif(
    not probe.installed(), reason="vLLM is not importable: make test-vllm"
)


def _driver_modes() -> dict[str, dict[str, str]]:
    spec = importlib.util.spec_from_file_location("run_vllm_driver", VLLM_DIR / "run_vllm.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.MODES)


MODES = _driver_modes()


def _env(mode: str, root: Path) -> dict[str, str]:
    # nothing of this process's vLLM or Inductor set-up: in the modes without AOT compile,
    # vLLM files into whatever TORCHINDUCTOR_CACHE_DIR it inherits (torch sets it on import)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLLM_", "TORCHINDUCTOR_"))}
    env.update(MODES[mode])
    env["VLLM_CACHE_ROOT"] = str(root)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]


def _real_and_ours(
    model: str, mode: str, tmp: Path, sizes: tuple[int, ...] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    config = json.loads(CONFIG.read_text())
    config["compilation_config"]["compile_sizes"] = list(sizes)
    (tmp / "vllm.json").write_text(json.dumps(config))
    _run([sys.executable, str(VLLM_DIR / "run_vllm.py"), str(VLLM_DIR / model),
          "--cache-root", str(tmp / "vllm"), "--mode", mode, "--json-out", str(tmp / "real.json"),
          *[f"--compile-size={n}" for n in sizes]],
         _env(mode, tmp / "vllm"))
    _run([sys.executable, "-m", "cachekey_cli", "-q", "snapshot", str(VLLM_DIR / model),
          "--vllm-config", str(tmp / "vllm.json"), "-o", str(tmp / "ours.json")],
         _env(mode, tmp / "unused"))
    return json.loads((tmp / "real.json").read_text()), json.loads((tmp / "ours.json").read_text())


def _compiled(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """The pieces vLLM compiles, in its order (graph index = position here)."""
    pieces = [p for p in snapshot["subgraphs"] if not p["splitting_op"]]
    assert {p["graph"] for p in pieces} == {0}  # fullgraph: one Dynamo graph
    return sorted(pieces, key=lambda p: int(p["name"].rsplit("_", 1)[1]))


CASES = [(model, mode, ()) for model in MODELS for mode in sorted(MODES)]
CASES.append(("deep_decoder.py", "artifacts", (8,)))  # a single size besides the range


@pytest.mark.parametrize(("model", "mode", "sizes"), CASES)
def test_keys_and_folders_equal_real_vllm(model, mode, sizes, tmp_path, capsys):
    real, ours = _real_and_ours(model, mode, tmp_path, sizes)
    assert real["vllm"] == INSTALLED and not real["stopped_after_factors"]
    profile = ours["profile"]
    assert profile["client"] == f"vLLM {INSTALLED} (importable)" and profile["not_reproduced"] == []
    assert profile["compile_range"] == "[1, 2048]" and profile["compile_sizes"] == list(sizes)
    pieces = _compiled(ours)
    # each compile vLLM runs, by compile range: the general range, then one per size
    by_range = {(1, 2048): [p["keys"] for p in pieces]}
    for n in sizes:
        by_range[(n, n)] = [p["sizes"][str(n)] for p in pieces]
    aot = [k["aot_key"] for keys in by_range.values() for k in keys]
    fx = [k["inductor_key"] for keys in by_range.values() for k in keys]
    assert all(aot)
    tally = {"pieces": len(pieces), "compiles": len(aot)}

    # the hash folder: its name and each factor vLLM wrote
    (folder,) = real["hash_folders"]
    (written,) = folder["prefixes"]
    assert profile["hash_folder"] == folder["hash"] == written["folder_hash_recomputed"]
    for factor in ("env_hash", "config_hash", "code_hash", "compiler_hash"):
        assert profile["folder_factors"][factor] == written[factor], factor
    assert (profile["folder_factors"]["rank_folder"], profile["folder_factors"]["prefix"]) == (
        written["rank"], written["prefix"])

    # every key in every Inductor cache vLLM filed into
    filed_aot = sorted({k for c in real["inductor_caches"] for k in c["aotautograd"]})
    filed_fx = sorted({k for c in real["inductor_caches"] for k in c["fxgraph"]})
    assert filed_aot == sorted(set(aot))
    tally["aotautograd folders"] = len(filed_aot)
    bundled = mode in ("mega", "no-aot-mega")  # the pieces compile for the mega artifact
    if bundled:  # one bundled AOT entry per piece: no FX entry, and we say so
        assert filed_fx == [] and fx == [None] * len(pieces)
    else:
        assert all(fx) and filed_fx == sorted(set(fx))
        tally["fxgraph keys"] = len(filed_fx)

    # the AOT-compile folder (the whole model, in the AOT-compile modes)
    if mode.startswith("no-aot"):
        assert real["torch_aot_compile"] == [] and profile["aot_compile_folder"] is None
    else:
        (model_dir,) = real["torch_aot_compile"]
        assert profile["aot_compile_folder"] == model_dir["hash"]
        assert model_dir["aotautograd"] == sorted(set(aot))

    # per-piece artifacts (VLLM_USE_AOT_COMPILE=0 too: it only changes how the model is
    # captured): the index's cache_key and each binary artifact's header
    if not bundled:
        index = {ast.literal_eval(e["key"]): e["value"] for e in written["index"]}
        for (compile_range, i, compiler), value in index.items():
            assert compiler == "inductor_standalone"
            assert value["cache_key"] == by_range[compile_range][i]["aot_key"], (compile_range, i)
        repeated = 0
        for compile_range, keys in by_range.items():
            filed = {i for r, i, _ in index if r == compile_range}
            for i in set(range(len(keys))) - filed:  # vLLM files a repeated piece once
                assert keys[i]["aot_key"] in [k["aot_key"] for k in keys[:i]]
                repeated += 1
        if model == "deep_decoder.py":  # its last two layer boundaries are one piece
            assert repeated == len(by_range), repeated
        tally["repeated pieces"] = repeated
        assert written["artifacts"]
        for art in written["artifacts"]:
            match = re.fullmatch(r"artifact_compile_range_(\d+)_(\d+)_subgraph_(\d+)", art["name"])
            assert match, art["name"]
            start, end, i = (int(x) for x in match.groups())
            assert art["header"] == "CacheCompiledArtifact"
            assert art["aot_key"] == by_range[(start, end)][i]["aot_key"], art["name"]
        tally["index entries"] = len(index)
        tally["artifact headers"] = len(written["artifacts"])
    else:
        assert "index" not in written and written["artifacts"] == []
    with capsys.disabled():
        counts = ", ".join(f"{k} {v}" for k, v in tally.items())
        label = f"{model} {mode}" + "".join(f" size {n}" for n in sizes)
        print(f"\n{label}: all equal ({counts}); hash folder {folder['hash']}")
