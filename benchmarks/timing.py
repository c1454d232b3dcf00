"""Timing a command as a whole process, and the machine it ran on: shared by the benchmarks.

Every measurement runs in a fresh process, so it includes ``import torch`` and
start-up as a user pays for them. Wall time is taken around the process; CPU
time and peak RSS come from ``os.wait4``'s rusage for that one child.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = "fixtures/llama.py"
RESULTS = ROOT / "benchmarks" / "results"


def measure(cmd: list[str], env: dict[str, str] | None = None, label: str = "") -> dict[str, Any]:
    """Run ``cmd`` once in a fresh process: wall and CPU seconds, peak RSS (MB), exit code,
    output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    result = {
        "wall_s": round(wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        "exit_code": proc.returncode,
    }
    print(f"  {label:<28} {wall:7.2f} s  {usage.ru_maxrss / 1024:8.0f} MB  rc={proc.returncode}",
          file=sys.stderr, flush=True)
    result["_stdout"], result["_stderr"] = stdout, stderr
    return result


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env.setdefault("PYTHONWARNINGS", "ignore::UserWarning")
    return env


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["ram_gb"] = round(pages / 2**30, 1)
        info["load_avg_at_start"] = os.getloadavg()
    except (ValueError, OSError, AttributeError):
        pass
    probe = subprocess.run([str(BIN / "python"), "-c", "import torch; print(torch.__version__)"],
                           capture_output=True, text=True)
    info["torch"] = probe.stdout.strip()
    return info
