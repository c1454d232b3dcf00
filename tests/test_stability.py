"""Stability: keys compared across fresh processes, and the trigger found one factor at a time."""

from __future__ import annotations

import json
import subprocess
import sys

from cachekey_cli import stability
from cachekey_cli.cli import run_cli
from cachekey_cli.stability_compare import varying
from tests.conftest import fixture_path


def _report(aot: str, gm_hash: str, values: dict[str, str], extra: bool = False) -> dict:
    sub = {
        "id": "g0/submod_0",
        "variants": {"plain": {"graph_hash": "g1", "aot_key": aot, "inductor_key": "f1",
                               "components": {"aot_key": {"gm": gm_hash, "torch_version": "t"}}}},
    }
    subgraphs = [sub]
    if extra:
        subgraphs.append({"id": "g0/submod_1", "variants": {"plain": {"graph_hash": "g2"}}})
    return {"subgraphs": subgraphs, "component_values": values}


def test_compare_names_the_moving_component_with_both_values():
    a = _report("a1", "h1", {"h1": "x = relu(y)\nreturn (x,)", "t": "2.13"})
    b = _report("a2", "h2", {"h2": "x = tanh(y)\nreturn (x,)", "t": "2.13"})
    moved = varying([a, b])
    assert [(v.piece, v.variant, v.kind, v.keys) for v in moved] == [
        ("g0/submod_0", "plain", "aot_key", ("a1", "a2"))
    ]
    assert [(c.name, c.values) for c in moved[0].components] == [
        ("gm", ("x = relu(y)", "x = tanh(y)"))
    ]
    assert varying([a, a]) == ()


def test_compare_reports_a_piece_present_in_only_some_runs():
    moved = varying([_report("a1", "h1", {}), _report("a1", "h1", {}, extra=True)])
    assert [(v.piece, v.kind, v.keys) for v in moved] == [
        ("g0/submod_1", "presence", ("(absent)", "present"))
    ]


def test_plan_perturbs_every_factor_and_one_factor_probes_change_only_it(tmp_path):
    runs = stability.plan(3, str(tmp_path))
    for factor in stability.FACTORS:
        assert len({r.values[factor] for r in runs}) == 3, factor
    probe = runs[0].with_factor("TMPDIR", runs[1], "only TMPDIR")
    changed = [f for f in stability.FACTORS if probe.values[f] != runs[0].values[f]]
    assert changed == ["TMPDIR"]
    env = runs[0].environ({"PATH": "/bin"})
    assert env["HOME"] == runs[0].values["HOME and XDG dirs"]
    assert env["XDG_CACHE_HOME"].startswith(env["HOME"])
    assert env["PYTHONHASHSEED"] == "1" and env["PATH"] == "/bin"


def test_hash_seed_fixture_is_unstable_and_the_seed_is_named():
    # Two runs plus two probes (the seed alone, and a control that changes nothing);
    # the full six-factor search is the same loop with more probes.
    result = stability.check(fixture_path("hashseed_order.py"), [], runs=2, jobs=2,
                             factors=("PYTHONHASHSEED",))
    assert not result.stable
    kinds = {(v.variant, v.kind) for v in result.varying}
    assert {("plain", "aot_key"), ("plain", "inductor_key"), ("tuple_return", "aot_key")} <= kinds
    aot = next(v for v in result.varying if v.kind == "aot_key")
    assert [c.name for c in aot.components] == ["gm"]
    assert result.culprits == ("PYTHONHASHSEED",)
    by_factor = {t.factor: t for t in result.triggers}
    assert by_factor["PYTHONHASHSEED"].pieces == ("g0/submod_0",)
    assert not by_factor[stability.CONTROL].varies


def test_clean_transformer_is_stable(tmp_path):
    out = tmp_path / "stability.json"
    code = run_cli(["-q", "stability", fixture_path("transformer.py"), "--runs", "2",
                    "--format", "json", "-o", str(out)])
    data = json.loads(out.read_text())
    assert code == 0, data["varying"]
    assert data["stable"] is True and data["varying"] == [] and data["triggers"] == []
    assert data["pieces"] == 7 and data["keys_compared"] == 30
    seeds = {r["environment"]["PYTHONHASHSEED"] for r in data["runs"]}
    assert len(seeds) == 2


def test_help_does_not_import_torch():
    code = ("import sys; from cachekey_cli.cli import cli; "
            "assert 'stability' in cli.commands and 'dedup' in cli.commands; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
