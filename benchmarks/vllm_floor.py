"""``cachekey diff vllm:`` against vLLM's own floor, side by side, on deployed shapes.

The floor is what any tool that keys a vLLM deployment must at least pay: a process that
imports vLLM, builds the same config from the same ``vllm serve`` arguments, builds the
model as vLLM's loader does but without weights, and runs vLLM's own
``@support_torch_compile`` Dynamo trace, stopped when that trace enters ``VllmBackend``
(``fixtures/vllm/run_vllm_serve.py --stop-after trace``: vLLM's code, not cachekey's).
``cachekey diff vllm:`` does all of that and then keys every piece both ways.

Each shape is a Hugging Face ``config.json`` with a real model's sizes and no weights
(``fixtures/vllm/models/``): Llama-3-8B, Llama-3-70B (80 layers), Qwen3-30B-A3B (48 MoE
layers, 128 experts) and Qwen3-Next-80B-A3B (48 layers, 3 of 4 Gated DeltaNet, 512
experts), keyed for ``--platform cuda`` in bf16. Both commands take the same serve
arguments and the same ``VLLM_CACHE_ROOT``, one per shape, warmed by one untimed run of
each: vLLM keeps there what it learns about a model class (``modelinfos/``; on a cold root
it inspects the class in a subprocess, about 10 s here), which a server's root has from its
first start. Every run is a fresh process of vLLM's venv; the two alternate, pair by pair,
and the ratios are medians of the pairs' ratios (wall, peak RSS of the process from
``os.wait4``).

``--guards`` adds one more floor run per shape with Dynamo's guard rebuild timed: each
opaque object vLLM hoists into the graph as a synthetic input (a ``LayerName`` per layer on
torch 2.14) makes ``GuardsSet.remove_guards_with_source`` rebuild the whole guard index, so
the cost grows with layers × guards. That run is not counted in the ratios.

Run by ``make bench`` (``benchmarks/run.py``), or alone, with cachekey's Python::

    .venv/bin/python benchmarks/vllm_floor.py [--shapes 8b,70b,30b-a3b,next-80b] [--reps 3]
        [--guards] [--vllm-venv .venv-vllm-0.34.0]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # as a script: the repo root
from benchmarks.timing import ROOT, _env, measure  # noqa: E402

MODELS = ROOT / "fixtures" / "vllm" / "models"
DRIVER = ROOT / "fixtures" / "vllm" / "run_vllm_serve.py"
SHAPES = {
    "8b": MODELS / "llama3-8b",
    "70b": MODELS / "llama3-70b",
    "30b-a3b": MODELS / "qwen3-30b-a3b",
    "next-80b": MODELS / "qwen3-next-80b-a3b",
}
TOKENS = 2048
SERVE = ("--dtype", "bfloat16", "--max-num-batched-tokens", str(TOKENS))
GOAL = 1.10  # cachekey / floor, wall and peak RSS (issue 26)

# run in vLLM's Python: the driver, with GuardsSet.remove_guards_with_source timed
GUARD_TIMER = """
import json, os, runpy, sys, time
from torch import _guards
spent = {"calls": 0, "seconds": 0.0}
original = _guards.GuardsSet.remove_guards_with_source
def timed(self, source):
    t0 = time.perf_counter()
    try:
        return original(self, source)
    finally:
        spent["calls"] += 1
        spent["seconds"] += time.perf_counter() - t0
_guards.GuardsSet.remove_guards_with_source = timed
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    with open(os.environ["GUARD_TIMES_OUT"], "w") as f:
        json.dump(spent, f)
"""


def default_vllm_venv() -> Path:
    return Path(os.environ.get("VLLM_VENV", str(ROOT / ".venv-vllm-0.34.0")))


def floor_cmd(python: str, model: Path, cache_root: str) -> list[str]:
    return [python, str(DRIVER), str(model), "--cache-root", cache_root, "--platform", "cuda",
            "--cuda-build", "--stop-after", "trace", "--tokens", str(TOKENS), "--", *SERVE]


def cachekey_cmd(python: str, model: Path) -> list[str]:
    return [python, "-m", "cachekey_cli", "-q", "diff", f"vllm:{model}", "--platform", "cuda",
            "--format", "json", "--", *SERVE]


def _ok(m: dict[str, Any]) -> bool:
    return m["exit_code"] in (0, 1)  # diff exits 1 when the variants drift


def _brief(m: dict[str, Any]) -> dict[str, Any]:
    out = {k: m[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "exit_code")}
    if not _ok(m):
        out["error"] = m["_stderr"].strip().splitlines()[-1:]
    return out


def bench_shape(python: str, name: str, model: Path, reps: int, guards: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cachekey-floor-") as root:
        return _bench_shape(python, name, model, reps, guards, root)


def _bench_shape(python: str, name: str, model: Path, reps: int, guards: bool, root: str
                 ) -> dict[str, Any]:
    env = _env(PYTHONPATH=str(ROOT), VLLM_CACHE_ROOT=root)
    measure(floor_cmd(python, model, root), env, f"{name} vLLM floor (warm-up)")
    measure(cachekey_cmd(python, model), env, f"{name} cachekey (warm-up)")
    pairs: list[dict[str, Any]] = []
    keyed: dict[str, Any] = {}
    for _rep in range(reps):
        floor = measure(floor_cmd(python, model, root), env, f"{name} vLLM floor")
        ck = measure(cachekey_cmd(python, model), env, f"{name} cachekey diff vllm:")
        if _ok(ck) and not keyed:
            doc = json.loads(ck["_stdout"])
            keyed = {"pieces": doc["summary"]["pieces"], "compiled": doc["summary"]["compiled"],
                     "timings": doc["meta"].get("timings", {})}
        pair = {"floor": _brief(floor), "cachekey": _brief(ck)}
        if _ok(floor) and _ok(ck):
            pair["wall_ratio"] = round(ck["wall_s"] / floor["wall_s"], 3)
            pair["rss_ratio"] = round(ck["peak_rss_mb"] / floor["peak_rss_mb"], 3)
        pairs.append(pair)
    row: dict[str, Any] = {"shape": name, "model": str(model.relative_to(ROOT)),
                           "pairs": pairs, **keyed}
    done = [p for p in pairs if "wall_ratio" in p]
    if done:
        for key in ("wall_ratio", "rss_ratio"):
            row[key] = round(statistics.median(p[key] for p in done), 3)
        for side in ("floor", "cachekey"):
            row[f"{side}_wall_s"] = round(statistics.median(p[side]["wall_s"] for p in done), 2)
            row[f"{side}_rss_mb"] = round(statistics.median(p[side]["peak_rss_mb"]
                                                            for p in done), 1)
    if guards:
        row["guard_rebuild"] = time_guard_rebuild(python, name, model, env, root)
    return row


def time_guard_rebuild(python: str, name: str, model: Path, env: dict[str, str], root: str
                       ) -> dict[str, Any]:
    out = os.path.join(root, "guards.json")
    cmd = [python, "-c", GUARD_TIMER, *floor_cmd(python, model, root)[1:]]
    m = measure(cmd, {**env, "GUARD_TIMES_OUT": out}, f"{name} floor, guards timed")
    spent = json.loads(Path(out).read_text()) if os.path.exists(out) else {}
    return {"calls": spent.get("calls"), "seconds": round(spent.get("seconds", 0.0), 2),
            "floor_wall_s": m["wall_s"], "exit_code": m["exit_code"]}


def bench(shapes: list[str], reps: int, guards: bool, venv: Path | None = None
          ) -> dict[str, Any]:
    python = (venv or default_vllm_venv()) / "bin" / "python"
    if not python.exists():
        return {"available": False,
                "why": f"no vLLM venv at {python.parent.parent} (make test-vllm builds one; "
                       "VLLM_VENV=... names another)"}
    version = measure([str(python), "-c", "import vllm, torch; print(vllm.__version__, "
                       "torch.__version__)"], _env(), "vLLM version")["_stdout"].split()
    rows = [bench_shape(str(python), s, SHAPES[s], reps, guards) for s in shapes]
    return {"available": True, "vllm": version[0] if version else None,
            "torch": version[1] if len(version) > 1 else None, "reps": reps,
            "serve_args": list(SERVE), "goal": GOAL, "rows": rows}


def table(doc: dict[str, Any]) -> str:
    if not doc.get("available"):
        return f"vLLM floor: skipped ({doc.get('why')})"
    head = (f"{'shape':<9} | {'pieces':>6} | {'floor s':>7} {'MB':>6} | {'cachekey s':>10} "
            f"{'MB':>6} | {'wall ×':>6} {'RSS ×':>6} | {'guard rebuild':>14}")
    lines = [f"cachekey diff vllm: vs vLLM's floor (vLLM {doc['vllm']}, torch {doc['torch']}, "
             f"--platform cuda {' '.join(doc['serve_args'])}; medians of {doc['reps']} pairs; "
             f"goal ≤ {doc['goal']}×)", head, "-" * len(head)]
    for r in doc["rows"]:
        if "wall_ratio" not in r:
            errors = [p[s].get("error") for p in r["pairs"] for s in ("floor", "cachekey")
                      if p[s].get("error")]
            lines.append(f"{r['shape']:<9} | failed: {errors[:1]}")
            continue
        g = r.get("guard_rebuild")
        guard = f"{g['seconds']:.2f} s / {g['calls']}" if g and g.get("calls") else "-"
        lines.append(
            f"{r['shape']:<9} | {r.get('compiled', '-'):>6} | {r['floor_wall_s']:7.2f} "
            f"{r['floor_rss_mb']:6.0f} | {r['cachekey_wall_s']:10.2f} {r['cachekey_rss_mb']:6.0f}"
            f" | {r['wall_ratio']:6.3f} {r['rss_ratio']:6.3f} | {guard:>14}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated: "
                    + ", ".join(SHAPES))
    ap.add_argument("--reps", type=int, default=3, help="pairs per shape")
    ap.add_argument("--guards", action="store_true",
                    help="one more floor run per shape, Dynamo's guard rebuild timed")
    ap.add_argument("--vllm-venv", type=Path, default=None)
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        ap.error(f"unknown shape {unknown[0]!r}; known: {', '.join(SHAPES)}")
    doc = bench(shapes, args.reps, args.guards, args.vllm_venv)
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc))
    return 0 if doc.get("available") else 2


if __name__ == "__main__":
    sys.exit(main())
