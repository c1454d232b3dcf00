"""The pytest plugin as a user meets it: a suite of two models gated on baselines.

The suites are generated into pytester's folder and run in this process (the
plugin comes from the installed ``pytest11`` entry point), except the xdist
runs, which need worker processes.
"""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from cachekey_cli.cli import run_cli
from tests.conftest import fixture_path

MODEL = '''
import torch
import torch.nn.functional as F
from torch import nn

SCALE = {scale}


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.out = nn.Linear(16, 16)

    def forward(self, x):
        q, k, v = (t.view(1, 4, 2, 8).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        a = F.scaled_dot_product_attention(q, k, v)
        return self.out(a.transpose(1, 2).reshape(1, 4, 16)) * SCALE


def build():
    return Block(), (torch.randn(1, 4, 16),)
'''

SUITE = '''
import os
from pathlib import Path

HERE = Path(__file__).parent


def test_a(cachekey):
    allow = [c for c in os.environ.get("CACHEKEY_TEST_ALLOW", "").split(",") if c]
    cachekey.check(str(HERE / "model_a.py"), baseline="baselines/a.json", allow=allow)


def test_b(cachekey):
    result = cachekey.check(str(HERE / "model_b.py"), baseline="baselines/b.json")
    assert result is None or result.exit_code == 0
'''



@pytest.fixture(scope="module", autouse=True)
def _imported_before_inner_runs(tmp_path_factory):
    """pytester's in-process runs drop every module first imported during the run (torch
    among them, which cannot be imported twice): go once through what the plugin does."""
    import cachekey_cli

    path = tmp_path_factory.mktemp("warm") / "mlp.json"
    cachekey_cli.snapshot(fixture_path("mlp.py"), path)
    cachekey_cli.report(cachekey_cli.check(fixture_path("mlp.py"), path))
    cachekey_cli.report(cachekey_cli.analyze(fixture_path("mlp.py")))


PLUGIN_ARGS = ("-p", "no:cacheprovider", "-p", "no:randomly", "--cachekey-width", "100")


def _make_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(model_a=MODEL.format(scale=2.0), model_b=MODEL.format(scale=3.0),
                        test_models=SUITE)
    (pytester.path / "baselines").mkdir()


def test_first_update_creates_the_baseline_folders_and_logs_stay_clean(pytester):
    """A first --cachekey-update into folders that do not exist yet writes them (as
    snapshot plugins do); a later drift fails with the report, and the failing test's
    captured-log section carries none of torch's structured-trace DEBUG records."""
    pytester.makepyfile(model_a=MODEL.format(scale=2.0), test_models='''
from pathlib import Path

def test_a(cachekey):
    cachekey.check(str(Path(__file__).parent / "model_a.py"), baseline="keys/block/a.json")
''')
    written = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--cachekey-update")
    written.assert_outcomes(passed=1)
    target = pytester.path / "keys" / "block" / "a.json"
    assert json.loads(target.read_text())["subgraphs"]
    assert list(target.parent.glob(".cachekey-*")) == []

    pytester.makepyfile(model_a=MODEL.format(scale=5.0))
    drifted = pytester.runpytest_inprocess(*PLUGIN_ARGS, "-o", "log_level=DEBUG")
    drifted.assert_outcomes(failed=1)
    drifted.stdout.fnmatch_lines(["*cachekey: keys drifted from keys/block/a.json*"])
    assert "torch.__trace" not in drifted.stdout.str()


def test_the_plugin_is_registered_by_its_entry_point():
    names = {e.name: e.value for e in importlib.metadata.entry_points(group="pytest11")}
    assert names.get("cachekey") == "cachekey_cli.pytest_plugin"


def test_update_pass_drift_allow_and_the_baseline_left_alone(pytester, monkeypatch, capsys):
    _make_suite(pytester)
    a, b = pytester.path / "baselines" / "a.json", pytester.path / "baselines" / "b.json"

    missing = pytester.runpytest_inprocess(*PLUGIN_ARGS)
    missing.assert_outcomes(failed=2)
    missing.stdout.fnmatch_lines(["*cachekey: baseline baselines/a.json does not exist — run "
                                  "pytest with --cachekey-update to write it"])
    assert not a.exists() and not b.exists()

    written = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--cachekey-update")
    written.assert_outcomes(passed=2)
    written.stdout.fnmatch_lines(["*cachekey: wrote 2 baselines*",
                                  "baselines/a.json  (test_models.py::test_a)",
                                  "baselines/b.json  (test_models.py::test_b)"])
    before = a.read_bytes(), b.read_bytes()
    # the file is what `cachekey snapshot` writes, meta (time, host, argv) aside
    assert run_cli(["-q", "snapshot", str(pytester.path / "model_a.py"),
                    "-o", str(pytester.path / "cli.json")]) == 0
    cli_doc = json.loads((pytester.path / "cli.json").read_text())
    plugin_doc = json.loads(before[0])
    assert plugin_doc.pop("meta")["argv"] == ["pytest", "test_models.py::test_a"]
    cli_doc.pop("meta")
    assert plugin_doc == cli_doc

    again = pytester.runpytest_inprocess(*PLUGIN_ARGS)
    again.assert_outcomes(passed=2)
    assert (a.read_bytes(), b.read_bytes()) == before

    pytester.makepyfile(model_a=MODEL.format(scale=2.5))  # a model constant changes
    drift = pytester.runpytest_inprocess(*PLUGIN_ARGS)
    drift.assert_outcomes(passed=1, failed=1)
    assert (a.read_bytes(), b.read_bytes()) == before  # byte-identical
    capsys.readouterr()
    assert run_cli(["check", str(pytester.path / "model_a.py"), "--baseline", str(a),
                    "--width", "100"]) == 1
    report = capsys.readouterr().out
    assert "[graph] aot_key: gm" in report and "2.0" in report and "2.5" in report
    out = drift.stdout.str()
    assert report.strip() in out  # the same report `cachekey check` prints, unchanged
    drift.stdout.fnmatch_lines(["*cachekey: keys drifted from baselines/a.json (graph; the "
                                "file is unchanged) — fix the drift, or accept it with pytest "
                                "--cachekey-update"])

    monkeypatch.setenv("CACHEKEY_TEST_ALLOW", "graph")
    allowed = pytester.runpytest_inprocess(*PLUGIN_ARGS, "-W", "always")
    allowed.assert_outcomes(passed=2, warnings=1)
    allowed.stdout.fnmatch_lines(["*CachekeyWarning: 1 subgraphs drifted in allowed (graph)"])
    monkeypatch.delenv("CACHEKEY_TEST_ALLOW")

    accepted = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--cachekey-update")
    accepted.assert_outcomes(passed=2)
    accepted.stdout.fnmatch_lines(["*cachekey: wrote 1 baseline*",
                                   "baselines/a.json  (test_models.py::test_a)"])
    assert a.read_bytes() != before[0] and b.read_bytes() == before[1]
    pytester.runpytest_inprocess(*PLUGIN_ARGS).assert_outcomes(passed=2)


def test_two_models_on_one_baseline_conflict_instead_of_overwriting(pytester):
    pytester.makepyfile(model_a=MODEL.format(scale=2.0), model_b=MODEL.format(scale=3.0))
    pytester.makepyfile(test_same='''
from pathlib import Path
HERE = Path(__file__).parent

def test_first(cachekey):
    cachekey.check(str(HERE / "model_a.py"), baseline="same.json")

def test_second(cachekey):
    cachekey.check(str(HERE / "model_b.py"), baseline="same.json")
''')
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--cachekey-update")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*cachekey: same.json was written in this run by "
                                 "test_same.py::test_first, with another model or split — "
                                 "give each model its own baseline"])
    assert json.loads((pytester.path / "same.json").read_text())["model"]["name"] == "model_a.py"


def test_errors_fail_the_test_in_one_line(pytester):
    pytester.makepyfile(test_bad='''
def test_missing_model(cachekey):
    cachekey.check("no/such/model.py", baseline="x.json")

def test_unknown_option(cachekey):
    cachekey.check("no/such/model.py", baseline="x.json", no_such_option=1)
''')
    result = pytester.runpytest_inprocess(*PLUGIN_ARGS, "--cachekey-update")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*cachekey: error: model file no/such/model.py does not exist — check the path",
        "*TypeError: unknown option no_such_option; valid options: split_ops,*",
    ])
    assert not (pytester.path / "x.json").exists()


def test_xdist_two_workers_one_writer_per_baseline(pytester):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed (the test extra has it)")
    _make_suite(pytester)
    pytester.makepyfile(test_shared='''
import pytest
from pathlib import Path
HERE = Path(__file__).parent

@pytest.mark.parametrize("i", range(3))
@pytest.mark.parametrize("name", ["a", "b"])
def test_shared(cachekey, name, i):
    cachekey.check(str(HERE / f"model_{name}.py"), baseline=f"baselines/{name}.json")
''')
    args = (*PLUGIN_ARGS, "-n", "2", "-v")
    written = pytester.runpytest_subprocess(*args, "--cachekey-update")
    written.assert_outcomes(passed=8)
    out = written.stdout.str()
    assert "[gw0]" in out and "[gw1]" in out  # both workers ran tests
    lines = [line for line in out.splitlines() if line.startswith("baselines/")]
    assert "cachekey: wrote 2 baselines" in out and len(lines) == 2, out
    assert {line.split()[0] for line in lines} == {"baselines/a.json", "baselines/b.json"}
    assert not any(p.name.startswith(".cachekey-") for p in (pytester.path / "baselines").iterdir())
    checked = pytester.runpytest_subprocess(*args)
    checked.assert_outcomes(passed=8)
