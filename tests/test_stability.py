"""Stability: keys compared across fresh processes, and the trigger found one factor at a time."""

from __future__ import annotations

import json
import subprocess
import sys

from cachekey_cli import stability
from cachekey_cli.cli import run_cli
from cachekey_cli.stability.compare import varying
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


def test_values_are_cut_to_where_they_differ():
    from cachekey_cli.stability.compare import focus

    a = "mul = torch.ops.aten.mul.Tensor(relu, 1.3966962853446603);  relu = None"
    b = "mul = torch.ops.aten.mul.Tensor(relu, 1.7031786674633622);  relu = None"
    assert focus([a, b]) == ["…aten.mul.Tensor(relu, 1.3966962853446603);  relu = None",
                             "…aten.mul.Tensor(relu, 1.7031786674633622);  relu = None"]
    long = ["x" * 40 + "1" + "y" * 80, "x" * 40 + "2" + "y" * 80, None]
    assert focus(long) == ["…" + "x" * 24 + "1" + "y" * 24 + "…",
                           "…" + "x" * 24 + "2" + "y" * 24 + "…", None]
    assert focus(["same", "same"]) == ["same", "same"]


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
    assert result.cause == "environment" and result.reference == 1
    assert result.sentence().endswith("; trigger: PYTHONHASHSEED.")


def test_clean_transformer_is_stable(tmp_path):
    out = tmp_path / "stability.json"
    code = run_cli(["-q", "stability", fixture_path("transformer.py"), "--runs", "2",
                    "--format", "json", "-o", str(out)])
    data = json.loads(out.read_text())
    assert code == 0, data["varying"]
    assert data["stable"] is True and data["varying"] == [] and data["triggers"] == []
    assert data["pieces"] == 7 and data["keys_compared"] == 30
    seeds = {r["PYTHONHASHSEED"] for r in data["runs"]}
    assert len(seeds) == 2
    assert data["summary"]["cause"] is None and data["search"] is None
    outside_meta = json.dumps({k: v for k, v in data.items() if k != "meta"})
    assert "cachekey-stability-" not in outside_meta and "run-0-" not in outside_meta
    assert set(data["meta"]["environments"]) == {"run 1", "run 2"}


def _fake_runner(key_of, calls):
    """Stands in for the fresh processes: the AOT key is ``key_of(environment values)``."""

    def run(envs, tick):
        calls.append([e.label for e in envs])
        out = []
        for env in envs:
            key = key_of(env.values)
            out.append(_report(key, "h" + key, {"h" + key: f"x = y * {key}"}))
            tick()
        return out

    return run


def test_probes_take_the_values_of_a_run_that_differs():
    # Runs 1 and 2 agree; only run 3's seed moves the key. Probing with run 2's values
    # (as the search once did) would find nothing.
    odd = str(stability.SEEDS[2])
    calls: list[list[str]] = []
    result = stability.check("m.py", [], runs=3, jobs=2, runner=_fake_runner(
        lambda v: "a-odd" if v["PYTHONHASHSEED"] == odd else "a", calls))
    assert result.reference == 2
    assert result.culprits == ("PYTHONHASHSEED",) and result.cause == "environment"
    assert not result.in_process
    assert [t.factor for t in result.triggers] == [*stability.FACTORS, stability.CONTROL]
    assert "trigger: PYTHONHASHSEED." in result.sentence()
    assert calls[1] == [stability.CONTROL, "only PYTHONHASHSEED"]  # the control goes first


def test_a_moving_control_means_in_process_nondeterminism_and_blames_no_factor():
    counter = iter(range(100))
    calls: list[list[str]] = []
    result = stability.check("m.py", [], runs=2, jobs=2, runner=_fake_runner(
        lambda v: f"a{next(counter)}", calls))
    assert result.in_process and result.cause == "in-process"
    assert result.culprits == ()
    assert [(t.factor, t.varies) for t in result.triggers] == [(stability.CONTROL, True)]
    assert len(calls) == 2 and len(calls[1]) == 2  # one batch of probes, the rest skipped
    assert stability.IN_PROCESS in result.sentence()
    assert "trigger" not in result.sentence()


def test_same_outcome_same_bytes_outside_meta():
    from cachekey_cli.render import stability_renderers as renderers
    from cachekey_cli.render.stability import json as stability_json

    def once():
        return stability.check("m.py", [], runs=3, jobs=2, runner=_fake_runner(
            lambda v: "a-odd" if v["PYTHONHASHSEED"] == "1" else "a", []))

    a, b = once(), once()
    assert a.meta["root"] != b.meta["root"]
    da, db = stability_json.to_dict(a), stability_json.to_dict(b)
    assert da.pop("meta")["environments"] != db.pop("meta")["environments"]
    assert da == db
    for fmt in ("rich", "markdown"):
        assert renderers()[fmt](a, color=False, width=80) == renderers()[fmt](b, color=False,
                                                                              width=80)


def test_random_constant_is_nondeterminism_inside_the_process():
    # Two runs and one batch of probes (the control, which moves, and the seed beside it).
    from cachekey_cli.render import stability_renderers as renderers
    from cachekey_cli.render.stability import json as stability_json

    result = stability.check(fixture_path("nonce.py"), [], runs=2, jobs=2,
                             factors=("PYTHONHASHSEED",))
    assert not result.stable and result.cause == "in-process" and result.culprits == ()
    assert [(t.factor, t.varies) for t in result.triggers] == [(stability.CONTROL, True)]
    ind = next(v for v in result.varying if v.variant == "plain" and v.kind == "inductor_key")
    gm = next(c for c in ind.components if c.name == "gm")
    first, second = (str(x) for x in gm.values)
    assert first.startswith("…") and "mul.Tensor(relu, 1." in first and first != second
    data = stability_json.to_dict(result)
    assert data["summary"]["cause"] == "in-process" and data["summary"]["culprits"] == []
    text = renderers()["rich"](result, color=False, width=80)
    flat = " ".join(text.split())
    assert stability.IN_PROCESS in flat and "trigger:" not in flat
    for value in (first, second):  # the differing digits are shown, not cut
        assert " ".join(value.split()) in flat
    assert max(len(line) for line in text.splitlines()) <= 80
    assert not [line for line in text.splitlines() if line != line.rstrip()]
    assert stability.IN_PROCESS in renderers()["markdown"](result)


def test_run_lines_wrap_under_their_indent():
    from cachekey_cli.render.stability.text import render_rich

    result = stability.StabilityResult("m.py", stability.plan(3, "/r"), 1, 3, ())
    text = render_rich(result, color=False, width=40)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  PYTHONHASHSEED"))
    last = next(i for i, line in enumerate(lines) if line.startswith("Stable"))
    assert last - first > 2 and all(line.startswith("  ") for line in lines[first:last]), text
    assert "Stable: all 3 keys of 1 piece agree" in " ".join(text.split())


def test_help_does_not_import_torch():
    code = ("import sys; from cachekey_cli.cli import cli; "
            "assert 'stability' in cli.commands and 'dedup' in cli.commands; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
