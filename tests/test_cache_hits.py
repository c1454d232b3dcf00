"""``check --cache`` against real Inductor caches: the prediction equals a warm run's counters.

Each cache is made by a real ``torch.compile`` into a fresh ``TORCHINDUCTOR_CACHE_DIR``
(tests/oracles/warm_run.py, which shares no code with cachekey). Then the model is
perturbed (one layer's norm eps, the dtype, an Inductor flag, input sizes that keep
both keys but fail a guard), ``cachekey check --cache`` predicts every Dynamo graph's
lookups, and a real warm compile against a copy of the cache counts what torch did,
graph by graph, from ``torch._dynamo.utils.counters``. They must be equal.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cachekey_cli.cli import run_cli
from tests.baseline_support import fixture_arg, memo_pipeline
from tests.oracles import warm_run

pytestmark = pytest.mark.compile

PERTURBED = fixture_arg("perturbed.py")
GUARDS = fixture_arg("guard_shapes.py")


def predict(capsys, spec: str, cache: Path, *extra: str) -> tuple[int, dict]:
    code = run_cli(["-q", "check", spec, "--profile", "torch-compile", "--cache", str(cache),
                    "--format", "json", *extra])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return code, json.loads(out)


def _config(flags: tuple[str, ...]) -> dict:
    return warm_run._config(flags)


def _truth(tmp_path, baked, spec, flags, capsys, monkeypatch):
    memo_pipeline(monkeypatch)
    cache = tmp_path / "cache"
    shutil.copytree(baked, cache)
    extra = tuple(x for f in flags for x in ("--inductor-config", f))
    code, doc = predict(capsys, spec, cache, *extra)
    module, args, dims = warm_run.load(spec)
    counted = warm_run.compile_counting(cache, module, args, dims, _config(flags))
    predicted = [p["counters"] for p in doc["pieces"]]
    assert predicted == counted, (doc["pieces"], counted)
    return code, [p["cache"] for p in doc["pieces"]], doc


# (factory, --inductor-config flags, the words expected per Dynamo graph)
TWO_GRAPHS = [
    ("two_graphs", (), ["hit", "hit"]),
    ("two_graphs_eps", (), ["hit", "miss"]),  # only the second layer's eps moved
    ("two_graphs_bf16", (), ["miss", "miss"]),
    ("two_graphs", ("fallback_random=True",), ["miss", "miss"]),
]


@pytest.mark.parametrize(("factory", "flags", "words"), TWO_GRAPHS,
                         ids=["same", "eps", "bf16", "flag"])
def test_two_graphs_prediction_equals_warm_counters(two_graphs_cache, factory, flags, words,
                                                    tmp_path, capsys, monkeypatch):
    code, got, doc = _truth(tmp_path, two_graphs_cache, f"{PERTURBED}:{factory}", flags, capsys,
                            monkeypatch)
    assert got == words
    assert code == (0 if words == ["hit", "hit"] else 1)


@pytest.mark.parametrize(("factory", "flags", "words"), [
    ("build", (), ["hit"]), ("build_eps", (), ["miss"]), ("build_bf16", (), ["miss"]),
    ("build", ("fallback_random=True",), ["miss"])], ids=["same", "eps", "bf16", "flag"])
def test_custom_op_fixture_prediction_equals_warm_counters(custom_op_cache, factory, flags, words,
                                                           tmp_path, capsys, monkeypatch):
    _, got, doc = _truth(tmp_path, custom_op_cache, f"{PERTURBED}:{factory}", flags, capsys,
                         monkeypatch)
    assert got == words
    if words == ["miss"]:
        assert "the AOT key" in doc["pieces"][0]["reasons"][0] and "absent" in \
            doc["pieces"][0]["reasons"][0]


def test_same_keys_but_a_failed_guard_is_a_guard_miss(guard_cache, tmp_path, capsys,
                                                      monkeypatch):
    """Compiled at (8, 9), run at (9, 10): the same AOT and FX keys, and the guard misses."""
    _, hit, doc_hit = _truth(tmp_path / "a", guard_cache, f"{GUARDS}:build", (), capsys,
                             monkeypatch)
    assert hit == ["hit"] and doc_hit["pieces"][0]["guards"][0]["passed"] is True
    code, got, doc = _truth(tmp_path / "b", guard_cache, f"{GUARDS}:second", (), capsys,
                            monkeypatch)
    assert got == ["miss"] and code == 1
    piece = doc["pieces"][0]
    assert piece["keys"] == doc_hit["pieces"][0]["keys"]  # both keys equal
    assert piece["counters"]["autograd_cache_guard_miss"] == 1
    assert piece["reasons"][0].startswith("guard miss")
    assert "L['t1'] != 2 * (L['t1'] // 2)" in piece["reasons"][0]
    assert piece["guards"] and piece["guards"][0]["passed"] is False


def test_snapshot_into_the_cache_explains_the_miss_down_to_the_component(
        two_graphs_cache, tmp_path, capsys, monkeypatch):
    memo_pipeline(monkeypatch)
    cache = tmp_path / "cache"
    shutil.copytree(two_graphs_cache, cache)
    assert run_cli(["-q", "snapshot", f"{PERTURBED}:two_graphs", "--profile", "torch-compile",
                    "--into", str(cache)]) == 0
    assert (cache / "cachekeys.json").is_file()
    capsys.readouterr()
    _, doc = predict(capsys, f"{PERTURBED}:two_graphs_eps", cache)
    assert doc["snapshot"] == str(cache / "cachekeys.json")
    first, second = doc["pieces"]
    assert first["cache"] == "hit" and first["findings"] == []
    assert second["cache"] == "miss"
    assert any("1e-05" in f and "0.001" in f for f in second["findings"]), second["findings"]


def test_rich_report_puts_misses_first_and_names_the_guard(guard_cache, tmp_path, capsys,
                                                          monkeypatch):
    memo_pipeline(monkeypatch)
    cache = tmp_path / "cache"
    shutil.copytree(guard_cache, cache)
    code = run_cli(["-q", "check", f"{GUARDS}:second", "--profile", "torch-compile", "--cache",
                    str(cache), "--width", "100"])
    out = capsys.readouterr().out
    assert code == 1
    assert "g0/graph   miss" in out
    assert "guards of entry" in out and "fails" in out
    assert ("1 compiled piece: 1 miss (1 cold compile, 0 from Inductor's cache), 0 hit. "
            "The check fails.") in out


def test_markdown_and_github_formats(two_graphs_cache, tmp_path, capsys, monkeypatch):
    memo_pipeline(monkeypatch)
    cache = tmp_path / "cache"
    shutil.copytree(two_graphs_cache, cache)
    spec = f"{PERTURBED}:two_graphs_eps"
    base = ["-q", "check", spec, "--profile", "torch-compile", "--cache", str(cache)]
    assert run_cli([*base, "--format", "markdown"]) == 1
    md = capsys.readouterr().out
    assert md.index("⚠️ miss") < md.index("✅ hit")  # misses before hits
    assert run_cli([*base, "--format", "github"]) == 1
    gh = capsys.readouterr().out
    assert gh.startswith("::warning title=cachekey cache miss → cold compile%3A g1/graph::")


def test_check_needs_exactly_one_of_baseline_and_cache(capsys):
    assert run_cli(["check", PERTURBED]) == 2
    assert "exactly one of --baseline FILE and --cache PATH" in capsys.readouterr().err
    assert run_cli(["check", PERTURBED, "--baseline", "x.json", "--cache", "y"]) == 2
    assert run_cli(["check", PERTURBED, "--cache", "y", "--allow", "graph"]) == 2


def test_an_aot_entry_whose_forward_is_gone_is_a_miss(custom_op_cache, tmp_path, capsys,
                                                      monkeypatch):
    """The AOT key is there, the FX entry it loads is not: torch counts an FX miss on the load,
    an AOTAutograd miss, then compiles and misses the FX key again."""
    memo_pipeline(monkeypatch)
    cache = tmp_path / "cache"
    shutil.copytree(custom_op_cache, cache)
    shutil.rmtree(cache / "fxgraph")
    (cache / "fxgraph").mkdir()
    spec = f"{PERTURBED}:build"
    _, doc = predict(capsys, spec, cache)
    module, args, dims = warm_run.load(spec)
    counted = warm_run.compile_counting(cache, module, args, dims)
    assert [p["counters"] for p in doc["pieces"]] == counted
    piece = doc["pieces"][0]
    assert piece["cache"] == "miss" and "the forward it needs" in piece["reasons"][0]
