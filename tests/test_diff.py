"""cachekey diff: split, normalization, keying and the plain-vs-tuple_return comparison."""

from __future__ import annotations

from cachekey_cli import compare
from cachekey_cli.compare.verdict import piece_verdict, summarize
from tests.conftest import analyse


def _compiled(run):
    return [p for p in run.analysis.pieces if not p.splitting_op]


def test_transformer_split_alternates_pieces_and_attention(transformer_run):
    pieces = transformer_run.analysis.pieces
    # 3 layers: 4 compiled pieces around 3 SDPA pieces, in graph order
    assert [p.splitting_op for p in pieces] == [False, True] * 3 + [False]
    assert [p.name for p in pieces] == [f"submod_{i}" for i in range(7)]
    assert {p.op for p in pieces if p.splitting_op} == {
        "torch.nn.functional.scaled_dot_product_attention"
    }


def test_single_output_piece_is_normalized_and_drifts(transformer_run):
    result = compare.diff(transformer_run.analysis)
    last = result.pieces[-1]
    plain = last.piece.variants["plain"]
    tupled = last.piece.variants["tuple_return"]
    assert last.piece.outputs == 1
    assert (plain.returns_tuple, plain.normalized) == (False, True)
    assert (tupled.returns_tuple, tupled.normalized) == (True, False)
    # compile_fx's rewrite gives a list, tuple_return a tuple
    assert plain.output_code.startswith("return [") and tupled.output_code.startswith("return (")
    assert [d.kind for d in last.drift] == ["graph_hash", "aot_key"]
    aot = next(d for d in last.drift if d.kind == "aot_key")
    assert [c.name for c in aot.changes] == ["gm"]
    assert aot.changes[0].before.startswith("return [")
    assert aot.changes[0].after.startswith("return (")
    assert "make_graph_return_tuple" in last.explanation
    assert "inductor_key is unchanged" in last.explanation
    assert plain.inductor_key.key == tupled.inductor_key.key is not None
    assert piece_verdict(last) == "drift"


def test_multi_output_pieces_agree(transformer_run):
    result = compare.diff(transformer_run.analysis)
    for pd in result.pieces[:-1]:
        if not pd.piece.splitting_op:
            assert pd.piece.outputs > 1 and not pd.drift
            assert pd.piece.variants["plain"].aot_key.key.startswith("a")
            assert pd.piece.variants["plain"].inductor_key.key.startswith("f")


def test_splitting_op_pieces_are_not_compiled(transformer_run):
    for p in transformer_run.analysis.pieces:
        if p.splitting_op:
            for v in p.variants.values():
                assert v.graph_hash.key and v.aot_key.key is None and v.inductor_key.key is None
                assert "never compiled" in v.aot_key.refusal
                assert not v.normalized


def test_components_are_named_with_readable_values(transformer_run):
    v = _compiled(transformer_run)[0].variants["tuple_return"]
    aot = v.aot_key.component_map()
    assert {"gm", "example_inputs[0]", "torch_version", "grad_enabled"} <= set(aot)
    assert aot["grad_enabled"].value == "False"  # keyed in inference mode
    assert aot["torch_version"].value is None  # binary: hash only
    ind = v.inductor_key.component_map()
    assert "gm" in ind and any(n.startswith("inductor_config[") for n in ind)


def test_emulated_tuple_return_gives_native_keys(transformer_run):
    emulated = analyse("transformer.py", tuple_return_impl="emulated")
    assert emulated.analysis.environment.tuple_return == "emulated"
    assert transformer_run.analysis.environment.tuple_return == "native"
    for a, b in zip(transformer_run.analysis.pieces, emulated.analysis.pieces, strict=True):
        assert a.id == b.id
        for variant in ("plain", "tuple_return"):
            for kind in ("graph_hash", "aot_key", "inductor_key"):
                assert a.variants[variant].key(kind).key == b.variants[variant].key(kind).key


def test_multi_output_model_has_no_drift():
    run = analyse("multi_output.py")
    summary = summarize(compare.diff(run.analysis))
    assert summary.compiled == 3 and summary.drifted == 0
    assert int(summary.exit_code) == 0


def test_custom_op_is_the_splitting_op():
    run = analyse("custom_op_attention.py")
    assert run.analysis.model.split_ops_origin == "SPLIT_OPS"
    ops = {p.op for p in run.analysis.pieces if p.splitting_op}
    assert ops == {"cachekey_fixture::attention"}
    assert len(_compiled(run)) == 3


def test_model_without_split_op_is_one_piece_with_a_warning():
    run = analyse("mlp.py")
    assert [p.name for p in run.analysis.pieces] == ["submod_0"]
    assert any("no scaled-dot-product-attention" in w for w in run.analysis.warnings)


def test_graph_break_is_located_and_every_graph_analysed():
    run = analyse("graph_break.py")
    graphs = run.analysis.graphs
    assert len(graphs) == 2
    assert graphs[0].break_location.startswith("graph_break.py:")
    assert "graph_break" in graphs[0].break_reason
    assert graphs[1].break_reason is None
    assert {p.graph for p in run.analysis.pieces} == {0, 1}


def test_inductor_key_work_is_shared_between_identical_pieces(transformer_run):
    t = transformer_run.analysis.timings
    # 4 compiled pieces x 2 variants; the multi-output ones are identical in both variants,
    # so they are keyed once, and the two middle layers share one Inductor key
    work = t["inductor_keys_computed"] + t["inductor_keys_reused"]
    assert work + t["pieces_keyed_once_for_both_variants"] == 8
    assert t["pieces_keyed_once_for_both_variants"] == 3
    # memoized per AOT key: submod_0, _2, _4 once each, _6 once per variant (its AOT keys
    # differ), although _2/_4 and both _6 variants end up with equal Inductor keys
    assert t["inductor_keys_computed"] == 5 and t["inductor_keys_reused"] == 0


def test_graph_hash_covers_the_normalized_graph(transformer_run):
    """The plain hash is of the rewritten graph (`return [x]`), not the stale code."""
    import base64
    import hashlib

    from cachekey_cli import torchapi

    last = transformer_run.analysis.pieces[-1]
    raw = transformer_run.raw[(last.graph, last.name, "plain")]
    normalized = torchapi.normalize_return(raw.gm, raw.inputs)
    normalized.recompile()
    assert "return [" in normalized.code
    digest = base64.b32encode(hashlib.sha256(normalized.code.encode()).digest()).decode().lower()
    assert last.variants["plain"].graph_hash.key == "g" + digest[:51]
    raw_digest = base64.b32encode(hashlib.sha256(raw.gm.code.encode()).digest()).decode().lower()
    assert last.variants["plain"].graph_hash.key != "g" + raw_digest[:51]


def test_standalone_api_refusal_of_the_bare_piece_is_recorded(transformer_run):
    last = transformer_run.analysis.pieces[-1]
    assert last.variants["plain"].unnormalized_refusal.startswith("NotImplementedError")
    assert "tuple" in last.variants["plain"].unnormalized_refusal
    assert last.variants["tuple_return"].unnormalized_refusal is None
    assert all(
        p.variants["plain"].unnormalized_refusal is None
        for p in transformer_run.analysis.pieces[:-1]
    )


def test_default_split_ops_are_recorded_as_requested(transformer_run):
    """The whole default list, not only what this build resolves, so baselines stay comparable."""
    from cachekey_cli.analysis.split_ops import DEFAULT_SPLIT_OPS

    model = transformer_run.analysis.model
    assert model.split_ops == DEFAULT_SPLIT_OPS and model.split_ops_origin == "default"
    assert model.matched_ops == ("torch.nn.functional.scaled_dot_product_attention",)


def test_rich_table_folds_repeated_layers_into_one_row():
    # fixtures/llama.py:build_8: 8 identical layers split at attention. The 7 pieces between
    # attention calls read alike; the terminal table gives them one row and one line for
    # their split ops, and the first and last pieces rows of their own.
    from cachekey_cli.render.diff import rich as diff_rich

    result = compare.diff(analyse("llama.py:build_8").analysis)
    rows = diff_rich.layer_runs(result)
    assert [label for label, _, _ in rows] == [
        "g0/submod_0", "g0/submod_1", "g0/submod_2 … submod_14\n(7 pieces)", "g0/submod_16",
    ]
    assert [splits for _, _, splits in rows] == [0, 0, 7, 0]
    text = diff_rich.render(result, color=False, width=100)
    assert "+ 7 split-op pieces" in text and "g0/submod_8 " not in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_rich_table_folds_a_cycle_of_layer_kinds_every_nth():
    # fixtures/mixed_layers.py with its layers in a cycle of two kinds (dense, experts),
    # as a hybrid model alternates its layers: each kind of piece gets one row, "every 2nd".
    from cachekey_cli.render.diff import rich as diff_rich

    result = compare.diff(analyse("mixed_layers.py:build_cycle").analysis)
    labels = [label for label, _, _ in diff_rich.layer_runs(result)]
    assert "g0/submod_2 … submod_14\n(4 pieces, every 2nd)" in labels, labels
    assert "g0/submod_4 … submod_16\n(4 pieces, every 2nd)" in labels, labels
