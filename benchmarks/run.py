"""``make bench``: time ``cachekey diff`` against the compile it predicts.

For each layer count of the Llama-shaped benchmark model (fixtures/llama.py,
hidden 64) every measurement runs in a fresh process, so each includes
``import torch`` and start-up, exactly as a user would pay for it:

* ``diff``   ``cachekey -v diff MODEL --format json`` (both variants, all three key kinds)
* ``trace``  the Dynamo trace alone (benchmarks/workloads.py trace)
* ``cold``   ``torch.compile`` with Inductor into a fresh, empty TORCHINDUCTOR_CACHE_DIR
* ``warm``   the same compile again in a new process, same cache directory

and ``check --cache`` against ``check --baseline`` on caches of 1,000 artifacts
(benchmarks/cache_check.py; ``--no-cache-check`` skips it).

Wall time is measured around the process, peak RSS comes from ``os.wait4``'s
rusage for that one child (its own peak; the C++ compiler processes Inductor
spawns are counted separately by the kernel and are not included). It also
times start-up (``cachekey --help``, ``cachekey explain`` if present) and,
unless ``--no-8b``, the Llama-3-8B- and 70B-shaped examples with ``--init meta``
(budget: 20 s and 1 GB each, reported, not gated), the same shapes as Hugging Face
configs through ``hf:``, and, where a vLLM venv is found (``VLLM_VENV``, else
``.venv-vllm-0.34.0``), ``cachekey diff vllm:`` side by side with vLLM's own floor on four
deployed shapes (benchmarks/vllm_floor.py: ratios of wall time and peak RSS, goal 1.10×;
``--no-vllm`` skips it).

Prints a table and writes JSON to benchmarks/results/. A benchmark, not a
test: on a shared machine the numbers are noisy. One figure is a gate: it exits
1, naming the figure, when ``check --cache`` breaks or costs more than
``check --baseline`` + 0.5 s (issue 13's budget).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # as a script: the repo root
from benchmarks.timing import BIN, MODEL, RESULTS, ROOT, _env, machine, measure  # noqa: E402

MODEL_8B = "fixtures/llama3_8b.py"
MODEL_70B = "fixtures/llama3_8b.py:build_70b"
SHAPE_BUDGET = (20.0, 1024)  # a deployed shape under --init meta: seconds, MB (reported)
# the same Llama-3 shapes as Hugging Face configs, through hf: (this venv); vllm: of them is
# measured against vLLM's own floor (benchmarks/vllm_floor.py)
SHAPE_CONFIGS = {"8b": "fixtures/vllm/models/llama3-8b", "70b": "fixtures/vllm/models/llama3-70b"}


def bench_shapes() -> dict[str, Any]:
    """hf: of the 8B and 70B configs, in turn."""
    out: dict[str, Any] = {}
    for shape, folder in SHAPE_CONFIGS.items():
        print(f"llama3-{shape} config: hf:", file=sys.stderr, flush=True)
        out[f"hf_{shape}"] = run_diff(f"hf:{folder}", _env(), "cachekey diff hf:")
    return out


def run_diff(model: str, env: dict[str, str], label: str, *extra: str) -> dict[str, Any]:
    """``cachekey diff`` in a fresh process."""
    r = measure([str(BIN / "cachekey"), "-q", "diff", model, "--format", "json", *extra], env,
                label)
    if r["exit_code"] in (0, 1):
        doc = json.loads(r["_stdout"])
        r["timings"] = doc["meta"]["timings"]
        r["pieces"] = doc["summary"]["pieces"]
        r["compiled"] = doc["summary"]["compiled"]
    else:
        r["error"] = r["_stderr"].strip().splitlines()[-1:]
    return r


def bench_layers(layers: int, compile_too: bool) -> dict[str, Any]:
    print(f"{layers} layers", file=sys.stderr, flush=True)
    env = _env(CACHEKEY_LAYERS=str(layers))
    py = str(BIN / "python")
    row: dict[str, Any] = {"layers": layers}
    row["diff"] = run_diff(MODEL, env, "cachekey diff")
    row["trace"] = measure([py, "benchmarks/workloads.py", "trace", MODEL], env, "dynamo trace")
    if compile_too:
        cache = tempfile.mkdtemp(prefix="cachekey-bench-inductor-")
        try:
            cenv = _env(CACHEKEY_LAYERS=str(layers), TORCHINDUCTOR_CACHE_DIR=cache)
            cmd = [py, "benchmarks/workloads.py", "compile", MODEL]
            row["cold"] = measure(cmd, cenv, "torch.compile cold")
            row["warm"] = measure(cmd, cenv, "torch.compile warm")
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    return row


def bench_startup(snapshot_layers: int) -> dict[str, Any]:
    """``cachekey --help`` and ``cachekey explain`` on two snapshots of the benchmark model."""
    print("start-up", file=sys.stderr, flush=True)
    probe = (
        "import sys; from cachekey_cli.cli import run_cli; code = run_cli(sys.argv[1:]); "
        "print('TORCH_IMPORTED=' + str('torch' in sys.modules), file=sys.stderr); "
        "sys.exit(code)"
    )
    out: dict[str, Any] = {}
    folder = Path(tempfile.mkdtemp(prefix="cachekey-bench-snap-"))
    try:
        cases: list[tuple[str, list[str]]] = [("help", ["--help"])]
        old, new = folder / "old.json", folder / "new.json"
        env = _env(CACHEKEY_LAYERS=str(snapshot_layers))
        base = [str(BIN / "cachekey"), "-q", "snapshot", MODEL]
        made = measure([*base, "-o", str(old)], env, f"snapshot ({snapshot_layers} layers)")
        if made["exit_code"] == 0:
            measure([*base, "-o", str(new), "--inductor-config", "fallback_random=True"],
                    env, "snapshot, config changed")
            cases.append(("explain", ["explain", str(old), str(new), "--format", "json"]))
        else:
            out["explain"] = {"available": False, "why": made["_stderr"].strip()[-300:]}
        for name, args in cases:
            walls = []
            for _ in range(3):
                r = measure([str(BIN / "cachekey"), *args], _env(), f"cachekey {name}")
                walls.append(r["wall_s"])
            probe_cmd = [str(BIN / "python"), "-c", probe, *args]
            imported = measure(probe_cmd, _env(), "  torch import probe")
            out[name] = {
                "available": True,
                "wall_s_median": round(statistics.median(walls), 3),
                "wall_s_all": walls,
                "peak_rss_mb": r["peak_rss_mb"],
                "exit_code": r["exit_code"],
                "imports_torch": "TORCH_IMPORTED=True" in imported["_stderr"],
            }
        if "explain" in out and out["explain"].get("available"):
            out["explain"]["snapshot_layers"] = snapshot_layers
            out["explain"]["snapshot_bytes"] = old.stat().st_size
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


def _wall(row: dict[str, Any], kind: str) -> float | None:
    m = row.get(kind)
    return m["wall_s"] if m and m.get("exit_code") in (0, 1) else None


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {r["layers"]: r for r in rows}
    s: dict[str, Any] = {}
    for r in rows:
        r["ratios"] = {
            "diff_over_cold": ratio(_wall(r, "diff"), _wall(r, "cold")),
            "diff_over_warm": ratio(_wall(r, "diff"), _wall(r, "warm")),
            "diff_over_trace": ratio(_wall(r, "diff"), _wall(r, "trace")),
        }
    if 8 in by and 32 in by:
        s["diff_t32_over_t8"] = ratio(_wall(by[32], "diff"), _wall(by[8], "diff"))
        s["cold_t32_over_t8"] = ratio(_wall(by[32], "cold"), _wall(by[8], "cold"))
    s["aot_key_ms_median_by_layers"] = {
        r["layers"]: r["diff"]["timings"].get("aot_key_ms_median")
        for r in rows
        if "timings" in r["diff"]
    }
    return s


def table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'layers':>6} | {'diff s':>7} {'MB':>6} | {'trace s':>7} {'MB':>6} | "
            f"{'cold s':>7} {'MB':>6} | {'warm s':>7} {'MB':>6} | "
            f"{'diff/cold':>9} {'diff/warm':>9} {'diff/trace':>10} | "
            f"{'AOT ms':>6} {'ind c/r/s':>9}")
    lines = [head, "-" * len(head)]

    def cell(m: dict[str, Any] | None) -> str:
        if not m:
            return f"{'-':>7} {'-':>6}"
        return f"{m['wall_s']:7.2f} {m['peak_rss_mb']:6.0f}"

    def fmt(x: float | None, w: int) -> str:
        return f"{x:{w}.3f}" if x is not None else f"{'-':>{w}}"

    for r in rows:
        t = r["diff"].get("timings", {})
        ind = "/".join(
            str(int(t.get(k, 0)))
            for k in ("inductor_keys_computed", "inductor_keys_reused",
                      "pieces_keyed_once_for_both_variants")
        )
        ra = r["ratios"]
        lines.append(
            f"{r['layers']:>6} | {cell(r.get('diff'))} | {cell(r.get('trace'))} | "
            f"{cell(r.get('cold'))} | {cell(r.get('warm'))} | {fmt(ra['diff_over_cold'], 9)} "
            f"{fmt(ra['diff_over_warm'], 9)} {fmt(ra['diff_over_trace'], 10)} | "
            f"{fmt(t.get('aot_key_ms_median'), 6)} {ind:>9}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default="4,8,16,32", help="comma-separated layer counts")
    ap.add_argument("--quick", action="store_true",
                    help="layers 4,8 only, no 8B example (a few minutes)")
    ap.add_argument("--no-compile", action="store_true", help="skip the real torch.compile runs")
    ap.add_argument("--no-8b", action="store_true",
                    help="skip the Llama-3-8B- and 70B-shaped examples")
    ap.add_argument("--no-vllm", action="store_true",
                    help="skip cachekey diff vllm: against vLLM's floor (four shapes)")
    ap.add_argument("--vllm-reps", type=int, default=3, help="pairs per shape against the floor")
    ap.add_argument("--no-cache-check", action="store_true",
                    help="skip check --cache vs check --baseline on 1,000 artifacts")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = ap.parse_args(argv)
    layers = [4, 8] if args.quick else [int(x) for x in args.layers.split(",") if x]
    started = datetime.now(timezone.utc)
    doc: dict[str, Any] = {"machine": machine(), "started": started.isoformat(timespec="seconds")}
    doc["startup"] = bench_startup(max(layers))
    rows = [bench_layers(n, not args.no_compile) for n in layers]
    doc["summary"] = summarize(rows)
    if not (args.quick or args.no_8b):
        print("llama3-8b shape, --init meta", file=sys.stderr, flush=True)
        doc["llama3_8b_meta"] = run_diff(MODEL_8B, _env(), "cachekey diff --init meta",
                                         "--init", "meta")
        print("llama3-70b shape, --init meta", file=sys.stderr, flush=True)
        doc["llama3_70b_meta"] = run_diff(MODEL_70B, _env(), "cachekey diff --init meta",
                                          "--init", "meta")
        doc["shapes"] = bench_shapes()
    if not (args.quick or args.no_vllm):
        from benchmarks import vllm_floor

        doc["vllm_floor"] = vllm_floor.bench(list(vllm_floor.SHAPES), args.vllm_reps,
                                             guards=True)
    doc["layers"] = rows
    if not args.no_cache_check:
        from benchmarks import cache_check

        doc["cache_check"] = cache_check.bench(8)
    doc["elapsed_s"] = round((datetime.now(timezone.utc) - started).total_seconds(), 1)
    for m in _measurements(doc):
        m.pop("_stdout", None)
        m.pop("_stderr", None)
    out = Path(args.out) if args.out else RESULTS / f"bench-{started:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(rows))
    print()
    for key, value in doc["summary"].items():
        print(f"{key}: {value}")
    for name, s in doc["startup"].items():
        print(f"startup {name}: {s}")
    for shape in ("8b", "70b"):
        if f"llama3_{shape}_meta" in doc:
            m = doc[f"llama3_{shape}_meta"]
            within = m["wall_s"] <= SHAPE_BUDGET[0] and m["peak_rss_mb"] <= SHAPE_BUDGET[1]
            print(f"llama3-{shape} --init meta: {m['wall_s']} s, {m['peak_rss_mb']} MB, "
                  f"rc={m['exit_code']} ({'within' if within else 'OVER'} the budget of "
                  f"{SHAPE_BUDGET[0]} s and {SHAPE_BUDGET[1]} MB)")
    for name, m in doc.get("shapes", {}).items():
        route, shape = name.split("_")
        print(f"llama3-{shape} config via {route}: {m['wall_s']} s, {m['peak_rss_mb']} MB, "
              f"rc={m['exit_code']}")
    if "vllm_floor" in doc:
        from benchmarks import vllm_floor

        print(vllm_floor.table(doc["vllm_floor"]))
    cc = doc.get("cache_check", {})
    for profile, c in cc.items():
        if isinstance(c, dict) and "extra_s" in c:
            print(f"check --cache ({profile}, {cc['artifacts']} artifacts): "
                  f"{c['cache']['wall_s_median']} s vs --baseline {c['baseline']['wall_s_median']}"
                  f" s: {c['extra_s']:+} s (budget +{cc['budget_s']} s, median of "
                  f"{cc['repetitions']}, paired {c['extra_s_paired_median']:+} s)")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    # the budgets that fail `make bench` (the other figures are reported, not gated)
    for failure in cc.get("failures", []):
        print(f"bench: FAILED: {failure}", file=sys.stderr)
    return 1 if cc.get("failures") else 0


def _measurements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = [r[k] for r in doc["layers"] for k in ("diff", "trace", "cold", "warm") if k in r]
    found += [doc[k] for k in ("llama3_8b_meta", "llama3_70b_meta") if k in doc]
    found += list(doc.get("shapes", {}).values())
    return found  # vllm_floor keeps no output (vllm_floor._brief)


if __name__ == "__main__":
    sys.exit(main())
