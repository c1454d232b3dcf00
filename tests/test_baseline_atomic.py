"""Snapshots are written atomically: a crash or SIGKILL mid-write keeps the previous baseline."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cachekey_cli import baseline
from cachekey_cli.baseline import load
from cachekey_cli.cli import run_cli
from tests.baseline_support import BASE, fixture_arg, fixture_run, memo_pipeline
from tests.conftest import ROOT

PREVIOUS = b'{"previous": "baseline"}\n'

CHILD = """
import os, pickle, sys, time
from cachekey_cli import cli
from cachekey_cli.cli import baseline as commands_baseline

with open(sys.argv[1], "rb") as fh:
    analysis, snap = pickle.load(fh)
commands_baseline._analyse = lambda g, model, variant, kw: (analysis, dict(snap))

def hang(fd):
    # the temporary file is fully written; stop here, before the rename
    open(sys.argv[3], "w").close()
    time.sleep(60)

os.fsync = hang
sys.exit(cli.run_cli(["snapshot", "model.py", "-o", sys.argv[2]]))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_write_keeps_the_previous_baseline(tmp_path: Path):
    run = fixture_run(BASE)
    state = tmp_path / "state.pkl"
    state.write_bytes(pickle.dumps((run.analysis, baseline.build(run.analysis))))
    target = tmp_path / "cachekeys.json"
    target.write_bytes(PREVIOUS)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(state), str(target), str(ready)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "child never reached the write"
            time.sleep(0.02)
        temps = list(tmp_path.glob(".cachekey-*.tmp"))
        assert len(temps) == 1 and temps[0].stat().st_size > 10_000  # mid-write, for real
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == PREVIOUS


def _crash_at(monkeypatch, name: str, exc: BaseException) -> None:
    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(os, name, boom)


@pytest.mark.parametrize(
    ("where", "exc", "code"),
    [
        ("fsync", RuntimeError("disk went away"), 4),
        ("replace", OSError(28, "No space left on device"), 3),
    ],
)
def test_crash_mid_write_keeps_the_previous_baseline(tmp_path, monkeypatch, capsys,
                                                     where, exc, code):
    memo_pipeline(monkeypatch)
    fixture_run(BASE)  # trace before patching os
    target = tmp_path / "cachekeys.json"
    target.write_bytes(PREVIOUS)
    _crash_at(monkeypatch, where, exc)
    assert run_cli(["snapshot", fixture_arg(BASE), "-o", str(target)]) == code
    monkeypatch.undo()
    assert target.read_bytes() == PREVIOUS
    assert list(tmp_path.glob(".cachekey-*")) == []  # no temporary file left behind
    assert capsys.readouterr().err.startswith("cachekey: error: ")


def test_unwritable_output_fails_before_tracing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("cachekey_cli.analysis.pipeline.run", lambda *a, **k: 1 / 0)
    (tmp_path / "no").write_text("a file where a folder would go\n")
    blocked = tmp_path / "no" / "such" / "cachekeys.json"
    assert run_cli(["snapshot", fixture_arg(BASE), "-o", str(blocked)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("cachekey: error: ") and "is a file, not a folder" in err
    assert len(err.strip().splitlines()) == 1


def test_first_snapshot_creates_its_folders(tmp_path, monkeypatch, capsys):
    """A first baseline into a folder that does not exist yet: the folders are made at the
    write (none before it), the file is complete, and no temporary file is left."""
    memo_pipeline(monkeypatch)
    target = tmp_path / "keys" / "models" / "base.json"
    assert run_cli(["snapshot", fixture_arg(BASE), "-o", str(target)]) == 0
    assert load.parse(target.read_bytes(), str(target)).pieces
    assert list(target.parent.glob(".cachekey-*")) == []


def test_failed_run_creates_no_folder(tmp_path, monkeypatch):
    monkeypatch.setattr("cachekey_cli.analysis.pipeline.run", lambda *a, **k: 1 / 0)
    target = tmp_path / "keys" / "base.json"
    assert run_cli(["snapshot", fixture_arg(BASE), "-o", str(target)]) == 4
    assert not (tmp_path / "keys").exists()
