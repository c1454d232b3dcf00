"""``check --cache`` against ``check --baseline`` on caches of 1,000 artifacts (part of make bench).

The budget (issue 13): ``check --cache`` may cost at most ``check --baseline``
plus 0.5 s. Both run in fresh processes on the benchmark model
(fixtures/llama.py, ``CACHEKEY_LAYERS`` layers), median of three each:

* vllm profile (``VLLM_USE_MEGA_AOT_ARTIFACT=0``): a vLLM cache folder whose
  factors fit the model (so the index is read and every piece looked up) and
  that holds 1,000 artifacts and index entries. Each artifact is a copy of a
  real one vLLM 0.33.0 wrote (fixtures/vllm_cache/artifacts-a); every header is
  read.
* torch-compile profile: the Inductor cache of a real ``torch.compile`` of the
  model, plus 1,000 AOTAutograd and 1,000 FX-graph key folders (copies of its
  own entries under other keys), so the listing is that large.

Run alone: ``python benchmarks/cache_check.py [--layers N]``.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.run import BIN, MODEL, _env, measure  # noqa: E402

ARTIFACTS = 1000
BUDGET_S = 0.5
REAL = ROOT / "fixtures/vllm_cache/artifacts-a/torch_compile_cache/dfccc35c6f/rank_0_0/backbone"
COMPILE = """
import sys
import torch
sys.path.insert(0, "fixtures")
import llama
model, args = llama.build()
model.eval()
with torch.inference_mode():  # as cachekey keys it (its default)
    torch.compile(model)(*args)
"""


def _vllm_cache(folder: Path, traced: list[str]) -> Path:
    from cachekey_cli.vllm_cache.code_factor import code_hash
    from cachekey_cli.vllm_cache.factors import folder_hash_033, hash_factors

    env = {"VLLM_USE_AOT_COMPILE": True, "VLLM_USE_MEGA_AOT_ARTIFACT": False}
    facts = {"env": env, "config_hash": "0123456789", "code_hash": code_hash(traced),
             "compiler_hash": "9876543210"}
    name = folder_hash_033(hash_factors(env), facts["config_hash"], facts["code_hash"],
                           facts["compiler_hash"])
    prefix = folder / "torch_compile_cache" / name / "rank_0_0" / "backbone"
    prefix.mkdir(parents=True)
    (prefix / "cache_key_factors.json").write_text(json.dumps(facts))
    sources = sorted(REAL.glob("artifact_*"))
    index = {}
    for i in range(ARTIFACTS):
        art = f"artifact_compile_range_1_2048_subgraph_{i}"
        shutil.copy(sources[i % len(sources)], prefix / art)
        index[((1, 2048), i, "inductor_standalone")] = {
            "cache_key": f"a{i:051d}", "graph_handle": (art, str(prefix / art))}
    (prefix / "vllm_compile_cache.py").write_text(repr(index))
    return folder


def _inductor_cache(folder: Path, env: dict[str, str]) -> Path:
    cache = folder / "inductor"
    r = measure([str(BIN / "python"), "-c", COMPILE],
                {**env, "TORCHINDUCTOR_CACHE_DIR": str(cache)}, "torch.compile (cold)")
    if r["exit_code"] != 0:
        raise SystemExit(f"the cold compile failed: {r['_stderr'][-500:]}")
    aot = sorted(p for p in (cache / "aotautograd").iterdir())
    fx = sorted(p for p in (cache / "fxgraph").glob("*/*"))
    for i in range(ARTIFACTS):
        shutil.copytree(aot[i % len(aot)], cache / "aotautograd" / f"a{i:051d}")
        shutil.copytree(fx[i % len(fx)], cache / "fxgraph" / "zz" / f"fzz{i:049d}")
    return cache


def _median(cmd: list[str], env: dict[str, str], label: str) -> dict[str, Any]:
    runs = [measure(cmd, env, label) for _ in range(3)]
    return {"wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 3),
            "wall_s_all": [r["wall_s"] for r in runs],
            "exit_codes": sorted({r["exit_code"] for r in runs})}


def bench(layers: int = 8) -> dict[str, Any]:
    print(f"check --cache vs --baseline, {ARTIFACTS} artifacts, {layers} layers",
          file=sys.stderr, flush=True)
    folder = Path(tempfile.mkdtemp(prefix="cachekey-bench-cache-"))
    out: dict[str, Any] = {"artifacts": ARTIFACTS, "layers": layers, "budget_s": BUDGET_S}
    try:
        for profile, extra in (("vllm", {"VLLM_USE_MEGA_AOT_ARTIFACT": "0"}),
                               ("torch-compile", {})):
            env = _env(CACHEKEY_LAYERS=str(layers), **extra)
            snap = folder / f"{profile}.json"
            base = [str(BIN / "cachekey"), "-q"]
            opts = ["--profile", profile, "--format", "json"]
            made = measure([*base, "snapshot", MODEL, "--profile", profile, "-o", str(snap)],
                           env, f"snapshot ({profile})")
            if made["exit_code"] != 0:
                out[profile] = {"error": made["_stderr"].strip()[-300:]}
                continue
            if profile == "vllm":
                traced = json.loads(snap.read_text())["meta"]["traced_paths"]
                cache = _vllm_cache(folder / "vllm", traced)
            else:
                cache = _inductor_cache(folder, env)
            baseline = _median([*base, "check", MODEL, "--baseline", str(snap), *opts], env,
                               f"check --baseline ({profile})")
            checked = _median([*base, "check", MODEL, "--cache", str(cache), *opts], env,
                              f"check --cache ({profile})")
            extra_s = round(checked["wall_s_median"] - baseline["wall_s_median"], 3)
            out[profile] = {"baseline": baseline, "cache": checked, "extra_s": extra_s,
                            "within_budget": extra_s <= BUDGET_S}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=8)
    args = ap.parse_args(argv)
    doc = bench(args.layers)
    print(json.dumps(doc, indent=2))
    return 0 if all(v.get("within_budget") for v in doc.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
