"""The command line as users meet it: help, formats, stdout/stderr discipline, goldens."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cachekey_cli import compare
from cachekey_cli.cli import run_cli
from cachekey_cli.render import diff_renderers
from tests.conftest import ROOT, fixture_path

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("CACHEKEY_REGEN_GOLDEN") == "1"


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from cachekey_cli.cli import run_cli\n"
        "rc = run_cli(['--help'])\n"
        "assert rc == 0, rc\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
    assert "diff" in out.stdout


def test_python_dash_m_json_on_stdout_messages_on_stderr():
    out = subprocess.run(
        [sys.executable, "-m", "cachekey_cli", "diff", "fixtures/mlp.py", "--format", "json"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert out.returncode == 1  # the MLP's single piece returns a bare tensor
    doc = json.loads(out.stdout)
    assert doc["summary"]["verdict"] == "drift"
    assert out.stderr == ""  # no TTY: no progress bar, and warnings live in the report


def test_json_document_shape(transformer_run, capsys):
    code = run_cli(["diff", fixture_path("transformer.py"), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["schema_version"] == 1 and doc["tool"]["name"] == "cachekey"
    assert set(doc["environment"]) >= {"torch", "python", "platform", "tuple_return"}
    assert doc["environment"]["tuple_return"] == "native"
    assert doc["model"]["split_ops"] and doc["model"]["source"].endswith("transformer.py")
    sub = doc["subgraphs"][-1]
    assert set(sub) >= {"name", "graph", "splitting_op", "outputs", "variants", "drift",
                        "explanation"}
    assert sub["name"] == "submod_6" and sub["graph"] == 0 and sub["outputs"] == 1
    plain = sub["variants"]["plain"]
    assert set(plain) >= {"returns_tuple", "normalized", "graph_hash", "aot_key",
                          "inductor_key", "components", "refusals"}
    assert plain["normalized"] is True and sub["drift"] == ["graph_hash", "aot_key"]
    # every component hash that has a readable value can be looked up
    gm_hash = plain["components"]["aot_key"]["gm"]
    assert "return [" in doc["component_values"][gm_hash]
    attn = doc["subgraphs"][1]
    assert attn["splitting_op"] is True and attn["variants"]["plain"]["aot_key"] is None
    assert "never compiled" in attn["variants"]["plain"]["refusals"]["aot_key"]
    assert doc["summary"]["drifted"] == 1 and doc["summary"]["compiled"] == 4


def test_output_file_is_written(tmp_path, capsys):
    out = tmp_path / "r.md"
    model = fixture_path("multi_output.py")
    code = run_cli(["diff", model, "--format", "markdown", "-o", str(out)])
    assert code == 0
    assert capsys.readouterr().out == ""
    text = out.read_text()
    assert text.startswith("### cachekey diff") and "No drift" in text


def _normalize(text: str) -> str:
    """Replace environment-dependent parts (keys, versions) with stable stand-ins.

    Each distinct key fragment becomes a label in order of first appearance, so
    which cells match and which differ is still checked.
    """
    labels: dict[str, str] = {}

    def label(m: re.Match[str]) -> str:
        frag = m.group(2)
        labels.setdefault(frag, f"K{len(labels):07d}")
        return m.group(1) + labels[frag]

    text = re.sub(r"((?:aot|ind|graph) )([a-z0-9]{8})", label, text)
    text = re.sub(r"(`)([a-z0-9]{10})(?=`)", label, text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


@pytest.mark.parametrize("fmt", ["rich", "markdown"])
@pytest.mark.parametrize("fixture", ["transformer.py", "graph_break.py"])
def test_golden_reports(fixture, fmt):
    from tests.conftest import analyse

    analysis = analyse(fixture).analysis
    model = dataclasses.replace(analysis.model, source=f"fixtures/{fixture}")
    env = dataclasses.replace(
        analysis.environment, torch="TORCH", python="PY", platform="PLATFORM"
    )
    result = compare.diff(dataclasses.replace(analysis, model=model, environment=env))
    # render as a pipe would see it: no colour, fixed width
    text = diff_renderers()[fmt](result, color=False, width=100)
    got = _normalize(text)
    path = GOLDEN / f"diff_{Path(fixture).stem}.{'txt' if fmt == 'rich' else 'md'}"
    if REGEN or not path.exists():
        if not REGEN:
            pytest.fail(f"missing golden {path}; run with CACHEKEY_REGEN_GOLDEN=1")
        path.write_text(got)
    assert got == path.read_text()
    assert "\x1b[" not in text  # plain text when not a terminal
    if fmt == "rich":
        assert max(len(line) for line in text.splitlines()) <= 100
