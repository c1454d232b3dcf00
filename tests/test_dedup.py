"""Dedup: unique compile units per key kind, isomorphic pieces that split, and why."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.fx

from cachekey_cli import dedup
from cachekey_cli.cli import run_cli
from cachekey_cli.dedup import fingerprint
from tests.conftest import analyse, fixture_path


def _only_missed(result, variant="tuple_return"):
    v = result.variant(variant)
    assert len(v.missed) == 1, [m.pieces for m in v.missed]
    return v, v.missed[0]


def test_transformer_pair_splits_its_aot_key_on_a_placeholder_annotation():
    # A real torch finding, not a fixture defect: split_module copies the annotation of a
    # Dynamo graph input onto the first layer's placeholder only, and the AOT key hashes it.
    result = dedup.analyse(analyse("transformer.py"))
    for variant in ("plain", "tuple_return"):
        v, m = _only_missed(result, variant)
        assert (v.compiled, v.structures) == (4, 3)
        assert v.kind("aot_key").unique == 4
        assert v.kind("inductor_key").unique == 3
        assert m.pieces == ("g0/submod_2", "g0/submod_4")
        assert m.split == ("aot_key",) and m.shared == ("inductor_key",)
        kinds = {d.kind: d for d in m.differences}
        assert set(kinds) == {"input annotation"}
        assert kinds["input annotation"].values == {
            "g0/submod_2": "torch.Tensor", "g0/submod_4": None,
        }
        assert [c.name for c in m.changes["aot_key"]] == ["gm"]
        change = m.changes["aot_key"][0]
        assert "p_2 : torch.Tensor" in change.before and "p_2 : torch.Tensor" not in change.after
        assert "Inductor key is shared" in m.explanation


def test_mega_mode_says_the_inductor_output_is_bundled_not_zero_keys():
    from tests.oracles import vllm_path

    with vllm_path.environment("mega"):
        result = dedup.analyse(analyse("transformer.py", mode="mega"))
    v = result.variant("tuple_return")
    assert v.kind("inductor_key").bundled and v.kind("inductor_key").count() == "bundled"
    assert not v.kind("aot_key").bundled and v.kind("aot_key").unique == 4
    assert "Inductor output bundled into the AOT entries" in v.sentence()
    assert "unique Inductor" not in v.sentence()
    from cachekey_cli.dedup.data import section

    assert section(result)["variants"]["tuple_return"]["bundled"] == ["inductor_key"]


def test_clean_llama_dedups_to_three_units_and_exits_zero(tmp_path):
    # 4 identical layers: the first and last pieces are unique, the 3 between attentions share.
    out = tmp_path / "report.json"
    code = run_cli(["-q", "dedup", fixture_path("llama.py") + ":build_4", "--format", "json",
                    "-o", str(out)])
    data = json.loads(out.read_text())
    assert code == 0, data["summary"]
    assert data["summary"]["verdict"] == "ok"
    for variant in ("plain", "tuple_return"):
        v = data["variants"][variant]
        assert (v["compiled"], v["structures"]) == (5, 3)
        assert v["unique"] == {"aot_key": 3, "inductor_key": 3}
        assert v["missed"] == []
        shared = [g["pieces"] for g in v["groups"]["aot_key"] if len(g["pieces"]) > 1]
        assert shared == [["g0/submod_2", "g0/submod_4", "g0/submod_6"]]
    assert data["normalize_inputs"]["unique_aot_keys"] == {
        "on": {"plain": 3, "tuple_return": 3}, "off": {"plain": 5, "tuple_return": 5},
    }
    assert data["summary"]["text"] == (
        "5 compiled pieces → 3 unique AOT keys, 3 unique Inductor keys "
        "(3 distinct structures), in both variants."
    )


def test_counts_sentence_uses_singular_for_one():
    one = dedup.KindDedup("aot_key", (dedup.KeyGroup("k", ("g0/submod_0",)),))
    kinds = (one, dataclasses.replace(one, kind="inductor_key"))
    v = dedup.VariantDedup("plain", 1, 1, 1, kinds, ())
    assert v.sentence() == (
        "1 compiled piece → 1 unique AOT key, 1 unique Inductor key (1 distinct structure)"
    )


def test_layer_name_constant_splits_both_keys_and_is_named():
    result = dedup.analyse(analyse("layer_name_const.py"))
    v, m = _only_missed(result)
    assert (v.compiled, v.structures) == (5, 3)
    assert v.kind("aot_key").unique == 5 and v.kind("inductor_key").unique == 5
    assert m.pieces == ("g0/submod_2", "g0/submod_4", "g0/submod_6")
    assert m.split == ("aot_key", "inductor_key") and m.shared == ()
    const = next(d for d in m.differences if d.kind == "string constant")
    assert "cachekey_fixtures.scaled_mlp" in const.where
    assert list(const.values.values()) == [
        "'model.layers.0.mlp'", "'model.layers.1.mlp'", "'model.layers.2.mlp'"
    ]
    inductor_gm = next(c for c in m.changes["inductor_key"] if c.name == "gm")
    assert "model.layers.0.mlp" in inductor_gm.before
    assert "model.layers.1.mlp" in inductor_gm.after
    assert "layer index" in m.explanation


def test_placeholder_names_matter_only_without_input_normalization():
    on = dedup.analyse(analyse("transformer.py"))
    off = dedup.analyse(analyse("transformer.py", normalize_inputs=False))
    assert on.normalize_inputs is True and on.normalize_source == "set by the vllm profile"
    assert off.normalize_inputs is False and off.normalize_source == "--no-normalize-inputs"
    _, m_on = _only_missed(on)
    _, m_off = _only_missed(off)
    assert not [d for d in m_on.differences if d.kind == "input name"]
    names = [d for d in m_off.differences if d.kind == "input name"]
    assert names and "placeholder names differ" in m_off.explanation
    assert any("modules_0" in str(d.values["g0/submod_2"]) for d in names)


def test_normalize_effect_agrees_with_keying_under_the_other_setting():
    run = analyse("layer_name_const.py")
    effect = dedup.normalize_effect(run)
    off = dedup.analyse(analyse("layer_name_const.py", normalize_inputs=False))
    for variant in ("plain", "tuple_return"):
        assert effect.on[variant] == dedup.analyse(run).variant(variant).kind("aot_key").unique
        assert effect.off[variant] == off.variant(variant).kind("aot_key").unique


def test_summary_dict_is_plain_data():
    data = dedup.summary_dict(analyse("transformer.py"))
    json.dumps(data)
    assert data["summary"]["missed"] == {"plain": 1, "tuple_return": 1}
    assert data["variants"]["tuple_return"]["unique"] == {"aot_key": 4, "inductor_key": 3}
    groups = data["variants"]["tuple_return"]["groups"]["inductor_key"]
    assert sorted(len(g["pieces"]) for g in groups) == [1, 1, 2]


def _trace(fn) -> torch.fx.GraphModule:
    return torch.fx.symbolic_trace(fn)


def _inputs():
    return (torch.zeros(2, 3),)


def test_fingerprint_ignores_digits_in_strings_but_not_ops_or_ints():
    a = fingerprint.structure(_trace(lambda x: (x + 1, "layers.3")), _inputs())
    b = fingerprint.structure(_trace(lambda x: (x + 1, "layers.17")), _inputs())
    c = fingerprint.structure(_trace(lambda x: (x + 2, "layers.3")), _inputs())
    d = fingerprint.structure(_trace(lambda x: (x * 1, "layers.3")), _inputs())
    e = fingerprint.structure(_trace(lambda x: (x + 1, "heads.3")), _inputs())
    assert a.fingerprint == b.fingerprint
    assert len({a.fingerprint, c.fingerprint, d.fingerprint, e.fingerprint}) == 4
    diffs = fingerprint.differences({"a": a, "b": b})
    assert [(x.kind, x.values) for x in diffs] == [
        ("string constant", {"a": "'layers.3'", "b": "'layers.17'"})
    ]


def test_fingerprint_sees_shapes_and_ignores_requires_grad_but_reports_it():
    gm = _trace(lambda x: x + 1)
    a = fingerprint.structure(gm, (torch.zeros(2, 3),))
    b = fingerprint.structure(gm, (torch.zeros(2, 3, requires_grad=True),))
    c = fingerprint.structure(gm, (torch.zeros(3, 2),))
    assert a.fingerprint == b.fingerprint != c.fingerprint
    diffs = fingerprint.differences({"a": a, "b": b})
    assert [(x.kind, x.values) for x in diffs] == [("requires_grad", {"a": "False", "b": "True"})]


def test_dedup_command_json(tmp_path):
    out = tmp_path / "report.json"
    code = run_cli(["-q", "dedup", fixture_path("layer_name_const.py"), "--format", "json",
                    "-o", str(out)])
    assert code == 1  # isomorphic pieces split: a finding
    data = json.loads(out.read_text())
    assert data["kind"] == "dedup"
    assert data["summary"]["verdict"] == "missed"
    assert data["normalize_inputs"]["unique_aot_keys"]["on"]["tuple_return"] == 5
    missed = data["variants"]["tuple_return"]["missed"][0]
    assert {d["kind"] for d in missed["differences"]} >= {"string constant"}


@pytest.mark.parametrize("fmt", ["markdown", "rich"])
def test_dedup_text_reports(fmt):
    from cachekey_cli.render import dedup_renderers as renderers

    result = dedup.analyse(analyse("layer_name_const.py"))
    text = renderers()[fmt](result, color=False, width=100)
    flat = " ".join(text.split())
    assert "5 compiled pieces → 5 unique AOT keys, 5 unique Inductor keys" in flat
    assert "model.layers.1.mlp" in text
    assert "1 isomorphic group split" in flat and "group(s)" not in text
    assert "\x1b[" not in text
    assert not [line for line in text.splitlines() if line != line.rstrip()]
    if fmt == "markdown":
        assert "#### Dedup: compile units\n\n| variant |" in text
    else:
        assert max(len(line) for line in text.splitlines()) <= 100
        narrow = renderers()[fmt](result, color=False, width=80)
        assert max(len(line) for line in narrow.splitlines()) <= 80


def test_target_names_of_operators_are_stable_strings():
    assert fingerprint.target_name(torch.ops.aten.add.Tensor) == "aten.add.Tensor"
    assert fingerprint.target_name(torch.ops.aten.add) == "aten.add"
    assert fingerprint.target_name(torch.nn.functional.relu) == "torch.nn.functional.relu"
    assert fingerprint.target_name("relu") == "relu"


def test_summary_dict_comes_from_the_core_not_a_renderer():
    import ast
    from pathlib import Path

    for path in Path(dedup.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in imported if m.startswith("cachekey_cli.render")], path


def test_vllm_profile_says_which_pieces_vllm_serves_from_memory():
    """vLLM files one artifact per AOT key: the report says how many pieces a start compiles
    and how many it reuses in memory (checked against real vLLM in test_cache_hits_redeploy)."""
    from cachekey_cli.render import dedup_renderers as renderers

    text = renderers()["rich"](dedup.analyse(analyse("llama.py:build_4")), color=False)
    assert ("vLLM compiles and files 3 artifacts for these 5 pieces (one per AOT key); the "
            "other 2 are served from memory at every start") in " ".join(text.split())
    plain = dedup.analyse(analyse("llama.py:build_4", profile="torch-compile"))
    assert "served from memory" not in renderers()["rich"](plain, color=False)


def test_pieces_built_from_different_modules_are_named_with_the_module_that_differs():
    # fixtures/mixed_layers.py: layer 0 dense (DenseMLP), layers 1-5 ExpertsMLP, as
    # DeepSeek's first dense layers. The piece after layer 0 cannot share with the four after
    # layers 1-4; the report says which module differs, and that no key is at fault.
    result = dedup.analyse(analyse("mixed_layers.py"))
    v = result.variant("tuple_return")
    assert (v.compiled, v.structures, v.kind("aot_key").unique) == (7, 4, 4)
    assert v.missed == ()
    by_pieces = {k.pieces: [p.text() for p in k.parts] for k in v.kinds_built}
    typical = ("g0/submod_4", "g0/submod_6", "g0/submod_8", "g0/submod_10")
    assert "layer i mlp (ExpertsMLP)" in by_pieces[typical]
    assert "layer i mlp (DenseMLP)" in by_pieces[("g0/submod_2",)]
    assert v.structural == (
        "g0/submod_2 does not share with g0/submod_4 … g0/submod_10 (4 pieces): layer i has "
        "mlp (DenseMLP) where the others have mlp (ExpertsMLP)",
        "Layers built from different modules compile once per kind: expected, and no key is "
        "at fault",
        "One of a kind at the ends: g0/submod_0 (embed (Linear)); g0/submod_12 (norm "
        "(LayerNorm)).",
    )
    from cachekey_cli.dedup.data import section

    data = section(result)["variants"]["tuple_return"]
    assert data["structural"] == list(v.structural)
    assert data["kinds"][1]["built_from"] == by_pieces[("g0/submod_2",)]


def test_identical_layers_get_no_structural_reason_beyond_the_ends():
    v = dedup.analyse(analyse("llama.py:build_4")).variant("tuple_return")
    assert len(v.structural) == 1 and v.structural[0].startswith("One of a kind at the ends: ")
