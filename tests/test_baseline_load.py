"""Bad baselines: every one is a one-line error, exit 3, and the file is left byte-identical.

Also a hypothesis fuzz of the loader: whatever the bytes, only InputError escapes.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachekey_cli.baseline import load as baseline_load
from cachekey_cli.baseline.snapshot import Snapshot
from cachekey_cli.cli import run_cli
from cachekey_cli.errors import InputError
from tests.baseline_support import GOLDEN, fixture_arg, load_json, memo_pipeline

VALID = GOLDEN / "config-env" / "old.json"


def _valid() -> dict:
    return load_json(VALID)


def _edit(fn):
    doc = _valid()
    fn(doc)
    return json.dumps(doc).encode()


def _future(doc):
    doc["schema_version"] = 99


BAD: dict[str, bytes | None] = {
    "missing": None,
    "empty": b"",
    "whitespace": b"  \n\t ",
    "truncated": VALID.read_bytes()[: len(VALID.read_bytes()) // 2],
    "not json": b"schema_version = 1\n",
    "not utf-8": b"\xff\xfe{\x00}",
    "json array": b"[1, 2, 3]",
    "json string": b'"cachekeys"',
    "NaN constant": b'{"schema_version": NaN}',
    "duplicate keys": b'{"schema_version": 1, "schema_version": 1}',
    "diff report": _edit(lambda d: d.update(kind="diff")),
    "future schema": _edit(_future),
    "schema zero": _edit(lambda d: d.update(schema_version=0)),
    "schema as string": _edit(lambda d: d.update(schema_version="1")),
    "schema as bool": _edit(lambda d: d.update(schema_version=True)),
    "no subgraphs": _edit(lambda d: d.pop("subgraphs")),
    "subgraphs not a list": _edit(lambda d: d.update(subgraphs={"a": 1})),
    "key not a string": _edit(lambda d: d["subgraphs"][0]["keys"].update(aot_key=12)),
    "null key without refusal": _edit(lambda d: d["subgraphs"][0]["keys"].update(aot_key=None)),
    "ids disagree": _edit(lambda d: d["split"]["ids"].reverse()),
    "unknown variant": _edit(lambda d: d.update(variant="fancy")),
    "component value not text": _edit(lambda d: d["component_values"].update(x=[1])),
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
}


def _write(tmp_path: Path, name: str, data: bytes | None) -> Path:
    path = tmp_path / (name.replace(" ", "_") + ".json")
    if data is not None:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_baseline_is_exit_3_and_untouched(case, tmp_path, capsys):
    path = _write(tmp_path, case, BAD[case])
    before = path.read_bytes() if path.exists() else None
    rc = run_cli(["explain", str(path), str(VALID)])
    err = capsys.readouterr().err
    assert rc == 3, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cachekey: error: baseline "), err
    assert " — " in lines[0]
    after = path.read_bytes() if path.exists() else None
    assert after == before


def test_future_schema_says_upgrade(tmp_path, capsys):
    path = _write(tmp_path, "future", BAD["future schema"])
    assert run_cli(["explain", str(path), str(VALID)]) == 3
    assert "newer than this cachekey reads" in capsys.readouterr().err


def test_check_rejects_a_bad_baseline_before_tracing(tmp_path, monkeypatch, capsys):
    def boom(*a, **k):
        raise AssertionError("must not trace")

    monkeypatch.setattr("cachekey_cli.analysis.pipeline.run", boom)
    for case in ("missing", "truncated", "future schema"):
        path = _write(tmp_path, case, BAD[case])
        assert run_cli(["check", fixture_arg("drift/base/model.py"), "--baseline", str(path)]) == 3
    assert run_cli(["check", fixture_arg("drift/base/model.py"), "--baseline", str(tmp_path)]) == 3


def test_baseline_of_another_model_is_exit_3(tmp_path, monkeypatch, capsys):
    doc = _valid()
    doc["model"]["name"] = "other.py"
    path = _write(tmp_path, "other", json.dumps(doc).encode())
    before = path.read_bytes()
    assert run_cli(["explain", str(path), str(VALID)]) == 3
    assert "is of model other.py:build, not model.py:build" in capsys.readouterr().err
    monkeypatch.setattr("cachekey_cli.analysis.pipeline.run", lambda *a, **k: 1 / 0)
    assert run_cli(["check", fixture_arg("drift/base/model.py"), "--baseline", str(path)]) == 3
    assert path.read_bytes() == before


def test_baseline_of_another_split_is_exit_3(tmp_path, monkeypatch, capsys):
    doc = _valid()
    doc["model"]["split_ops"] = ["mylib::attention"]
    path = _write(tmp_path, "split", json.dumps(doc).encode())
    before = path.read_bytes()
    assert run_cli(["explain", str(path), str(VALID)]) == 3
    assert "was split at different ops" in capsys.readouterr().err
    memo_pipeline(monkeypatch)
    assert run_cli(["check", fixture_arg("drift/base/model.py"), "--baseline", str(path)]) == 3
    assert path.read_bytes() == before


def test_the_valid_input_loads():
    snap = baseline_load.load(str(VALID))
    assert isinstance(snap, Snapshot) and snap.pieces


# --- fuzz ------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=2000, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)
_BASE_DOC = _valid()


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(_BASE_DOC) if p]


def _load_file(data: bytes) -> None:
    """Through a real file, checking the file is left as it was."""
    fd, name = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        try:
            baseline_load.load(name)
        except InputError as exc:
            assert exc.exit_code == 3 and "\n" not in exc.one_line()
        with open(name, "rb") as fh:
            assert fh.read() == data
    finally:
        os.unlink(name)


@FUZZ
@given(path=st.sampled_from(PATHS), value=JSON, delete=st.booleans())
def test_fuzz_mutated_snapshots(path, value, delete):
    doc = copy.deepcopy(_BASE_DOC)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    _load_file(json.dumps(doc).encode())


@settings(max_examples=500, deadline=None, database=None)
@given(data=st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_fuzz_arbitrary_bytes(data):
    _load_file(data)


@settings(max_examples=300, deadline=None, database=None)
@given(cut=st.integers(min_value=0, max_value=len(VALID.read_bytes())))
def test_fuzz_truncations(cut):
    _load_file(VALID.read_bytes()[:cut])
