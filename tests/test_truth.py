"""The oracle: every key we report equals the key a real compile files its artifacts under.

Each compiled piece of the small fixtures is really compiled with
``torch._inductor.standalone_compile(..., dynamic_shapes="from_example_inputs")``
into a fresh cache directory, in both variants; the AOTAutograd and FX-graph
keys found on disk must equal ours.
"""

from __future__ import annotations

import pytest
import torch

from cachekey_cli import torchapi
from cachekey_cli.analysis import verify
from tests.conftest import analyse

pytestmark = pytest.mark.compile


@pytest.mark.parametrize(
    "fixture",
    ["transformer.py", "custom_op_attention.py", "graph_break.py", "layer_name_const.py",
     "autocast_rope.py"],
)
def test_keys_equal_real_compile(fixture):
    run = analyse(fixture)
    checks = verify.verify(run.analysis, run.raw)
    compiled = [p for p in run.analysis.pieces if not p.splitting_op]
    # two variants x two key kinds per compiled piece, each checked against disk
    assert len(checks) == 4 * len(compiled) > 0
    bad = [c for c in checks if not c.ok]
    assert not bad, bad
    # the check is not vacuous: every reported key was found on disk, and a piece torch
    # refuses to cache (AOTAutograd bypass) filed no AOT entry at all
    for c in checks:
        assert (len(c.real) == 1 and c.real[0].startswith(("a", "f"))) or (
            c.ours is None and c.real == ()
        )
    assert sum(c.ours is not None for c in checks) >= 3 * len(compiled)


def test_verify_detects_a_wrong_key(transformer_run):
    """A Check compares for real: a key from a different piece is a mismatch."""
    pieces = [p for p in transformer_run.analysis.pieces if not p.splitting_op]
    first, last = pieces[0], pieces[-1]
    raw = transformer_run.raw[(last.graph, last.name, "tuple_return")]
    with torch.inference_mode():
        real = torchapi.compile_for_real(raw.gm, raw.inputs)
    wrong = verify.Check(last.id, "tuple_return", "aot_key",
                         first.variants["tuple_return"].aot_key.key, tuple(real["aot_key"]))
    assert not wrong.ok
    right = verify.Check(last.id, "tuple_return", "aot_key",
                         last.variants["tuple_return"].aot_key.key, tuple(real["aot_key"]))
    assert right.ok


def test_grad_mode_is_part_of_the_key(transformer_run):
    """Keys are taken in inference mode; the same piece compiled with grad on keys differently."""
    last = [p for p in transformer_run.analysis.pieces if not p.splitting_op][-1]
    raw = transformer_run.raw[(last.graph, last.name, "tuple_return")]
    with torch.enable_grad():
        real = torchapi.compile_for_real(raw.gm, raw.inputs)
    assert real["aot_key"] and real["aot_key"] != [last.variants["tuple_return"].aot_key.key]


def test_cli_verify_passes_on_a_real_compile(capsys):
    from cachekey_cli.cli import run_cli
    from tests.conftest import fixture_path

    code = run_cli(["diff", fixture_path("mlp.py"), "--verify", "--format", "json"])
    err = capsys.readouterr().err
    assert code == 1  # drift (bare-tensor piece), and no verify failure
    assert "verify: 4 keys checked against real compiles, 0 mismatches" in err


def test_cli_verify_mismatch_is_exit_4(monkeypatch, capsys):
    from cachekey_cli.cli import run_cli
    from tests.conftest import fixture_path

    def fake_compile(gm, inputs, context=None):
        return {"aot_key": ["anotthekey"], "inductor_key": ["fnotthekey"]}

    monkeypatch.setattr(torchapi, "compile_for_real", fake_compile)
    code = run_cli(["diff", fixture_path("mlp.py"), "--verify", "--format", "json"])
    err = capsys.readouterr().err
    assert code == 4
    assert "4 mismatches" in err and "real ['anotthekey']" in err


def test_symbolic_shapes_keys_equal_real_compile():
    """vLLM's general graph: symbolic sizes, keyed inside Dynamo's tracing context."""
    run = analyse("dynamic_shapes.py")
    modes = {p.dynamic_shapes for p in run.analysis.pieces if not p.splitting_op}
    assert modes == {"from_tracing_context"}
    checks = verify.verify(run.analysis, run.raw)
    assert len(checks) == 4 * 3
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    # the symbolic keys are not the static ones
    static = analyse("transformer.py")
    assert run.analysis.pieces[0].variants["plain"].aot_key.key not in {
        p.variants["plain"].aot_key.key for p in static.analysis.pieces
    }


def test_training_mode_keys_equal_real_compile():
    """--training: grad on, a joint graph; the forward's FX key is among the compile's two."""
    run = analyse("mlp.py", inference=False)
    assert run.analysis.mode == "training"
    piece = run.analysis.pieces[0].variants["tuple_return"]
    assert piece.aot_key.component_map()["grad_enabled"].value == "True"
    checks = verify.verify(run.analysis, run.raw, inference=False)
    assert len(checks) == 4 and all(c.ok for c in checks), checks
    fx = [c for c in checks if c.kind == "inductor_key"]
    assert all(len(c.real) == 2 for c in fx)  # forward and backward graphs were filed
    inference = analyse("mlp.py").analysis.pieces[0].variants["tuple_return"]
    assert inference.aot_key.key != piece.aot_key.key


def test_autocast_piece_bypasses_the_aot_cache_and_verify_agrees():
    """HF-style rotary under autocast: torch refuses to cache the piece in AOTAutograd."""
    run = analyse("autocast_rope.py")
    first = run.analysis.pieces[0].variants["tuple_return"]
    assert first.aot_key.key is None and "cache bypass" in first.aot_key.refusal
    assert "_enter_autocast" in first.aot_key.refusal and " at 0x" not in first.aot_key.refusal
    assert first.inductor_key.key is not None  # Inductor still caches its FX graph
    # later layers index the mask made before the first attention: still split per layer
    assert [p.splitting_op for p in run.analysis.pieces] == [False, True, False, True, False]


def test_disabled_caches_mean_no_key_and_verify_agrees():
    """With a cache turned off, torch files nothing; we report no key, and that agrees."""
    for flag, kind in (("functorch", "aot_key"), ("inductor", "inductor_key")):
        options = (
            {"functorch_config": ("enable_autograd_cache=False",)}
            if flag == "functorch"
            else {"inductor_config": ("fx_graph_cache=False",)}
        )
        run = analyse("mlp.py", **options)
        key = run.analysis.pieces[0].variants["tuple_return"].key(kind)
        assert key.key is None and "disabled" in key.refusal
        with torchapi.config_patched(run.overrides["inductor"], run.overrides["functorch"]):
            checks = verify.verify(run.analysis, run.raw)
        assert all(c.ok for c in checks)
        assert [c.real for c in checks if c.kind == kind] == [(), ()]
