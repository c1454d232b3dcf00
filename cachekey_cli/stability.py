"""Determinism: key the model in fresh processes under perturbed environments and compare.

Each run is ``python -m cachekey_cli diff MODEL --format json`` in a new
process with its own PYTHONHASHSEED, working directory, HOME and XDG dirs,
TMPDIR, TORCHINDUCTOR_CACHE_DIR and an unrelated environment variable. Keys
that differ between runs are reported with the components that moved. When
something moves, the trigger is found by re-running with one factor at a time
changed from the first run's environment, plus a control run with nothing
changed. Pure: no printing, no exits; progress goes through a callback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cachekey_cli.errors import InputError, InternalError
from cachekey_cli.stability_compare import Varying, count_keys, varying

FACTORS = ("PYTHONHASHSEED", "cwd", "HOME and XDG dirs", "TMPDIR", "TORCHINDUCTOR_CACHE_DIR",
           "unrelated env var")
FACTOR_IDS = dict(zip(("hashseed", "cwd", "home", "tmpdir", "inductor-cache-dir", "unrelated-env"),
                      FACTORS, strict=True))
UNRELATED = "CACHEKEY_STABILITY_PROBE"
XDG = ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
SEEDS = (1, 2718, 31415, 4242, 57721, 6174, 7919, 8128)
CONTROL = "control (nothing changed)"

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RunEnv:
    """One run's perturbed environment: factor -> value (a seed, a folder, a token)."""

    label: str
    values: Mapping[str, str]

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        env = dict(base)
        env["PYTHONHASHSEED"] = self.values["PYTHONHASHSEED"]
        home = self.values["HOME and XDG dirs"]
        env["HOME"] = home
        for name in XDG:
            env[name] = os.path.join(home, "." + name.split("_")[1].lower())
        env["TMPDIR"] = self.values["TMPDIR"]
        env["TORCHINDUCTOR_CACHE_DIR"] = self.values["TORCHINDUCTOR_CACHE_DIR"]
        env[UNRELATED] = self.values["unrelated env var"]
        return env

    def with_factor(self, factor: str, other: RunEnv, label: str) -> RunEnv:
        return RunEnv(label, {**self.values, factor: other.values[factor]})


@dataclass(frozen=True)
class Trigger:
    factor: str  # a FACTORS entry or CONTROL
    varies: bool  # changing only this factor changed some key
    pieces: tuple[str, ...] = ()  # the piece ids that moved


@dataclass(frozen=True)
class StabilityResult:
    model: str
    runs: tuple[RunEnv, ...]
    pieces: int  # subgraphs in the first run
    keys_compared: int
    varying: tuple[Varying, ...]
    triggers: tuple[Trigger, ...] = ()  # empty when everything was stable
    meta: Mapping[str, float] = field(default_factory=dict)

    @property
    def stable(self) -> bool:
        return not self.varying

    @property
    def culprits(self) -> tuple[str, ...]:
        return tuple(t.factor for t in self.triggers if t.varies)


def plan(runs: int, root: str) -> tuple[RunEnv, ...]:
    """``runs`` distinct environments under ``root``; deterministic but for the folder names."""
    out = []
    for i in range(runs):
        base = os.path.join(root, f"run{i}")
        values = {
            "PYTHONHASHSEED": str(SEEDS[i] if i < len(SEEDS) else 100003 * (i + 1)),
            "cwd": os.path.join(base, "cwd"),
            "HOME and XDG dirs": os.path.join(base, "home"),
            "TMPDIR": os.path.join(base, "tmp"),
            "TORCHINDUCTOR_CACHE_DIR": os.path.join(base, "inductor"),
            "unrelated env var": f"run-{i}-{os.urandom(4).hex()}",
        }
        out.append(RunEnv(f"run {i + 1}", values))
    return tuple(out)


def command(model: str, model_args: Sequence[str], out_file: str) -> list[str]:
    return [sys.executable, "-m", "cachekey_cli", "-q", "diff", model, *model_args,
            "--format", "json", "-o", out_file]


def absolute_model(model: str) -> tuple[str, str | None]:
    """The model spec made independent of the working directory, and a PYTHONPATH entry."""
    from cachekey_cli.loader import parse_spec

    spec = parse_spec(model)
    if spec.is_file:
        path = os.path.abspath(spec.target)
        return (path if model == spec.target else f"{path}:{spec.factory}"), None
    return model, os.getcwd()


def execute_one(model: str, model_args: Sequence[str], env: RunEnv, extra_path: str | None,
                index: int) -> dict[str, object]:
    """Run one fresh process; the parsed JSON report, or an error that says why it failed."""
    for key in ("cwd", "HOME and XDG dirs", "TMPDIR", "TORCHINDUCTOR_CACHE_DIR"):
        os.makedirs(env.values[key], exist_ok=True)
    environ = env.environ(os.environ)
    if extra_path:
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (extra_path, environ.get("PYTHONPATH")) if p
        )
    out_file = os.path.join(os.path.dirname(env.values["cwd"]), f"keys-{index}.json")
    proc = subprocess.run(command(model, model_args, out_file), cwd=env.values["cwd"],
                          env=environ, capture_output=True, text=True)
    if proc.returncode not in (0, 1) or not os.path.exists(out_file):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        last = last.removeprefix("cachekey: error: ")
        if proc.returncode == 3:
            raise InputError(f"{env.label}: {last}", "`cachekey diff` on the model shows the same")
        raise InternalError(f"{env.label} failed (exit {proc.returncode}): {last}",
                            "rerun with --traceback and report it")
    with open(out_file, encoding="utf-8") as fh:
        report: dict[str, object] = json.load(fh)
    return report


def execute(model: str, model_args: Sequence[str], envs: Sequence[RunEnv], jobs: int,
            progress: Progress, done: int = 0, total: int | None = None) -> list[dict[str, object]]:
    spec, extra_path = absolute_model(model)
    total = total if total is not None else len(envs)
    counter = [done]

    def one(i: int) -> dict[str, object]:
        report = execute_one(spec, model_args, envs[i], extra_path, done + i)
        counter[0] += 1
        progress("runs", counter[0], total)
        return report

    progress("runs", done, total)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, range(len(envs))))


def check(model: str, model_args: Sequence[str], runs: int = 3, jobs: int = 2,
          search: bool = True, progress: Progress | None = None,
          factors: Sequence[str] = FACTORS) -> StabilityResult:
    """Run, compare and, if anything varies, find the triggering factor(s).

    The search changes each of ``factors`` alone from run 1's environment to
    run 2's value, and adds a control run that changes nothing.
    """
    import time

    progress = progress or (lambda stage, done, total: None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cachekey-stability-") as root:
        envs = plan(max(2, runs), root)
        reports = execute(model, model_args, envs, jobs, progress)
        moved = varying(reports)
        triggers: list[Trigger] = []
        if moved and search:
            probes = [envs[0].with_factor(f, envs[1], f"only {f}") for f in factors]
            probes.append(RunEnv(CONTROL, dict(envs[0].values)))
            total = len(envs) + len(probes)
            probe_reports = execute(model, model_args, probes, jobs, progress, len(envs), total)
            for factor, report in zip((*factors, CONTROL), probe_reports, strict=True):
                found = varying([reports[0], report])
                moved_ids = tuple(dict.fromkeys(v.piece for v in found))
                triggers.append(Trigger(factor, bool(found), moved_ids))
    pieces = len(_subgraphs(reports[0]))
    compared = count_keys(reports[0])
    return StabilityResult(model, envs, pieces, compared, moved, tuple(triggers),
                           {"seconds": round(time.perf_counter() - start, 2)})


def _subgraphs(report: Mapping[str, object]) -> list[object]:
    subgraphs = report.get("subgraphs")
    return list(subgraphs) if isinstance(subgraphs, list) else []
