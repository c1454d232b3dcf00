"""The CI gate's edges: refusals classified by their text, --allow for added/removed
subgraphs, reports never written over a snapshot, the report's fields, the mode."""

from __future__ import annotations

import copy
import json
import os
import re

import pytest

from cachekey_cli import __version__, baseline
from cachekey_cli.baseline import load as baseline_load
from cachekey_cli.baseline import serialize
from cachekey_cli.cli import run_cli
from cachekey_cli.compare import categories, drift
from cachekey_cli.render.check import junit as check_junit
from cachekey_cli.render.check import rich as check_rich
from tests.baseline_support import (
    BASE,
    GOLDEN,
    fixture_arg,
    fixture_run,
    load_json,
    memo_pipeline,
    snapshot_dict,
    write_snapshot,
)
from tests.conftest import ROOT

LAYER = GOLDEN / "layer"
TUPLE_REFUSAL = (
    "NotImplementedError: autograd_cache_key does not support graphs that don't return a tuple"
)


def _load(doc: dict, label: str = "x") -> baseline.Snapshot:
    return baseline_load.from_dict(doc, label)


def _refuse(doc: dict, kind: str, refusal: str, index: int = 0) -> dict:
    new = copy.deepcopy(doc)
    sg = new["subgraphs"][index]
    sg["keys"][kind] = None
    sg["refusals"][kind] = refusal
    sg["components"].pop(kind, None)
    return new


# --- 1. refusals are classified by what they say -------------------------------------------


@pytest.mark.parametrize(
    ("refusal", "category"),
    [
        (TUPLE_REFUSAL, "tuple-conformance"),
        ("FX graph cache disabled: Inductor computes no key", "config"),
        ("bundled_autograd_cache=True: no separate FX key", "config"),
        ("AOTAutograd cache disabled: a compile computes no AOT key", "config"),
        ("cache bypass: Unsupported call_function target mylib.op (uncacheable)", "refusal"),
        ("FX graph cache bypass: can't cache torchbind objects", "refusal"),
        ("RuntimeError: something inside torch broke", "refusal"),
        ("TypeError: expected a tuple of ints", "refusal"),
    ],
)
def test_refusal_category_follows_the_text(refusal, category):
    assert categories.refusal_category(refusal) == category


@pytest.mark.parametrize(
    ("kind", "refusal", "category"),
    [
        ("aot_key", TUPLE_REFUSAL, "tuple-conformance"),
        ("inductor_key", "FX graph cache disabled: Inductor computes no key", "config"),
        ("aot_key", "cache bypass: Unsupported custom op mylib::attn", "refusal"),
        ("aot_key", "ValueError: boom", "refusal"),
    ],
)
def test_a_new_refusal_is_classified_by_its_text(kind, refusal, category):
    old = snapshot_dict(BASE)
    new = _refuse(old, kind, refusal)
    result = drift.check(_load(old), _load(new))
    assert result.categories == (category,)
    [s] = result.drifted
    assert s.id == "g0/submod_0" and kind in s.changed_kinds
    assert refusal in s.findings[0].text
    # a refusal that goes away is classified the same way
    assert drift.check(_load(new), _load(old)).categories == (category,)


def test_allow_tuple_conformance_does_not_hide_a_cache_bypass():
    old = snapshot_dict(BASE)
    new = _refuse(old, "aot_key", "cache bypass: Unsupported custom op mylib::attn")
    result = drift.check(_load(old), _load(new), allow=("tuple-conformance",))
    assert result.exit_code == 1 and result.failing
    assert drift.check(_load(old), _load(new), allow=("refusal",)).exit_code == 0


def test_refusal_is_an_allow_choice(capsys):
    assert "refusal" in categories.CATEGORIES
    assert categories.CATEGORIES[:6] == (
        "environment", "config", "graph", "inputs", "split", "tuple-conformance",
    )
    assert drift.CATEGORIES is categories.CATEGORIES
    from cachekey_cli.cli import baseline as commands_baseline

    assert commands_baseline.CATEGORIES is categories.CATEGORIES
    old, new = str(LAYER / "old.json"), str(LAYER / "new.json")
    assert run_cli(["explain", old, new, "--allow", "refusal"]) == 1


# --- 2. --allow split allows added and removed subgraphs ------------------------------------


def test_allow_split_graph_and_inputs_passes_the_added_layer(capsys):
    old, new = str(LAYER / "old.json"), str(LAYER / "new.json")
    assert run_cli(["explain", old, new, "--allow", "split", "--allow", "graph",
                    "--allow", "inputs", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["summary"]["failing"] == 0 and doc["summary"]["drifted"] == 3
    statuses = {s["id"]: s["status"] for s in doc["subgraphs"]}
    assert statuses["g0/submod_5"] == statuses["g0/submod_6"] == "allowed"
    assert "warning: 3 subgraphs drifted in allowed (graph, inputs, split)" in err
    # split alone allows the added pieces, but submod_4 also changed its graph and
    # gained an input (the new layer's first weight)
    assert run_cli(["explain", old, new, "--allow", "split", "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in doc["subgraphs"] if s["status"] == "drift"] == ["g0/submod_4"]
    assert [s["id"] for s in doc["subgraphs"] if s["status"] == "allowed"] == [
        "g0/submod_5", "g0/submod_6"]


def test_allow_split_allows_a_removed_subgraph(capsys):
    new, old = str(LAYER / "old.json"), str(LAYER / "new.json")  # layers removed
    allow = ("split", "graph", "inputs")
    assert run_cli(["explain", old, new, *(f"--allow={a}" for a in allow)]) == 0
    assert "3 subgraphs drifted in allowed (graph, inputs, split)" in capsys.readouterr().err
    result = drift.check(baseline_load.load(old), baseline_load.load(new), allow)
    assert {s.status for s in result.drifted} == {"allowed"}
    assert any(f.text.startswith("removed") for s in result.drifted for f in s.findings)


# --- 3. a report is never written over a snapshot --------------------------------------------


@pytest.mark.parametrize("option", ["--junit-xml", "-o"])
def test_check_refuses_to_write_over_its_baseline(option, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(  # no work at all
        "cachekey_cli.analysis.pipeline.run", lambda *a, **k: 1 / 0
    )
    path = write_snapshot(tmp_path / "b.json", snapshot_dict(BASE))
    before = path.read_bytes()
    monkeypatch.chdir(tmp_path)
    for same in (str(path), "b.json", "./sub/../b.json"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        rc = run_cli(["check", fixture_arg(BASE), "--baseline", str(path), option, same])
        err = capsys.readouterr().err
        assert rc == 3, err
        assert "is the snapshot" in err and err.count("\n") == 1
        assert path.read_bytes() == before
    link = tmp_path / "link.json"
    link.symlink_to(path)
    assert run_cli(["check", fixture_arg(BASE), "--baseline", "b.json", option, str(link)]) == 3
    assert path.read_bytes() == before


@pytest.mark.parametrize("which", ["old", "new"])
@pytest.mark.parametrize("option", ["--junit-xml", "-o"])
def test_explain_refuses_to_write_over_either_snapshot(which, option, tmp_path, capsys):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_bytes((LAYER / "old.json").read_bytes())
    new.write_bytes((LAYER / "new.json").read_bytes())
    target = old if which == "old" else new
    before = target.read_bytes()
    assert run_cli(["explain", str(old), str(new), option, str(target)]) == 3
    assert "is the snapshot" in capsys.readouterr().err
    assert target.read_bytes() == before
    # another file is fine
    assert run_cli(["explain", str(old), str(new), option, str(tmp_path / "r.out")]) == 1


# --- 4. the JSON report carries its schema and tool ------------------------------------------


def test_check_json_has_schema_version_and_tool(capsys):
    assert run_cli(["explain", str(LAYER / "old.json"), str(LAYER / "new.json"),
                    "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_version"] == 1 == serialize.SCHEMA_VERSION
    assert doc["tool"] == {"name": "cachekey", "version": __version__}
    assert doc["kind"] == "check"
    ci = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    section = ci.split("## The JSON report", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    fields = set(doc) | set(doc["summary"]) | set(doc["subgraphs"][0])
    fields |= set(doc["subgraphs"][-1]["findings"][0]) | set(doc["baseline"])
    assert fields <= documented, sorted(fields - documented)


# --- 5. the report reads well ----------------------------------------------------------------


def _rich(old: dict, new: dict, width: int) -> str:
    return check_rich.render(drift.check(_load(old), _load(new)), color=False, width=width)


SCENES = {
    "constant": lambda: (snapshot_dict(BASE), snapshot_dict("drift/constant/model.py")),
    "dtype": lambda: (snapshot_dict(BASE), snapshot_dict("drift/dtype/model.py")),
    "layer": lambda: (snapshot_dict(BASE), snapshot_dict("drift/layer/model.py")),
    "flag": lambda: (
        snapshot_dict(BASE), snapshot_dict(BASE, inductor_config=("fallback_random=True",))
    ),
}


@pytest.mark.parametrize("width", [80, 100])
@pytest.mark.parametrize("scene", sorted(SCENES))
def test_rich_report_is_scannable(scene, width):
    old, new = SCENES[scene]()
    text = _rich(old, new, width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    why = lines.index("Why keys changed")
    body = lines[why + 1:-1]
    # findings sit under a header that names the subgraph: they do not repeat it
    assert not [ln for ln in body if ln.startswith(" ") and "g0/submod_" in ln]
    # a cut is always at a token boundary: "…" follows a space, never a half name
    assert all(re.search(r"(^|\s)…", ln) for ln in body if "…" in ln), body
    if "What changed around the model" in lines:
        assert lines[why - 1] == ""
    if scene == "flag":
        assert "    [config] aot_key: inductor_config.fallback_random False → True (also" in text


def test_changed_graph_lines_come_before_the_signature():
    old, new = SCENES["layer"]()
    result = drift.check(_load(old), _load(new))
    [s4] = [s for s in result.drifted if s.id == "g0/submod_4"]
    gm = [f.text for f in s4.findings if f.component == "gm"]
    assert len(gm) == 2
    for text in gm:
        removed, _, added = text.partition(": gm ")[2].partition(" → ")
        assert not removed.startswith(("def forward", "GraphModule", "<lambda>")), text
        assert not added.startswith(("def forward", "GraphModule", "<lambda>")), text
    assert gm[0].startswith("aot_key: gm relu = add.relu()")
    # the constant change has an unchanged signature: only the changed line shows
    old, new = SCENES["constant"]()
    lines = [f.text for s in drift.check(_load(old), _load(new)).drifted for f in s.findings]
    assert "aot_key: gm add = mean + 1e-06; mean = None → add = mean + 1e-05; mean = None" in lines


# --- 6. junit classname ----------------------------------------------------------------------


def test_junit_classname_has_no_dots_in_the_model_name(tmp_path, capsys):
    junit = tmp_path / "j.xml"
    assert run_cli(["explain", str(LAYER / "old.json"), str(LAYER / "new.json"),
                    "--junit-xml", str(junit)]) == 1
    names = set(re.findall(r'classname="([^"]+)"', junit.read_text(encoding="utf-8")))
    assert names == {"cachekey.model_py.build"}
    snap = _load(load_json(LAYER / "new.json"))
    dotted = baseline.Snapshot(**{**snap.__dict__, "model": {**snap.model, "name": "pkg.mod"}})
    assert check_junit.classname(dotted) == "cachekey.pkg_mod.build"


# --- 7. the mode ------------------------------------------------------------------------------


def test_snapshot_records_the_mode_as_the_core_does():
    snap = snapshot_dict(BASE)
    analysis = fixture_run(BASE).analysis
    assert snap["environment"] == serialize.environment(analysis)
    assert snap["environment"]["mode"] == "inference"
    model = serialize.model(analysis)
    assert snap["model"] == {**{k: v for k, v in model.items() if k != "source"},
                             "name": "model.py"}
    assert snap["tool"] == serialize.TOOL


def test_snapshot_without_a_mode_still_loads_and_compares_as_inference():
    old = snapshot_dict(BASE)
    legacy = copy.deepcopy(old)
    del legacy["environment"]["mode"]
    assert _load(legacy).environment["mode"] is None
    result = drift.check(_load(legacy), _load(old))
    assert not result.drifted and result.context == ()
    legacy["environment"]["mode"] = None
    assert _load(legacy).environment["mode"] is None


@pytest.mark.parametrize("bad", [1, True, ["training"], {"m": 1}])
def test_a_mode_that_is_not_a_string_is_exit_3(bad, tmp_path, capsys):
    doc = snapshot_dict(BASE)
    doc["environment"]["mode"] = bad
    path = write_snapshot(tmp_path / "b.json", doc)
    before = path.read_bytes()
    assert run_cli(["explain", str(path), str(path)]) == 3
    assert ".environment.mode must be str" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_training_mode_is_config_drift(tmp_path, monkeypatch, capsys):
    old, new = snapshot_dict(BASE), snapshot_dict(BASE, inference=False)
    assert new["environment"]["mode"] == "training"
    result = drift.check(_load(old), _load(new))
    assert result.categories == ("config",)
    assert "config mode: inference → training (--training)" in result.context
    texts = [f.text for s in result.drifted for f in s.findings]
    assert any(t.startswith("aot_key: grad_enabled False → True") for t in texts), texts
    assert drift.check(_load(old), _load(new), ("config",)).exit_code == 0
    memo_pipeline(monkeypatch)
    path = write_snapshot(tmp_path / "b.json", old)
    assert run_cli(["check", fixture_arg(BASE), "--baseline", str(path), "--training",
                    "--allow", "config"]) == 0
    assert os.path.getsize(path) == len(baseline.dumps(old).encode())


def test_a_baseline_taken_without_vllm_names_the_client_where_vllm_is_installed(tmp_path,
                                                                                capsys):
    old = json.loads((GOLDEN / "layer" / "old.json").read_text())
    new = json.loads(json.dumps(old))
    new["profile"].update(client="vLLM 0.33.0 (importable)", vllm_version="0.33.0",
                          not_reproduced=[])
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    run_cli(["explain", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--format",
             "json"])
    context = json.loads(capsys.readouterr().out)["context"]
    assert ("config profile client: vLLM 0.33.0 (torch side; vLLM not importable) → "
            "vLLM 0.33.0 (importable)") in context
    assert "config profile vllm_version: (none) → 0.33.0" in context
