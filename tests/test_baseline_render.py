"""Golden reports for every check format, and `explain` staying torch-free and fast.

Goldens live in tests/golden/check/<scenario>/: the two input snapshots (our own
normalized data, trimmed, without `meta`) and one expected file per format.
Regenerate inputs and outputs with CACHEKEY_REGEN_GOLDEN=1 (this traces fixtures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cachekey_cli.cli import run_cli
from tests.baseline_support import (
    BASE,
    GOLDEN,
    REGEN,
    simulate_torch_upgrade,
    snapshot_dict,
    trim,
)
from tests.conftest import ROOT

SCENARIOS = {
    # a torch upgrade and an Inductor flag at once
    "config-env": lambda: (
        snapshot_dict(BASE),
        simulate_torch_upgrade(snapshot_dict(BASE, inductor_config=("fallback_random=True",))),
    ),
    "layer": lambda: (snapshot_dict(BASE), snapshot_dict("drift/layer/model.py")),
}
FORMATS = {"rich": "txt", "json": "json", "markdown": "md", "github": "txt", "junit": "xml"}


def _inputs(scenario: str) -> tuple[Path, Path]:
    folder = GOLDEN / scenario
    old, new = folder / "old.json", folder / "new.json"
    if REGEN:
        folder.mkdir(parents=True, exist_ok=True)
        a, b = trim(*SCENARIOS[scenario]())
        for path, doc in ((old, a), (new, b)):
            path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return old, new


def _normalize(text: str, *paths: Path) -> str:
    for p in paths:
        text = text.replace(str(p), f"<{p.name}>")
    return text


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_golden(scenario, fmt, tmp_path, capsys):
    old, new = _inputs(scenario)
    argv = ["explain", str(old), str(new), "--width", "100"]
    junit = tmp_path / "junit.xml"
    argv += ["--junit-xml", str(junit)] if fmt == "junit" else ["--format", fmt]
    rc = run_cli(argv)
    out = capsys.readouterr().out
    assert rc == 1
    text = junit.read_text(encoding="utf-8") if fmt == "junit" else out
    text = _normalize(text, old, new, tmp_path)
    expected = GOLDEN / scenario / f"report-{fmt}.{FORMATS[fmt]}"
    if REGEN:
        expected.write_text(text, encoding="utf-8")
    assert text == expected.read_text(encoding="utf-8")


def test_rich_fits_100_columns():
    old, new = _inputs("config-env")
    from cachekey_cli.baseline import load as baseline_load
    from cachekey_cli.compare import drift
    from cachekey_cli.render.check import rich as check_rich

    result = drift.check(baseline_load.load(str(old)), baseline_load.load(str(new)))
    text = check_rich.render(result, color=False, width=100)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "inductor_config.fallback_random False → True" in text


def test_json_report_parses_and_carries_the_verdict(capsys):
    old, new = _inputs("layer")
    assert run_cli(["explain", str(old), str(new), "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["exit_code"] == 1
    assert [s["status"] for s in doc["subgraphs"]][-2:] == ["added", "added"]


def test_github_annotations_escape_newlines_and_commas():
    from cachekey_cli.render.check.github import escape_data, escape_property

    assert escape_data("a\nb%") == "a%0Ab%25"
    assert escape_property("x: y, z") == "x%3A y%2C z"


def test_explain_does_not_import_torch_or_vllm_and_is_fast():
    old, new = _inputs("config-env")
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from cachekey_cli.cli import run_cli\n"
        f"rc = run_cli(['-q', 'explain', {str(old)!r}, {str(new)!r}, '--format', 'json'])\n"
        "sys.stderr.write(f'{rc} {time.perf_counter() - t:.3f} '"
        " + str(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'vllm'))))\n"
    )
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=60)
    wall = time.perf_counter() - start
    rc, in_process, modules = proc.stderr.strip().split(" ", 2)
    assert rc == "1", proc.stderr
    assert modules == "[]", f"explain imported {modules}"
    assert json.loads(proc.stdout)["summary"]["categories"] == ["environment", "config"]
    assert float(in_process) < 1.0, in_process
    assert wall < 3.0, wall
