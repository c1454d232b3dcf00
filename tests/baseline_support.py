"""Helpers shared by the tests/test_baseline*.py files: memoized snapshots and CLI runs."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from cachekey_cli import baseline
from cachekey_cli.analysis import pipeline
from tests import conftest
from tests.conftest import FIXTURES, analyse

BASE = "drift/base/model.py"
GOLDEN = Path(__file__).resolve().parent / "golden" / "check"
REGEN = os.environ.get("CACHEKEY_REGEN_GOLDEN") == "1"
_DEFAULTS = pipeline.Options(model="")


def fixture_run(name: str, **options: Any) -> Any:
    """The session-memoized pipeline.Run for a fixture (traced at most once)."""
    return analyse(name, **options)


def snapshot_dict(name: str, variant: str = "tuple_return", **options: Any) -> dict[str, Any]:
    return baseline.build(fixture_run(name, **options).analysis, variant)


def write_snapshot(path: Path, snap: dict[str, Any]) -> Path:
    path.write_text(baseline.dumps(snap), encoding="utf-8")
    return path


def memo_pipeline(monkeypatch: Any) -> None:
    """Route the CLI's pipeline.run through the session memo, so in-process CLI runs are cheap."""

    real = pipeline.run

    def run(options: pipeline.Options, progress: Any = None) -> Any:
        name = os.path.relpath(os.path.abspath(options.model), FIXTURES)
        changed = {
            f.name: getattr(options, f.name)
            for f in dataclasses.fields(options)
            if f.name != "model" and getattr(options, f.name) != getattr(_DEFAULTS, f.name)
        }
        key = (name, "aot-per-piece", tuple(sorted(changed.items())))  # conftest.analyse's key
        if key not in conftest._RUNS:
            conftest._RUNS[key] = real(pipeline.Options(model=str(FIXTURES / name), **changed))
        return conftest._RUNS[key]

    monkeypatch.setattr(pipeline, "run", run)


def fixture_arg(name: str) -> str:
    return str(FIXTURES / name)


def simulate_torch_upgrade(snap: dict[str, Any]) -> dict[str, Any]:
    """A copy of a snapshot as if taken on another torch: edit the recorded components."""
    new = copy.deepcopy(snap)
    new["environment"]["torch"] = "2.14.0+cpu"
    new["environment"]["torch_git"] = "0123456789abcdef0123456789abcdef01234567"
    shared = new["shared_components"]["all"]
    assert "torch_version" in shared, "torch_version is expected in every key"
    shared["torch_version"] = "fake0torch0version0hash0for0tests0000000000000000000"
    return rekey(new)


def rekey(snap: dict[str, Any]) -> dict[str, Any]:
    """After editing a recorded component, the keys built from it change too: mimic that."""
    for sg in snap["subgraphs"]:
        for kind in ("aot_key", "inductor_key"):
            key = sg["keys"][kind]
            if key is not None:
                sg["keys"][kind] = "edited" + key[6:]
    return snap


def trim(old: dict[str, Any], new: dict[str, Any], keep: int = 12) -> tuple[dict, dict]:
    """Smaller copies for golden inputs: shared components dropped unless they differ."""
    a, b = copy.deepcopy(old), copy.deepcopy(new)
    for kind in ("all", "aot_key", "inductor_key"):
        sa = a["shared_components"].get(kind, {})
        sb = b["shared_components"].get(kind, {})
        names = sorted(set(sa) | set(sb))
        differ = [n for n in names if sa.get(n) != sb.get(n)]
        same = [n for n in names if n not in differ and n in sa and n in sb][:keep]
        for d, s in ((a, sa), (b, sb)):
            d["shared_components"][kind] = {n: s[n] for n in differ + same if n in s}
    for d in (a, b):
        used = {h for comps in d["shared_components"].values() for h in comps.values()}
        for sg in d["subgraphs"]:
            used |= {h for comps in sg["components"].values() for h in comps.values()}
        d["component_values"] = {h: v for h, v in d["component_values"].items() if h in used}
        d.pop("meta", None)
    return a, b


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
