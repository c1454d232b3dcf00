"""Snapshots and drift: known-cause fixture pairs, config and environment drift, the CLI loop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cachekey_cli import baseline
from cachekey_cli.analysis import pipeline
from cachekey_cli.baseline import load as baseline_load
from cachekey_cli.cli import run_cli
from cachekey_cli.compare import drift
from tests.baseline_support import (
    BASE,
    fixture_arg,
    fixture_run,
    memo_pipeline,
    rekey,
    simulate_torch_upgrade,
    snapshot_dict,
    write_snapshot,
)
from tests.conftest import FIXTURES

CASES = sorted(p.parent.name for p in (FIXTURES / "drift").glob("*/expect.json"))


def _snap(name: str, **options) -> baseline.Snapshot:
    return baseline_load.from_dict(snapshot_dict(name, **options), name)


def test_cases_are_found():
    assert set(CASES) >= {"constant", "layer", "dtype"}


def test_same_model_has_no_drift():
    result = drift.check(_snap(BASE), _snap(BASE))
    assert not result.drifted and result.exit_code == 0
    statuses = [s.status for s in result.subgraphs]
    assert statuses == ["same", "not compiled", "same", "not compiled", "same"]


@pytest.mark.parametrize("case", CASES)
def test_fixture_pair_drifts_for_the_known_reason(case):
    expect = json.loads((FIXTURES / "drift" / case / "expect.json").read_text())
    result = drift.check(_snap(BASE), _snap(f"drift/{case}/model.py"))
    assert result.exit_code == 1
    assert expect["category"] in result.categories
    findings = [f for s in result.drifted for f in s.findings if f.category == expect["category"]]
    assert findings
    if expect["component"]:
        named = {(f.kind, f.component) for f in findings}
        assert (expect["kind"], expect["component"]) in named


def test_changed_constant_names_the_graph_line():
    result = drift.check(_snap(BASE), _snap("drift/constant/model.py"))
    lines = [line for s in result.drifted for line in s.lines()]
    assert any("aot_key: gm" in ln and "1e-06" in ln and "1e-05" in ln for ln in lines), lines
    assert result.categories == ("graph",)


def test_dtype_change_names_the_input_and_only_the_dtype_field():
    result = drift.check(_snap(BASE), _snap("drift/dtype/model.py"))
    assert result.categories == ("inputs",)
    lines = result.drifted[0].lines()
    assert lines[0] == "g0/submod_0 aot_key: input x: dtype float32 → float64 (also inductor_key)"
    assert lines[1] == (
        "g0/submod_0 aot_key: input self.layers.0.qkv.weight: dtype float32 → float64 "
        "(also inductor_key)"
    )


def test_added_layer_is_split_drift():
    result = drift.check(_snap(BASE), _snap("drift/layer/model.py"))
    added = [s for s in result.subgraphs if s.status == "added"]
    assert [s.id for s in added] == ["g0/submod_5", "g0/submod_6"]
    assert "split: 5 → 7 subgraphs" in result.context
    assert "split" in result.categories


def test_inductor_config_flag_is_config_drift_naming_the_component():
    old = _snap(BASE)
    new = _snap(BASE, inductor_config=("fallback_random=True",))
    assert new.config_overrides == {"inductor.fallback_random": "True"}
    result = drift.check(old, new)
    assert result.categories == ("config",)
    compiled = [s for s in result.subgraphs if s.status != "not compiled"]
    assert all(s.status == "drift" for s in compiled)
    line = "g0/submod_4 aot_key: inductor_config.fallback_random False → True (also inductor_key)"
    assert line in result.drifted[-1].lines()
    assert "config override inductor.fallback_random: (not set) → True" in result.context


def test_functorch_config_flag_is_recorded():
    snap = snapshot_dict(BASE, functorch_config=("autograd_cache_normalize_inputs=True",))
    assert snap["config_overrides"] == {"functorch.autograd_cache_normalize_inputs": "True"}


def test_allow_turns_drift_into_a_warning():
    old, new = _snap(BASE), _snap(BASE, inductor_config=("fallback_random=True",))
    result = drift.check(old, new, allow=("config",))
    assert result.exit_code == 0 and result.drifted and not result.failing
    assert {s.status for s in result.drifted} == {"allowed"}
    assert drift.check(old, new, allow=("environment",)).exit_code == 1


def test_environment_drift_from_an_edited_copy():
    old = snapshot_dict(BASE)
    new = simulate_torch_upgrade(old)
    result = drift.check(baseline_load.from_dict(old, "a"), baseline_load.from_dict(new, "b"))
    assert result.categories == ("environment",)
    first = result.drifted[0].lines()[0]
    installed = old["environment"]["torch"]  # the torch that took the snapshot
    assert first.startswith(f"g0/submod_0 aot_key: torch_version {installed} (")
    assert "→ 2.14.0+cpu (0123456789)" in first
    assert any(c.startswith("environment torch: ") for c in result.context)
    assert drift.check(
        baseline_load.from_dict(old, "a"), baseline_load.from_dict(new, "b"), ("environment",)
    ).exit_code == 0


def test_system_info_edit_is_environment_drift():
    old = snapshot_dict(BASE)
    new = json.loads(json.dumps(old))
    fake = "f" * 52
    new["shared_components"]["all"]["system_info[hash]"] = fake
    new["component_values"][fake] = "another-machine"
    rekey(new)
    result = drift.check(baseline_load.from_dict(old, "a"), baseline_load.from_dict(new, "b"))
    assert result.categories == ("environment",)
    assert any("system_info[hash]" in f.component for s in result.drifted for f in s.findings
               if f.component)


def test_snapshot_bytes_are_deterministic_across_traces():
    first = baseline.dumps(snapshot_dict(BASE))
    # a second, independent trace of the same model
    again = pipeline.run(pipeline.Options(model=fixture_arg(BASE)))
    assert baseline.dumps(baseline.build(again.analysis)) == first


def test_snapshot_contents():
    snap = snapshot_dict(BASE)
    assert snap["schema_version"] == baseline.SNAPSHOT_SCHEMA_VERSION
    assert snap["variant"] == "tuple_return"
    assert snap["model"]["name"] == "model.py" and snap["model"]["factory"] == "build"
    assert snap["split"]["ids"] == [f"g0/submod_{i}" for i in range(5)]
    assert snap["split"]["splitting_ops"] == ["g0/submod_1", "g0/submod_3"]
    assert set(snap["environment"]) >= {"torch", "torch_git", "python", "platform", "devices"}
    assert snap["unique_keys"]["tuple_return"]["aot_key"] == 3
    assert "meta" not in snap  # volatile facts are added only by the CLI
    # round trip: the stored components rebuild every key's full component list
    loaded = baseline_load.from_dict(snap, "x")
    run = fixture_run(BASE)
    for piece, snapped in zip(run.analysis.pieces, loaded.pieces, strict=True):
        for kind in ("aot_key", "inductor_key"):
            want = {(c.name, c.hash) for c in piece.variants["tuple_return"].key(kind).components}
            got = {(c.name, c.hash) for c in snapped.key(kind).components}
            assert got == want
    assert len(baseline.dumps(snap)) < 150_000


def test_plain_variant_records_normalization():
    snap = baseline_load.from_dict(snapshot_dict(BASE, variant="plain"), "x")
    assert snap.variant == "plain"
    assert snap.pieces[-1].normalized and snap.pieces[-1].output_code.startswith("return [")


# --- the CLI loop, in process ---------------------------------------------------------------


def test_full_loop(tmp_path: Path, monkeypatch, capsys):
    memo_pipeline(monkeypatch)
    out = tmp_path / "cachekeys.json"
    assert run_cli(["snapshot", fixture_arg(BASE), "-o", str(out)]) == 0
    snap = json.loads(out.read_text())
    assert set(snap["meta"]) >= {"created", "host", "cwd", "timings"}
    before = out.read_bytes()
    capsys.readouterr()

    assert run_cli(["check", fixture_arg(BASE), "--baseline", str(out)]) == 0
    assert "No drift" in capsys.readouterr().out

    changed = fixture_arg("drift/constant/model.py")
    junit = tmp_path / "junit.xml"
    rc = run_cli(["check", changed, "--baseline", str(out), "--format", "json",
                  "--junit-xml", str(junit)])
    assert rc == 1
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["categories"] == ["graph"]
    assert "<failure" in junit.read_text()
    assert out.read_bytes() == before  # check never modifies the baseline

    new = tmp_path / "new.json"
    assert run_cli(["snapshot", changed, "-o", str(new)]) == 0
    capsys.readouterr()
    assert run_cli(["explain", str(out), str(new), "--format", "markdown"]) == 1
    assert "`g0/submod_0 aot_key: gm add = mean + 1e-06" in capsys.readouterr().out


def test_check_config_flag_from_the_command_line(tmp_path, monkeypatch, capsys):
    memo_pipeline(monkeypatch)
    out = write_snapshot(tmp_path / "b.json", snapshot_dict(BASE))
    argv = ["check", fixture_arg(BASE), "--baseline", str(out),
            "--inductor-config", "fallback_random=True", "--format", "github"]
    assert run_cli(argv) == 1
    text = capsys.readouterr().out
    assert text.startswith("::error title=cachekey drift%3A g0/submod_0 (config)::")
    assert "inductor_config.fallback_random False → True" in text
    assert run_cli(argv + ["--allow", "config"]) == 0
    assert "::warning title=" in capsys.readouterr().out


def test_bad_config_key_is_exit_3(tmp_path, monkeypatch, capsys):
    out = write_snapshot(tmp_path / "b.json", snapshot_dict(BASE))
    argv = ["check", fixture_arg(BASE), "--baseline", str(out), "--inductor-config", "no_such=1"]
    assert run_cli(argv) == 3
    assert "unknown inductor config key 'no_such'" in capsys.readouterr().err
    assert run_cli(["snapshot", fixture_arg(BASE), "-o", str(tmp_path / "x.json"),
                    "--inductor-config", "fallback_random=maybe"]) == 3
    assert not (tmp_path / "x.json").exists()


def test_check_with_other_variant_is_exit_3(tmp_path, capsys):
    out = write_snapshot(tmp_path / "b.json", snapshot_dict(BASE))
    assert run_cli(["check", fixture_arg(BASE), "--baseline", str(out), "--variant", "plain"]) == 3
    assert "records variant tuple_return" in capsys.readouterr().err
