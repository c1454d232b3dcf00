"""``make bench-plugin``: one model zoo gated three ways, side by side in one run.

The zoo is benchmarks/model_suite.py: eight Llama-shaped models, layers 2-8,
hidden 64 and 128. Its baselines are written once (not timed), then each round
times, as whole processes (wall time and the children's CPU time from
``os.wait4``, as benchmarks/run.py does):

* ``session``   one ``pytest`` session, one test per model (the ``cachekey`` fixture)
* ``xdist``     the same suite with ``pytest -n 2`` (skipped without pytest-xdist)
* ``separate``  eight ``cachekey check MODEL --baseline FILE`` processes, one after another

Rounds alternate the order, and the table gives each way's median. Every run
must pass (exit 0): a failing gate would time the wrong thing. Prints a table
and writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_suite import FACTORIES  # noqa: E402
from run import BIN, RESULTS, ROOT, machine  # noqa: E402

MODELS = ROOT / "benchmarks" / "model_suite.py"

TEST_FILE = '''
import pytest

MODELS = {models!r}


@pytest.mark.parametrize("factory", MODELS)
def test_keys(cachekey, factory):
    cachekey.check({path!r} + ":" + factory, baseline="baselines/" + factory + ".json")
'''


def timed(cmd: list[str], cwd: Path, label: str) -> dict[str, Any]:
    """One process: wall seconds, CPU seconds of it and its children, exit code."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=out, env=_env())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    # wait4's rusage covers the process and the descendants it waited for (xdist workers)
    cpu = usage.ru_utime + usage.ru_stime
    print(f"  {label:<34} {wall:7.2f} s wall  {cpu:7.2f} s cpu  rc={code}  "
          f"load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "exit_code": code,
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "load_avg_1m_after": round(os.getloadavg()[0], 2), "_output": text}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def separate(folder: Path) -> dict[str, Any]:
    """Eight `cachekey check` processes in a row: their wall and CPU times summed."""
    total = {"wall_s": 0.0, "cpu_s": 0.0, "exit_code": 0, "peak_rss_mb": 0.0, "each": []}
    for factory in FACTORIES:
        r = timed([str(BIN / "cachekey"), "-q", "check", f"{MODELS}:{factory}", "--baseline",
                   str(folder / "baselines" / f"{factory}.json")], folder,
                  f"cachekey check {factory}")
        total["wall_s"] += r["wall_s"]
        total["cpu_s"] += r["cpu_s"]
        total["exit_code"] = max(total["exit_code"], r["exit_code"])
        total["peak_rss_mb"] = max(total["peak_rss_mb"], r["peak_rss_mb"])
        total["each"].append({k: v for k, v in r.items() if k != "_output"})
        if r["exit_code"]:
            total["_output"] = r["_output"]
    total["wall_s"] = round(total["wall_s"], 3)
    total["cpu_s"] = round(total["cpu_s"], 3)
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2, help="rounds of all three ways")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = ap.parse_args(argv)
    has_xdist = importlib.util.find_spec("xdist") is not None
    started = datetime.now(timezone.utc)
    folder = Path(tempfile.mkdtemp(prefix="cachekey-bench-plugin-"))
    pytest = [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
              "--rootdir", str(folder)]
    try:
        (folder / "baselines").mkdir()
        (folder / "test_zoo.py").write_text(TEST_FILE.format(models=FACTORIES, path=str(MODELS)))
        print("writing baselines (not timed)", file=sys.stderr, flush=True)
        made = timed([*pytest, "--cachekey-update"], folder, "pytest --cachekey-update")
        if made["exit_code"] != 0:
            print(made["_output"], file=sys.stderr)
            return 1
        ways: dict[str, list[dict[str, Any]]] = {"session": [], "xdist": [], "separate": []}
        order = ["session", "xdist", "separate"] if has_xdist else ["session", "separate"]
        for n in range(args.rounds):
            print(f"round {n + 1}", file=sys.stderr, flush=True)
            for way in order if n % 2 == 0 else list(reversed(order)):
                if way == "session":
                    r = timed(pytest, folder, "pytest (one session)")
                elif way == "xdist":
                    r = timed([*pytest, "-n", "2"], folder, "pytest -n 2")
                else:
                    r = separate(folder)
                if r["exit_code"] != 0:
                    print(r.get("_output", ""), file=sys.stderr)
                    return 1
                r.pop("_output", None)
                ways[way].append(r)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    summary = {}
    for way, runs in ways.items():
        if runs:
            summary[way] = {
                "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 2),
                "cpu_s_median": round(statistics.median(r["cpu_s"] for r in runs), 2),
                "wall_s_all": [r["wall_s"] for r in runs],
            }
    base = summary["separate"]["wall_s_median"]
    for s in summary.values():
        s["wall_over_separate"] = round(s["wall_s_median"] / base, 3)
    doc = {"machine": machine(), "started": started.isoformat(timespec="seconds"),
           "models": FACTORIES, "rounds": args.rounds, "summary": summary, "runs": ways}
    out = Path(args.out) if args.out else RESULTS / f"plugin-{started:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{'way':<10} {'wall s':>8} {'cpu s':>8} {'wall / separate':>16}")
    for way, s in summary.items():
        print(f"{way:<10} {s['wall_s_median']:8.2f} {s['cpu_s_median']:8.2f} "
              f"{s['wall_over_separate']:16.3f}")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
