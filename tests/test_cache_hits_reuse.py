"""``check --cache`` on models whose layers repeat: vLLM's in-memory reuse, and its opt-outs.

vLLM files one index entry per distinct AOT key: a piece whose key an earlier
piece of the same start already holds is served from memory
(``CompilerManager.compile``'s ``loaded_artifacts``). The truth for whole
redeploys of a three-layer model is in ``test_cache_hits_redeploy.py``; here the
rule itself, on the real per-piece cache of the scaled decoder.
"""

from __future__ import annotations

from cachekey_cli.cache_hits.records import CurrentPiece, PieceCache
from cachekey_cli.vllm.warm_start import reuse
from tests.test_cache_hits_vllm import PER_PIECE, index_keys, predict, summary


def test_a_piece_without_entry_whose_key_an_earlier_piece_loaded_reuses_it():
    baked = summary("stale-artifacts")
    k0, k1, k2 = index_keys(baked)
    # a fourth piece with piece #1's key: the index has no entry #3 (vLLM filed none for it)
    result = predict("stale-artifacts", baked, [k0, k1, k2, k1], PER_PIECE)
    assert [p.cache for p in result.pieces] == ["hit"] * 4
    assert [p.reuses for p in result.pieces] == [None, None, None, 1]
    assert result.pieces[3].label == "hit (reuses #1)"
    assert result.pieces[3].place == "in memory (piece #1)"
    assert result.exit_code == 0
    assert "1 of them from memory" in result.sentence()
    assert sum("an AOT key with an earlier piece" in n for n in result.notes) == 1  # said once


def test_a_piece_with_a_key_no_earlier_piece_holds_is_not_reused():
    baked = summary("stale-artifacts")
    k0, k1, k2 = index_keys(baked)
    result = predict("stale-artifacts", baked, [k0, k1, k2, "f" * 52], PER_PIECE)
    # the AOT-compiled model loads (its sources are unchanged) and its graph has no such piece
    assert [p.cache for p in result.pieces] == ["hit"] * 3 + ["stale"]
    assert result.pieces[3].reuses is None and result.exit_code == 1


def test_repeats_of_a_compiled_piece_compile_once():
    """Where vLLM compiles (no entry at all), the first of equal keys compiles, the rest reuse."""
    now = [CurrentPiece(f"g0/submod_{2 * i}", i, k, None) for i, k in enumerate("abbbc")]
    first = [PieceCache(c.id, "miss", ("no index",)) for c in now]
    out, notes = reuse.in_memory(first, now)
    assert [(p.cache, p.reuses) for p in out] == [
        ("miss", None), ("miss", None), ("hit", 1), ("hit", 1), ("miss", None)]
    assert len(notes) == 1 and notes[0].startswith("2 pieces share")


def test_no_reuse_where_the_piece_has_no_key_or_the_mega_model_loads():
    now = [CurrentPiece("a", 0, None, None), CurrentPiece("b", 1, None, None)]
    first = [PieceCache(c.id, "miss", ("x",)) for c in now]
    assert [p.cache for p in reuse.in_memory(first, now)[0]] == ["miss", "miss"]
    keyed = [CurrentPiece("a", 0, "k", None), CurrentPiece("b", 1, "k", None)]
    assert reuse.in_memory(first, keyed, loads_pieces=False)[0] == first


def test_disabled_compile_cache_compiles_every_piece_and_says_so(monkeypatch):
    """VLLM_DISABLE_COMPILE_CACHE=1: vLLM skips the AOT-compiled model and the index."""
    baked = summary("stale-artifacts")
    monkeypatch.setenv("VLLM_DISABLE_COMPILE_CACHE", "1")
    monkeypatch.setenv("VLLM_USE_MEGA_AOT_ARTIFACT", "0")
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)  # the server's is unknown
    k0, k1, k2 = index_keys(baked)
    result = predict("stale-artifacts", baked, [k0, k1, k2, k1], PER_PIECE)
    assert [p.cache for p in result.pieces] == ["miss"] * 3 + ["hit"]
    assert result.pieces[3].reuses == 1
    assert dict(result.facts)["cache use"] == "disabled (VLLM_DISABLE_COMPILE_CACHE=1)"
    assert all("VLLM_DISABLE_COMPILE_CACHE=1" in p.reasons[0] for p in result.pieces[:3])
    # VLLM_USE_AOT_COMPILE defaults to 0 under the opt-out: Inductor's folder is inherited
    assert [p.fallback for p in result.pieces[:3]] == ["unknown"] * 3
    assert result.exit_code == 1


def test_without_aot_compile_inductor_is_looked_up_in_this_starts_hash_folder(monkeypatch):
    # vLLM 0.33/0.34 point Inductor at <hash>/rank_<r>_<dp>/inductor_cache when they compile
    # without AOT compile; a disabled cache (and 0.32) leaves it to the server's environment
    from cachekey_cli.vllm.records import Deployment
    from cachekey_cli.vllm.warm_start import fallback

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    dep = Deployment("/nowhere", "cache root", ())
    now = [CurrentPiece("a", 0, "k", None)]
    missed = [PieceCache("a", "miss", ("no index",))]
    where = fallback.NoAotCache("hash_folder", False, None)
    out, _ = fallback.second_level(missed, now, dep, False, False, None, False, no_aot=where)
    assert out[0].fallback == "cold" and "hash folder is not in PATH" in \
        out[0].fallback_reasons[0]
    for rule, disabled in (("environment", False), ("hash_folder", True)):
        where = fallback.NoAotCache(rule, disabled, "/nowhere/abc/rank_0_0")
        out, _ = fallback.second_level(missed, now, dep, False, False, None, False,
                                       no_aot=where)
        assert out[0].fallback == "unknown", (rule, disabled)
