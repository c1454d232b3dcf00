"""``check --cache`` against ``check --baseline`` on caches of 1,000 artifacts (part of make bench).

The budget (issue 13): ``check --cache`` may cost at most ``check --baseline``
plus 0.5 s. Both run in fresh processes on the benchmark model
(fixtures/llama.py, ``CACHEKEY_LAYERS`` layers, 8 by default), side by side:
one untimed warm-up of each, then ``--reps`` rounds (5) of both, the order
alternating; the figure is the difference of the wall-time medians (the
median of the paired differences and the CPU times are recorded too).

* vllm profile (``VLLM_USE_MEGA_AOT_ARTIFACT=0``): a vLLM cache folder whose
  factors fit the model (so the index is read and every piece looked up) and
  that holds 1,000 artifacts and index entries. Each artifact is a copy of a
  real one vLLM 0.33.0 wrote (fixtures/vllm_cache/artifacts-a); every header is
  read.
* torch-compile profile: the Inductor cache of a real ``torch.compile`` of the
  model, plus 1,000 AOTAutograd and 1,000 FX-graph key folders (copies of its
  own entries under other keys), so the listing is that large.

A run counts only if it did the whole comparison: exit 0 or 1 and a JSON
report of the expected kind that covers every piece (``--baseline``: every
subgraph of the snapshot; ``--cache``: every compiled piece, each with a
hit/miss/stale answer). Anything else, or a difference over the budget, is a
failure: ``bench()`` lists it under ``failures`` and ``main`` exits 1.

Run alone: ``python benchmarks/cache_check.py [--layers N] [--reps N]``; it
writes benchmarks/results/cache-check-<UTC time>.json (``make bench`` puts the
same record under ``cache_check`` in its own file).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.timing import BIN, MODEL, RESULTS, _env, machine, measure  # noqa: E402
from cachekey_cli.cache_hits.records import WORDS  # noqa: E402

ARTIFACTS = 1000
BUDGET_S = 0.5
REPS = 5
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
    from cachekey_cli.vllm.identity.code_factor import code_hash
    from cachekey_cli.vllm.releases import folder_from_hashes, hash_factors

    env = {"VLLM_USE_AOT_COMPILE": True, "VLLM_USE_MEGA_AOT_ARTIFACT": False}
    facts = {"env": env, "config_hash": "0123456789", "code_hash": code_hash(traced),
             "compiler_hash": "9876543210"}
    name = folder_from_hashes(hash_factors(env), facts["config_hash"], facts["code_hash"],
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


def _run(cmd: list[str], env: dict[str, str], label: str, kind: str, pieces: int
         ) -> dict[str, Any]:
    """One timed run; ``problem`` says why it cannot count (exit code, report, piece count)."""
    r = measure(cmd, env, label)
    r["load_1min"] = round(os.getloadavg()[0], 2)
    r["problem"] = _problem(r, kind, pieces)
    if r["problem"] is None and kind == "check-cache":
        r["answers"] = {w: json.loads(r["_stdout"])["summary"][w] for w in WORDS}
    r.pop("_stdout")
    r.pop("_stderr")
    return r


def _problem(r: dict[str, Any], kind: str, pieces: int) -> str | None:
    """None when the run did the whole comparison: exit 0 or 1 and a report of every piece."""
    if r["exit_code"] not in (0, 1):
        last = (r["_stderr"].strip().splitlines() or ["(no stderr)"])[-1]
        return f"exit {r['exit_code']}: {last[:300]}"
    try:
        doc = json.loads(r["_stdout"])
    except ValueError as exc:
        return f"exit {r['exit_code']} but stdout is not a JSON report ({exc})"
    listed = doc.get("pieces" if kind == "check-cache" else "subgraphs")
    if doc.get("kind") != kind or not isinstance(listed, list):
        return f"the JSON report is not a {kind} report"
    if len(listed) != pieces:
        return f"the report covers {len(listed)} pieces, {pieces} expected"
    if kind == "check-cache" and any(p.get("cache") not in WORDS for p in listed):
        return "a piece of the report has no hit/miss/stale answer"
    return None


def _side_by_side(runs: dict[str, tuple[list[str], str, int]], env: dict[str, str],
                  profile: str, reps: int) -> dict[str, Any]:
    """One untimed warm-up each, then ``reps`` rounds of both, the order alternating."""
    timed: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    order = list(runs)
    for n in range(reps + 1):
        for name in order if n % 2 == 0 else order[::-1]:
            cmd, kind, pieces = runs[name]
            tag = "warm-up" if n == 0 else f"{n}/{reps}"
            r = _run(cmd, env, f"check --{name} ({profile}) {tag}", kind, pieces)
            if r["problem"] is not None:
                raise BenchFailure(f"check --{name} ({profile}): {r['problem']}")
            if n:
                timed[name].append(r)
    out: dict[str, Any] = {}
    for name, rs in timed.items():
        out[name] = {
            "wall_s_median": round(statistics.median(r["wall_s"] for r in rs), 3),
            "cpu_s_median": round(statistics.median(r["cpu_s"] for r in rs), 3),
            "runs": rs,
        }
    both = zip(timed["baseline"], timed["cache"], strict=True)
    pairs = [c["wall_s"] - b["wall_s"] for b, c in both]
    out["extra_s"] = round(out["cache"]["wall_s_median"] - out["baseline"]["wall_s_median"], 3)
    out["extra_s_paired_median"] = round(statistics.median(pairs), 3)
    out["extra_cpu_s"] = round(out["cache"]["cpu_s_median"] - out["baseline"]["cpu_s_median"], 3)
    out["within_budget"] = out["extra_s"] <= BUDGET_S
    return out


class BenchFailure(Exception):
    """A run that did not do the work it was timed for."""


def bench(layers: int = 8, reps: int = REPS) -> dict[str, Any]:
    """Both profiles; ``failures`` lists every figure that broke or missed the budget."""
    print(f"check --cache vs --baseline, {ARTIFACTS} artifacts, {layers} layers",
          file=sys.stderr, flush=True)
    folder = Path(tempfile.mkdtemp(prefix="cachekey-bench-cache-"))
    out: dict[str, Any] = {"artifacts": ARTIFACTS, "layers": layers, "budget_s": BUDGET_S,
                           "repetitions": reps, "load_avg_at_start": os.getloadavg(),
                           "failures": []}
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
                why = made["_stderr"].strip()[-300:]
                out[profile] = {"error": why}
                out["failures"].append(f"snapshot ({profile}) failed: {why}")
                continue
            doc = json.loads(snap.read_text())
            split = doc["split"]
            if profile == "vllm":
                cache = _vllm_cache(folder / "vllm", doc["meta"]["traced_paths"])
            else:
                cache = _inductor_cache(folder, env)
            runs = {
                "baseline": ([*base, "check", MODEL, "--baseline", str(snap), *opts], "check",
                             split["pieces"]),
                "cache": ([*base, "check", MODEL, "--cache", str(cache), *opts], "check-cache",
                          split["compiled"]),
            }
            try:
                out[profile] = {"pieces": split["pieces"], "compiled": split["compiled"],
                                **_side_by_side(runs, env, profile, reps)}
            except BenchFailure as exc:
                out[profile] = {"error": str(exc)}
                out["failures"].append(str(exc))
                continue
            if not out[profile]["within_budget"]:
                c = out[profile]
                out["failures"].append(
                    f"check --cache ({profile}, {ARTIFACTS} artifacts) costs +{c['extra_s']} s "
                    f"over check --baseline (median {c['cache']['wall_s_median']} s against "
                    f"{c['baseline']['wall_s_median']} s): over the +{BUDGET_S} s budget")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out["load_avg_at_end"] = os.getloadavg()
    return out


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--reps", type=int, default=REPS, help="timed runs of each command")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = ap.parse_args(argv)
    started = datetime.now(timezone.utc)
    doc = {"machine": machine(), "started": started.isoformat(timespec="seconds"),
           **bench(args.layers, args.reps)}
    out = Path(args.out) if args.out else RESULTS / f"cache-check-{started:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    for profile in ("vllm", "torch-compile"):
        c = doc.get(profile, {})
        if "extra_s" in c:
            print(f"{profile}: --cache {c['cache']['wall_s_median']} s, --baseline "
                  f"{c['baseline']['wall_s_median']} s: {c['extra_s']:+} s wall, "
                  f"{c['extra_cpu_s']:+} s CPU (budget +{BUDGET_S} s)")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    for failure in doc["failures"]:
        print(f"cache_check: FAILED: {failure}", file=sys.stderr)
    return 1 if doc["failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
