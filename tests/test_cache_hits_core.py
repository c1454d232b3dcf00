"""The torch-free core of ``check --cache``: guards, inert pickle reading, lookups, words."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import pytest

from cachekey_cli.cache_hits import guards, inductor
from cachekey_cli.cache_hits.records import (
    CacheCheck,
    CurrentPiece,
    Entry,
    InductorCache,
    KeyFolder,
    PieceCache,
)
from cachekey_cli.pickled import Obj, skeleton

AOT, FX = "a" + "x" * 51, "f" + "y" * 51


def test_guards_evaluate_with_python_integer_semantics():
    expr = "L['t1'] != 2 * (L['t1'] // 2) and 2 <= L['t0'] and 4 <= L['t1']"
    assert guards.evaluate(expr, [8, 9]).passed is True
    failed = guards.evaluate(expr, [9, 10])
    assert failed.passed is False and failed.detail == "L['t1'] != 2 * (L['t1'] // 2)"
    assert guards.evaluate("2 <= L['t0'] <= 8", [9]).passed is False  # chained
    assert guards.evaluate("max(1, L['t0'] - 7) == 1 and (-L['t0']) % 8 == 0", [8]).passed
    assert guards.evaluate("math.floor(L['t0'] / 3) == 2", [8]).passed


def test_guards_that_call_anything_else_are_left_unchecked_never_run():
    for expr, word in [("__import__('os').system('true')", "__import__"),
                       ("Mod(L['t0'], 2) == 0", "Mod"), ("L['t0'].bit_length()", "calls"),
                       ("L['t5'] == 1", "L['t5']"), ("2 ** L['t0'] > 1", "power")]:
        result = guards.evaluate(expr, [99999])
        assert result.passed is None and word in result.detail, (expr, result)


@dataclass
class _State:
    guards_expr: str
    inner: object


def test_skeleton_names_classes_without_importing_them():
    value = skeleton(pickle.dumps(_State("L['t0'] == 3", {"k": (1, 2.5, b"x", None)})))
    assert isinstance(value, Obj) and value.qualname.endswith("_State")
    assert value.attr("guards_expr") == "L['t0'] == 3"
    assert value.attr("inner") == {"k": (1, 2.5, b"x", None)}


def _cache(aot: dict[str, tuple[Entry, ...]], fx: dict[str, tuple[Entry, ...]]):
    cache = InductorCache("/c", frozenset(aot), {k: f"fxgraph/yy/{k}" for k in fx})

    def lookup(_c, kind, key):
        found = (aot if kind == "aot" else fx).get(key)
        return KeyFolder(kind, key, found) if found is not None else None

    return cache, lookup


def test_a_guard_that_cannot_be_read_is_a_hit_that_says_so():
    cache, lookup = _cache({AOT: (Entry("e1", 10, "Mod(L['t0'], 8) == 0", FX, ""),)},
                           {FX: (Entry("f1", 10, ""),)})
    (piece,) = inductor.predict(cache, [CurrentPiece("g0/graph", 0, AOT, FX, hints=(8,))],
                                lookup)
    assert piece.cache == "hit" and piece.label == "hit (guards not checked)"
    assert "Mod" in piece.unchecked[0]
    assert piece.counters == {"autograd_cache_hit": 1, "fxgraph_cache_hit": 1}


def test_a_guard_stored_as_something_other_than_text_is_not_a_clean_hit():
    # read_entry gives guards=None when guards_expr is not a string
    cache, lookup = _cache({AOT: (Entry("e1", 10, None, FX, ""),)}, {FX: (Entry("f1", 10, ""),)})
    (piece,) = inductor.predict(cache, [CurrentPiece("g0/graph", 0, AOT, FX, hints=(8,))],
                                lookup)
    assert piece.cache == "hit" and piece.label == "hit (guards not checked)"
    assert "not text" in piece.unchecked[0]


def test_the_first_entry_whose_guards_hold_is_taken():
    entries = (Entry("a1", 10, "L['t0'] == 4", FX, "g4"), Entry("a2", 10, "L['t0'] == 8", FX,
                                                                 "g8"))
    cache, lookup = _cache({AOT: entries}, {FX: (Entry("f4", 1, "g4"), Entry("f8", 1, "g8"))})
    (piece,) = inductor.predict(cache, [CurrentPiece("g0/graph", 0, AOT, FX, hints=(8,))],
                                lookup)
    assert piece.cache == "hit"
    assert [(g.entry, g.passed) for g in piece.guards] == [("a1", False), ("a2", True)]


def test_a_graph_compiled_earlier_in_the_run_serves_a_later_one_with_its_key():
    cache, lookup = _cache({}, {})
    pieces = [CurrentPiece("g0/graph", 0, AOT, FX), CurrentPiece("g1/graph", 1, "a" + "z" * 51,
                                                                 FX)]
    first, second = inductor.predict(cache, pieces, lookup)
    assert first.counters == {"autograd_cache_miss": 1, "fxgraph_cache_miss": 1}
    assert second.counters == {"autograd_cache_miss": 1, "fxgraph_cache_hit": 1}


def test_words_order_and_exit_code():
    result = CacheCheck("m:build", "vllm", "/c", "cache root", (
        PieceCache("g0/submod_0", "hit", ("r",)), PieceCache("g0/submod_2", "miss", ("r",)),
        PieceCache("g0/submod_4", "stale", ("r",))))
    assert [p.cache for p in result.ordered] == ["stale", "miss", "hit"]
    assert int(result.exit_code) == 1
    assert result.sentence().startswith("3 compiled pieces: 1 stale")
    ok = CacheCheck("m:build", "vllm", "/c", "cache root", (PieceCache("g", "hit", ()),))
    assert int(ok.exit_code) == 0 and ok.sentence() == "The compiled piece hits the cache."


def test_rich_report_puts_stale_first_and_wraps_under_its_own_column():
    from cachekey_cli.render import cache_renderers

    long = "a note long enough to wrap at a hundred columns " * 3
    result = CacheCheck(
        "m.py:build", "vllm", "/c", "cache root",
        (PieceCache("g0/submod_0", "hit", ("found",)),
         PieceCache("g0/submod_2", "stale", ("the header holds another key",))),
        facts=(("mode", long),), notes=(long,),
        folder=("code hash 1 → 2", "    " + long))
    text = cache_renderers()["rich"](result, color=False, width=100)
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines)
    assert lines.index(next(x for x in lines if "g0/submod_2" in x)) < \
        lines.index(next(x for x in lines if "g0/submod_0" in x))  # stale first
    note = next(i for i, x in enumerate(lines) if x.startswith("note: a note"))
    assert lines[note + 1].startswith("      ") and lines[note + 1].strip()  # hangs under it
    mode = next(i for i, x in enumerate(lines) if "│ mode " in x)
    assert lines[mode + 1].startswith("│           ")  # the value wraps under the value
    deep = next(i for i, x in enumerate(lines) if x.startswith("      a note"))
    assert lines[deep + 1].startswith("      ")  # a folder line keeps its own indent


def test_a_reason_every_missing_piece_shares_is_said_once_above_the_table():
    from cachekey_cli.render import cache_renderers

    folder = "the AOT-compiled model's source check fails (__main__ changed)"
    result = CacheCheck("m.py:build", "vllm", "/c", "cache root", (
        PieceCache("g0/submod_0", "miss", (folder,), fallback="aotautograd",
                   fallback_reasons=("the AOT key a1… is present",)),
        PieceCache("g0/submod_2", "miss", (folder,), fallback="cold",
                   fallback_reasons=("the AOT key a2… is absent", "cost unknown"))))
    text = cache_renderers()["rich"](result, color=False, width=100)
    assert text.count(folder) == 1 and "Why every piece misses" in text
    row = next(x for x in text.splitlines() if x.lstrip().startswith("g0/submod_0"))
    assert "Inductor: the AOT key a1… is present" in row  # the row gives the piece's own reason
    md = cache_renderers()["markdown"](result)
    assert md.count(folder) == 1 and "**Why every piece misses**" in md
    one_hits = CacheCheck("m.py:build", "vllm", "/c", "cache root", (
        PieceCache("g0/submod_0", "hit", ("found",)),
        PieceCache("g0/submod_2", "miss", (folder,)),
        PieceCache("g0/submod_4", "miss", (folder,))))
    text = cache_renderers()["rich"](one_hits, color=False, width=100)
    assert text.count(folder) == 1 and "Why every piece that does not hit misses" in text
    alone = CacheCheck("m.py:build", "vllm", "/c", "cache root", (
        PieceCache("g0/submod_0", "miss", (folder,)), PieceCache("g0/submod_2", "miss", ("x",))))
    assert cache_renderers()["rich"](alone, color=False, width=100).count(folder) == 1
    assert "Why every" not in cache_renderers()["rich"](alone, color=False, width=100)


@pytest.mark.parametrize(("pieces", "said"), [
    ((PieceCache("g0/graph", "hit", ("r",), unchecked=("guards of entry e: not read",)),),
     "cachekey: The compiled piece hits the cache (1 not fully checked)."),
    ((PieceCache("g0/graph", "hit", ("r",)),), None),
])
def test_a_pass_says_on_stderr_when_a_hit_was_not_fully_checked(tmp_path, monkeypatch, capsys,
                                                                pieces, said):
    from types import SimpleNamespace

    from cachekey_cli import cache_hits
    from cachekey_cli.cli import cache_hits as cli_cache_hits
    from cachekey_cli.cli import group

    (tmp_path / "aotautograd").mkdir()
    result = CacheCheck("m.py:build", "torch-compile", str(tmp_path), "Inductor cache", pieces)
    monkeypatch.setattr(cache_hits, "check", lambda *a: result)
    analyse = lambda *a: (None, {"model": {}, "subgraphs": []}, None)  # noqa: E731
    with pytest.raises(group.Exit) as done:
        cli_cache_hits.run_check(SimpleNamespace(quiet=True), "m.py", str(tmp_path), "json",
                                 None, 100, {"profile": "torch-compile"}, analyse)
    assert done.value.code == 0
    err = capsys.readouterr().err.strip()
    assert err == (said or "")


def test_a_miss_that_inductor_serves_passes_only_with_fail_on_cold():
    from cachekey_cli.cache_hits.records import CacheCheck, PieceCache

    served = PieceCache("g0/submod_0", "miss", ("folder moved",), fallback="aotautograd")
    cold = PieceCache("g0/submod_2", "miss", ("folder moved",), fallback="cold")
    unknown = PieceCache("g0/submod_4", "miss", ("folder moved",), fallback="unknown")
    hit = PieceCache("g0/submod_6", "hit", ("loaded",))
    gate = CacheCheck("m", "vllm", "p", "cache root", (served, hit))
    assert gate.exit_code == 1
    assert CacheCheck("m", "vllm", "p", "cache root", (served, hit), fail_on="cold").exit_code == 0
    for bad in (cold, unknown):  # unknown is not known to be served: it fails too
        assert CacheCheck("m", "vllm", "p", "r", (served, bad), fail_on="cold").exit_code == 1
    both = CacheCheck("m", "vllm", "p", "r", (served, cold, hit))
    assert both.levels() == {"aotautograd": 1, "cold": 1}
    assert both.sentence() == ("3 compiled pieces: 2 miss (1 cold compile, 1 from Inductor's "
                               "cache), 1 hit. The check fails.")
    assert served.label == "miss → Inductor's cache" and cold.label == "miss → cold compile"
