"""Determinism: key the model in fresh processes under perturbed environments and compare.

Each run is ``python -m cachekey_cli diff MODEL --format json`` in a new
process with its own PYTHONHASHSEED, working directory, HOME and XDG dirs,
TMPDIR, TORCHINDUCTOR_CACHE_DIR and an unrelated environment variable. Keys
that differ between runs are reported with the components that moved. When
something moves, a control run repeats run 1's environment unchanged: if it
moves too, the cause is inside the process (a nonce, the time, a pid) and no
factor is blamed. Otherwise the trigger is found by re-running with one factor
at a time changed from run 1's environment to that of a run that differs.
Temporary folders and random tokens live only in ``meta``. Pure: no printing,
no exits; progress goes through a callback.
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
from typing import Any

from cachekey_cli.errors import InputError, InternalError
from cachekey_cli.stability.compare import Varying, count_keys, varying
from cachekey_cli.wording import plural

FACTORS = ("PYTHONHASHSEED", "cwd", "HOME and XDG dirs", "TMPDIR", "TORCHINDUCTOR_CACHE_DIR",
           "unrelated env var")
FACTOR_IDS = dict(zip(("hashseed", "cwd", "home", "tmpdir", "inductor-cache-dir", "unrelated-env"),
                      FACTORS, strict=True))
UNRELATED = "CACHEKEY_STABILITY_PROBE"
XDG = ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
SEEDS = (1, 2718, 31415, 4242, 57721, 6174, 7919, 8128)
CONTROL = "control (nothing changed)"
IN_PROCESS = "nondeterministic inside the process (no environment factor needed)"

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
    triggers: tuple[Trigger, ...] = ()  # empty when everything was stable or not searched
    reference: int = 1  # index of the run whose values the one-factor probes take
    meta: Mapping[str, Any] = field(default_factory=dict)  # volatile: time, folders, tokens

    @property
    def stable(self) -> bool:
        return not self.varying

    @property
    def in_process(self) -> bool:
        """The control run (run 1's environment, unchanged) moved too: no factor is needed."""
        return any(t.factor == CONTROL and t.varies for t in self.triggers)

    @property
    def culprits(self) -> tuple[str, ...]:
        """Factors that alone move a key; none when the control moves (they would all)."""
        if self.in_process:
            return ()
        return tuple(t.factor for t in self.triggers if t.varies and t.factor != CONTROL)

    @property
    def cause(self) -> str | None:
        """None when stable; else "in-process", "environment", "not found" or "not searched"."""
        if self.stable:
            return None
        if not self.triggers:
            return "not searched"
        if self.in_process:
            return "in-process"
        return "environment" if self.culprits else "not found"

    def sentence(self) -> str:
        runs = len(self.runs)
        if self.stable:
            return (f"Stable: all {plural(self.keys_compared, 'key')} of "
                    f"{plural(self.pieces, 'piece')} agree across {runs} fresh processes "
                    "with perturbed environments.")
        pieces = len({v.piece for v in self.varying})
        moved = len(self.varying)
        text = (f"Unstable: {plural(moved, 'key')} of {plural(pieces, 'piece')} "
                f"{'varies' if moved == 1 else 'vary'} across {runs} runs")
        cause = self.cause
        if cause == "in-process":
            text += (f"; {IN_PROCESS}: run 1's environment, unchanged, moves "
                     f"{'it' if moved == 1 else 'them'} too")
        elif cause == "environment":
            text += "; trigger: " + ", ".join(self.culprits)
        elif cause == "not found":
            text += "; no single factor reproduces it"
        return text + "."


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
    # the options first: a vllm: model's serve arguments end the line, after --
    return [sys.executable, "-m", "cachekey_cli", "-q", "diff", "--format", "json",
            "-o", out_file, model, *model_args]


def absolute_model(model: str) -> tuple[str, str | None]:
    """The model spec made independent of the working directory, and a PYTHONPATH entry."""
    from cachekey_cli.sources import parse_spec

    spec = parse_spec(model)
    target = model.split(":", 1)[1] if model.startswith("vllm:") else None
    if target is not None and os.path.isdir(target):
        return f"vllm:{os.path.abspath(target)}", None
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
            tick: Callable[[], None], first: int = 0) -> list[dict[str, object]]:
    """Run ``envs`` in fresh processes, ``jobs`` at a time; ``tick`` after each one ends."""
    spec, extra_path = absolute_model(model)

    def one(i: int) -> dict[str, object]:
        report = execute_one(spec, model_args, envs[i], extra_path, first + i)
        tick()
        return report

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, range(len(envs))))


Runner = Callable[[Sequence[RunEnv], Callable[[], None]], list[dict[str, object]]]


def check(model: str, model_args: Sequence[str], runs: int = 3, jobs: int = 2,
          search: bool = True, progress: Progress | None = None,
          factors: Sequence[str] = FACTORS, runner: Runner | None = None) -> StabilityResult:
    """Run, compare and, if anything varies, find the triggering factor(s).

    The search starts from run 1's environment and takes, one factor at a time,
    the value of the first run whose keys differ from run 1's. A control run
    repeats run 1's environment unchanged; it goes in the first batch, and if it
    moves too the cause is inside the process and the remaining probes are
    skipped. ``runner`` replaces the fresh processes (tests).
    """
    import time

    report = progress or (lambda stage, done, total: None)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cachekey-stability-") as root:
        envs = plan(max(2, runs), root)
        count = [0, len(envs) + (len(factors) + 1 if search else 0)]

        def tick() -> None:
            count[0] += 1
            report("runs", count[0], count[1])

        launched = [0]

        def run(batch: Sequence[RunEnv]) -> list[dict[str, object]]:
            first = launched[0]
            launched[0] += len(batch)
            if runner is not None:
                return runner(batch, tick)
            return execute(model, model_args, batch, jobs, tick, first)

        report("runs", 0, count[1])
        reports = run(envs)
        moved = varying(reports)
        reference = next((i for i in range(1, len(reports)) if varying([reports[0], reports[i]])),
                         1)
        triggers: tuple[Trigger, ...] = ()
        if moved and search:
            triggers = _search(envs, reports[0], reference, factors, jobs, run)
            count[1] = count[0]
            report("runs", count[0], count[1])
        meta = {"seconds": round(time.perf_counter() - start, 2), "root": root,
                "environments": {e.label: dict(e.values) for e in envs}}
    pieces = len(_subgraphs(reports[0]))
    compared = count_keys(reports[0])
    return StabilityResult(model, envs, pieces, compared, moved, triggers, reference, meta)


def _search(envs: Sequence[RunEnv], base: Mapping[str, object], reference: int,
            factors: Sequence[str], jobs: int,
            run: Callable[[Sequence[RunEnv]], list[dict[str, object]]]) -> tuple[Trigger, ...]:
    """The control first (with as many factor probes as fit beside it), then the rest."""
    named = [(CONTROL, RunEnv(CONTROL, dict(envs[0].values)))]
    named += [(f, envs[0].with_factor(f, envs[reference], f"only {f}")) for f in factors]
    found: dict[str, Trigger] = {}
    size = max(1, jobs)
    for batch in (named[:size], named[size:]):
        if not batch:
            continue
        for (factor, _), probe in zip(batch, run([env for _, env in batch]), strict=True):
            moved_ids = tuple(dict.fromkeys(v.piece for v in varying([base, probe])))
            found[factor] = Trigger(factor, bool(moved_ids), moved_ids)
        if found[CONTROL].varies:  # every probe would move: say so, and stop
            return (found[CONTROL],)
    return tuple(found[f] for f in (*factors, CONTROL))


def _subgraphs(report: Mapping[str, object]) -> list[object]:
    subgraphs = report.get("subgraphs")
    return list(subgraphs) if isinstance(subgraphs, list) else []
