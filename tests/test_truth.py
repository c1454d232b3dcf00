"""The truth: our keys equal the keys the real client's compile files its artifacts under.

Two independent oracles (tests/oracles/, which import nothing of cachekey):
- ``vllm_path`` rebuilds vLLM 0.33.0's piecewise compile with torch alone: split
  inside the Dynamo backend on lazy graph modules, fake values propagated as
  vLLM's interpreter does, each piece ``standalone_compile``d as vLLM's adaptor
  calls it, into a fresh cache directory;
- ``torch_compile_path`` runs a plain ``torch.compile(model)`` into a fresh cache.
Each reads the keys off disk; ours must equal them, piece by piece.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from cachekey_cli import torchapi
from cachekey_cli.analysis import pipeline, verify
from tests.conftest import FIXTURES, analyse
from tests.oracles import torch_compile_path, vllm_path

pytestmark = pytest.mark.compile

SDPA = (
    torch.nn.functional.scaled_dot_product_attention,
    torch.ops.aten.scaled_dot_product_attention,
)


def _build(fixture):
    """The fixture's (module, args), imported on its own (not through cachekey's loader)."""
    path = FIXTURES / fixture
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(f"oracle_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        module, args = mod.build()[:2]
    finally:
        sys.path.remove(str(path.parent))
    split = SDPA
    if getattr(mod, "SPLIT_OPS", None):
        ns, name = mod.SPLIT_OPS[0].split("::")
        split = (getattr(getattr(torch.ops, ns), name),)
    return module, tuple(args), split


CASES = {
    "custom_op_attention.py": {},  # split at a custom op, as vLLM's attention
    "dynamic_shapes.py": {},  # token dimension marked dynamic in build()
    "transformer.py": {},  # its last piece returns a single tensor
    # two Dynamo graphs; vLLM compiles with fullgraph=True and would refuse the model,
    # so the oracle compiles each graph the same way without fullgraph
    "graph_break.py": {"fullgraph": False, "mode": "no-aot"},
}


def _compiled(run):
    return [p for p in run.analysis.pieces if not p.splitting_op]


@pytest.mark.parametrize("variant", ["tuple_return", "plain"])
@pytest.mark.parametrize("fixture", sorted(CASES))
def test_vllm_profile_keys_equal_the_vllm_path(fixture, variant):
    case = dict(CASES[fixture])
    mode = case.pop("mode", "aot-per-piece")  # the suite's mode (conftest): both key kinds
    with vllm_path.environment(mode):
        run = analyse(fixture, mode=mode)
    module, args, split = _build(fixture)
    real = vllm_path.piece_keys(
        module, args, split, mode=mode, tuple_return=variant == "tuple_return", **case
    )
    compiled = _compiled(run)
    assert {(p.graph, p.name) for p in compiled} == set(real)
    for p in compiled:
        keys = p.variants[variant]
        assert real[(p.graph, p.name)]["aot_key"] == [keys.aot_key.key], p.id
        assert real[(p.graph, p.name)]["inductor_key"] == [keys.inductor_key.key], p.id


@pytest.mark.parametrize("mode", ["mega", "no-aot", "no-aot-mega"])
def test_vllm_profile_keys_equal_the_vllm_path_in_each_cache_mode(mode):
    with vllm_path.environment(mode):
        run = pipeline.run(pipeline.Options(model=str(FIXTURES / "custom_op_attention.py")))
    module, args, split = _build("custom_op_attention.py")
    real = vllm_path.piece_keys(module, args, split, mode=mode)
    compiled = _compiled(run)
    assert len(compiled) == len(real) == 3
    for p in compiled:
        keys = p.variants["tuple_return"]
        assert real[(p.graph, p.name)]["aot_key"] == [keys.aot_key.key], p.id
        if mode in ("mega", "no-aot-mega"):  # bundled: Inductor files no separate FX entry
            assert real[(p.graph, p.name)]["inductor_key"] == []
            assert keys.inductor_key.key is None and "bundled" in keys.inductor_key.refusal
        else:
            assert real[(p.graph, p.name)]["inductor_key"] == [keys.inductor_key.key]
    assert run.analysis.profile.cache_mode == {
        "mega": "aot-compile+mega-artifact", "no-aot": "no aot-compile, per-piece artifacts",
        "no-aot-mega": "no aot-compile, mega-artifact pieces"}[mode]


def test_keys_taken_outside_the_backend_differ(transformer_run):
    """Today's guard against yesterday's bug: the same piece as an eager (not lazy) graph
    module, which is what a split outside Dynamo gives, files a different AOT key."""
    piece = _compiled(transformer_run)[0]
    raw = transformer_run.raw[(piece.graph, piece.name, "tuple_return")]
    eager = torch.fx.GraphModule(raw.gm, raw.gm.graph)
    assert type(raw.gm).__mro__[1].__name__ == "_LazyGraphModule"
    outside = torchapi.aot_key(eager, raw.inputs, raw.setting).key
    assert outside is not None and outside != piece.variants["tuple_return"].aot_key.key


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_torch_compile_profile_keys_equal_torch_compile(fixture):
    run = analyse(fixture, profile="torch-compile")
    module, args, _ = _build(fixture)
    real = torch_compile_path.model_keys(module, args)
    graphs = [p.variants["tuple_return"] for p in run.analysis.pieces]
    assert len(graphs) == len(run.analysis.graphs) >= 1
    assert all(g.aot_key.key and g.inductor_key.key for g in graphs)
    # identical graphs file one entry, so the cache holds the set of our keys
    assert sorted({g.aot_key.key for g in graphs}) == real["aot_key"]
    assert sorted({g.inductor_key.key for g in graphs}) == real["inductor_key"]


def test_verify_uses_the_real_path_and_detects_a_wrong_key(monkeypatch):
    run = analyse("custom_op_attention.py")
    options = pipeline.Options(model=str(FIXTURES / "custom_op_attention.py"))
    checks = verify.verify(options, run.analysis)
    assert len(checks) == 3 * 2 * 2 and all(c.ok for c in checks), checks
    assert all(len(c.real) == 1 for c in checks)  # every key was found on disk
    wrong = verify.Check("x", "tuple_return", "aot_key", "anotthekey", checks[0].real)
    assert not wrong.ok


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

    def fake_compile(gm, inputs, setting):
        return {"aot_key": ["anotthekey"], "inductor_key": ["fnotthekey"]}

    monkeypatch.setattr(torchapi, "compile_for_real", fake_compile)
    code = run_cli(["diff", fixture_path("mlp.py"), "--verify", "--format", "json"])
    err = capsys.readouterr().err
    assert code == 4
    assert "4 mismatches" in err and "real ['anotthekey']" in err


def test_training_mode_keys_equal_real_compile():
    """--training: grad on, a joint graph; the forward's FX key is among the compile's two."""
    run = analyse("mlp.py", inference=False)
    assert run.analysis.mode == "training"
    piece = run.analysis.pieces[0].variants["tuple_return"]
    assert piece.aot_key.component_map()["grad_enabled"].value == "True"
    options = pipeline.Options(model=str(FIXTURES / "mlp.py"), inference=False)
    checks = verify.verify(options, run.analysis)
    assert len(checks) == 4 and all(c.ok for c in checks), checks
    fx = [c for c in checks if c.kind == "inductor_key"]
    assert all(len(c.real) == 2 for c in fx)  # forward and backward graphs were filed
    inference = analyse("mlp.py").analysis.pieces[0].variants["tuple_return"]
    assert inference.aot_key.key != piece.aot_key.key


def test_autocast_graph_fails_vllms_split_as_vllm_does():
    """HF-style rotary under autocast: split_module refuses vLLM's partition, in vLLM too."""
    from cachekey_cli.errors import InputError

    with pytest.raises(InputError, match="vLLM's split of graph g0 fails.*autocast"):
        pipeline.run(pipeline.Options(model=str(FIXTURES / "autocast_rope.py")))
    module, args, split = _build("autocast_rope.py")
    with pytest.raises(Exception, match="autocast or set_grad_enabled"):
        vllm_path.piece_keys(module, args, split, mode="no-aot")


def test_autocast_graph_and_the_aot_cache_under_torch_compile():
    """Unsplit, torch 2.13 refuses to cache the autocast graph in AOTAutograd and 2.14 keys
    it; torch itself is asked which it does, and a real compile agrees either way."""
    run = analyse("autocast_rope.py", profile="torch-compile")
    graph = run.analysis.pieces[0].variants["tuple_return"]
    module, args, _ = _build("autocast_rope.py")
    real = torch_compile_path.model_keys(module, args)
    assert real["inductor_key"] == [graph.inductor_key.key]
    if torchapi.aot_cache_accepts_autocast():
        assert graph.aot_key.key is not None and graph.aot_key.refusal is None
        assert real["aot_key"] == [graph.aot_key.key]
    else:
        assert graph.aot_key.key is None and "cache bypass" in graph.aot_key.refusal
        assert "autocast" in graph.aot_key.refusal and " at 0x" not in graph.aot_key.refusal
        assert real["aot_key"] == []


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
        checks = verify.verify(pipeline.Options(model=str(FIXTURES / "mlp.py"), **options),
                               run.analysis)
        assert all(c.ok for c in checks)
