""""What moves each key" (docs/concepts.md): one test per row of the table.

Each row perturbs the tiny model in fixtures/moves/ one way. The perturbations
are the ones PyTorch's own cache tests make (test/inductor/test_codecache.py:
test_hash_fake_tensors, test_constant_handling, test_freezing,
test_hash_config_changes, test_hash_custom_passes, test_cache_load_function's
cache_key_tag, test_cache_load_model's graph break; test/dynamo/
test_aot_autograd_cache.py for functorch's config and autocast; a Dynamo flag
for the settings listed in docs/concepts.md). Every test:

1. compiles both sides for real with the independent oracles in tests/oracles
   (vLLM's piecewise path, or a plain ``torch.compile`` for the torch-compile
   rows), each into a fresh cache directory, and asserts that cachekey's keys
   are the ones the compile filed and that they move exactly as the row says;
2. asserts cachekey's graph hash moves as the row says;
3. asserts the finding ``cachekey explain`` prints names the cause.

Each side is traced, keyed and compiled once per session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cachekey_cli import torchapi
from tests.conftest import FIXTURES, analyse

pytestmark = pytest.mark.compile

KINDS = ("graph_hash", "aot_key", "inductor_key")
COMPILED = ("aot_key", "inductor_key")


def _custom_pass(uuid: str) -> Callable[[], Any]:
    def patch() -> Any:
        import torch
        from torch._inductor.custom_graph_pass import CustomGraphPass

        class Pass(CustomGraphPass):  # as test_hash_custom_passes: only the uuid differs
            def __call__(self, graph: Any) -> None:
                return None

            def uuid(self) -> str:
                return uuid

        return torch._inductor.config.patch(post_grad_custom_pre_pass=Pass())

    return patch


def _cache_key_tag() -> Any:
    import torch

    return torch.compiler.config.patch(cache_key_tag="test")


def _all_dynamic() -> Any:
    import torch

    return torch._dynamo.config.patch(assume_static_by_default=False)


def _prepare_freezing() -> Any:
    import torch

    return torch._dynamo.config.patch(prepare_freezing=True)


# Config set the way a model file or a caller would, around both cachekey and the oracle.
PATCHES: dict[str, Callable[[], Any]] = {
    "prepare-freezing": _prepare_freezing,
    "pass-1": _custom_pass("1"),
    "pass-2": _custom_pass("2"),
    "cache-key-tag": _cache_key_tag,
    "all-dynamic": _all_dynamic,
}
FREEZING = (("freezing", True),)


@dataclass(frozen=True)
class Side:
    folder: str = "base"
    profile: str = "vllm"
    inductor: tuple[tuple[str, Any], ...] = ()  # --inductor-config
    functorch: tuple[tuple[str, Any], ...] = ()  # --functorch-config
    patch: str | None = None  # a name in PATCHES
    mode: str = "aot-per-piece"  # vLLM's cache mode (the suite's, see conftest)


TC = "torch-compile"


@dataclass(frozen=True)
class Row:
    name: str
    new: Side
    moves: tuple[bool, bool, bool]  # graph_hash, aot_key, inductor_key
    says: tuple[str, ...] = ()  # substrings of the findings (or context lines)
    categories: tuple[str, ...] = ()
    old: Side = field(default_factory=Side)
    refused: tuple[str, ...] = ()  # key kinds torch refuses on both sides (no key, nothing filed)


_AUTOCAST_KEYED = torchapi.aot_cache_accepts_autocast()
VLLM_FREEZES_NOT = "freezing is on (both): vLLM does not freeze"
TC_FREEZING = "freezing is on (both): under torch.compile a weight change is drift"

ROWS = (
    Row("dtype", Side("dtype"), (False, True, True),
        ("aot_key: input x: dtype float32 → float64 (also inductor_key)",), ("inputs",)),
    Row("static shape", Side("shape"), (False, True, True),
        ("aot_key: input x: dim 2 3 → 5 (also inductor_key)",), ("inputs",)),
    Row("stride", Side("stride"), (False, True, True),
        ("aot_key: input x: stride (24, 12, 4, 1) → (24, 12, 1, 3)",), ("inputs",)),
    Row("memory format", Side("memory_format"), (False, True, True),
        ("memory_format contiguous_format → channels_last (also inductor_key)",), ("inputs",)),
    # torch's cache-key metadata sets storage_offset to 0 (extract_tensor_metadata_for_cache_key)
    Row("storage offset", Side("storage_offset"), (False, False, False)),
    Row("requires_grad", Side("requires_grad"), (False, True, False),
        ("aot_key: input x: requires_grad False → True",), ("inputs",)),
    Row("tensor constant", Side("constant"), (True, True, True),
        ("aot_key: gm tensor = torch.tensor((0.0, 1.0, 2.0, 3.0)) → tensor = "
         "torch.tensor((1.0, 2.0, 3.0, 4.0))",
         "inductor_key: gm constant _tensor_constant0 float32[4]: values "), ("graph",)),
    Row("parameter values", Side("weights"), (False, False, False)),
    Row("parameter values, freezing, vLLM", Side("weights", inductor=FREEZING),
        (False, False, False), (VLLM_FREEZES_NOT,), old=Side(inductor=FREEZING),
        refused=("aot_key",)),
    Row("parameter values, freezing, torch.compile", Side("weights", TC, inductor=FREEZING),
        (False, False, True),
        (TC_FREEZING, "inductor_key: gm constant _frozen_param0 (self.bias) float32[4]: values "),
        ("graph",), old=Side(profile=TC, inductor=FREEZING), refused=("aot_key",)),
    Row("parameter values, freezing, torch.compile, not inlined",
        Side("large_bias_weights", TC, inductor=FREEZING), (False, False, False), (TC_FREEZING,),
        old=Side("large_bias", TC, inductor=FREEZING), refused=("aot_key",)),
    # on the CPU, freezing prepacks a Linear weight for oneDNN, which torch cannot pickle
    Row("parameter values, freezing, torch.compile, Linear weight (CPU)",
        Side("linear_weights", TC, inductor=FREEZING), (False, False, False), (TC_FREEZING,),
        old=Side("linear", TC, inductor=FREEZING), refused=("aot_key", "inductor_key")),
    # Dynamo installs the parameters as graph attributes, but no key hashes their values
    Row("parameter values, prepare_freezing, torch.compile",
        Side("weights", TC, patch="prepare-freezing"), (False, False, False),
        old=Side(profile=TC, patch="prepare-freezing")),
    Row("Inductor flag", Side(inductor=(("max_autotune", True),)), (False, True, True),
        ("aot_key: inductor_config.max_autotune False → True (also inductor_key)",), ("config",)),
    Row("functorch flag", Side(functorch=(("debug_assert", True),)), (False, True, False),
        ("aot_key: functorch_config.debug_assert False → True",), ("config",)),
    Row("custom post-grad pass", Side(patch="pass-2"), (False, True, True),
        ("aot_key: inductor_config.post_grad_custom_pre_pass (uuid) 1 → 2 (also inductor_key)",),
        ("config",), old=Side(patch="pass-1")),
    Row("dynamic dimension", Side("dynamic"), (True, True, True),
        ("input x: dim 2 static 3 → symbolic s", "added: SymInt s", "the size of x dim 2"),
        ("graph", "inputs")),
    Row("Dynamo flag, torch.compile", Side(profile=TC, patch="all-dynamic"), (True, True, True),
        ("dynamo_config.assume_static_by_default True → False (it changes what Dynamo captures",
         "input x: dim 1 static 2 → symbolic s"), ("config", "graph", "inputs"),
        old=Side(profile=TC)),
    # test_symbol_specialization (test_aot_autograd_cache.py): one more input marked
    # maybe-dynamic, its dimension specialized by the trace; torch expects a hit
    # there; vLLM compiles a range with the placeholders' recorded fake values
    # (get_fake_args_from_graph), where the specialized size is still a SymInt: a miss
    Row("maybe-dynamic dim specialized, vLLM", Side("symbol_specialization_more"),
        (False, True, True),
        ("input y: memory_format contiguous_format → None (same static shape: a dimension "
         "marked maybe-dynamic that the trace specialized",), ("inputs",),
        old=Side("symbol_specialization")),
    Row("maybe-dynamic dim specialized, torch.compile",
        Side("symbol_specialization_more", TC), (False, False, False),
        old=Side("symbol_specialization", TC)),
    # vLLM compiles with torch.compile(dynamic=False), which pins assume_static_by_default
    Row("Dynamo flag, vLLM", Side(patch="all-dynamic"), (False, False, False)),
    Row("graph break", Side("graph_break", mode="no-aot"), (True, True, True),
        ("added (compiled subgraph; the split has 2 subgraphs, was 1); graph 1 follows a graph "
         "break: Call to `torch._dynamo.graph_break()` (moves_model.py:",
         "graph break: graph 0 now ends at Call to `torch._dynamo.graph_break()`"),
        ("graph", "split"), old=Side(mode="no-aot")),
    # torch 2.13's AOTAutograd cache refuses a graph that enters autocast; 2.14 keys it
    Row("autocast", Side("autocast"), (True, True, True),
        ("aot_key: gm relu = add_1.relu(); add_1 = None → _enter_autocast = "
         "torch.amp.autocast_mode._enter_autocast('cpu'",), ("graph",))
    if _AUTOCAST_KEYED else
    Row("autocast", Side("autocast"), (True, True, True),
        ("aot_key: torch now refuses to key it: no AOT key: torch could not hash this graph "
         "(cache bypass: Unsupported call_function target <function _enter_autocast>",),
        ("graph", "refusal")),
    Row("cache-key tag", Side(patch="cache-key-tag"), (False, True, True),
        ("aot_key: torch.compiler.config.cache_key_tag '' → test (also inductor_key)",),
        ("config",)),
)


@contextlib.contextmanager
def _configured(side: Side) -> Iterator[None]:
    """The side's config around the oracle, as the options and patches put it for cachekey."""
    import torch

    with contextlib.ExitStack() as stack:
        if side.inductor:
            stack.enter_context(torch._inductor.config.patch(dict(side.inductor)))
        if side.functorch:
            stack.enter_context(torch._functorch.config.patch(dict(side.functorch)))
        if side.patch:
            stack.enter_context(PATCHES[side.patch]())
        yield


def build(folder: str) -> tuple[Any, tuple[Any, ...]]:
    """The fixture's (module, args), imported on its own (not through cachekey's loader)."""
    from tests.oracles import fixtures

    return fixtures.build(FIXTURES / "moves" / folder / "model.py")


def _real(side: Side) -> dict[str, dict[str, list[str]]]:
    """What the side's client files: piece id -> key kind -> keys on disk."""
    import torch

    from tests.oracles import torch_compile_path, vllm_path

    module, args = build(side.folder)
    with vllm_path.environment(side.mode), _configured(side):
        if side.profile == TC:  # one cache for the whole model: the set of keys filed
            return {"*": torch_compile_path.model_keys(module, args)}
        sdpa = (torch.nn.functional.scaled_dot_product_attention,
                torch.ops.aten.scaled_dot_product_attention)
        found = vllm_path.piece_keys(module, args, sdpa, mode=side.mode,
                                     fullgraph=side.mode != "no-aot")
    return {f"g{g}/{name}": keys for (g, name), keys in found.items()}


@dataclass(frozen=True)
class Keyed:
    snapshot: Any  # baseline.snapshot.Snapshot
    keys: dict[str, dict[str, Any]]  # piece id -> kind -> key or None
    real: dict[str, dict[str, list[str]]]  # piece id ("*": the whole model) -> kind -> keys


_SIDES: dict[Side, Keyed] = {}


def keyed(side: Side) -> Keyed:
    """Trace, key and really compile one side (once per session)."""
    if side in _SIDES:
        return _SIDES[side]
    from cachekey_cli import baseline
    from cachekey_cli.analysis import pipeline
    from cachekey_cli.baseline import load
    from tests.oracles import vllm_path

    options = {
        "profile": side.profile,
        "inductor_config": tuple(f"{k}={v}" for k, v in side.inductor),
        "functorch_config": tuple(f"{k}={v}" for k, v in side.functorch),
    }
    name = f"moves/{side.folder}/model.py"
    with vllm_path.environment(side.mode):
        if side.patch is None:
            run = analyse(name, mode=side.mode, **options)
        else:  # config outside the options: not shared through the session memo
            with PATCHES[side.patch]():
                run = pipeline.run(pipeline.Options(model=str(FIXTURES / name), **options))
    keys = {
        p.id: {k: p.variants["tuple_return"].key(k).key for k in KINDS}
        for p in run.analysis.pieces
    }
    text = baseline.dumps(baseline.build(run.analysis, "tuple_return"))
    _SIDES[side] = Keyed(load.parse(text.encode(), side.folder), keys, _real(side))
    return _SIDES[side]


def _filed(side: Keyed, pid: str) -> dict[str, list[str]]:
    """What the compile filed for a unit. Under vLLM's aot_compile a graph torch cannot
    hash is filed under a random nonce (no AOT key, and no later run finds it): kept out."""
    filed = side.real["*"] if "*" in side.real else side.real[pid]
    return {"aot_key": [k for k in filed["aot_key"] if k.startswith("a")],
            "inductor_key": filed["inductor_key"]}


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_what_moves(row: Row) -> None:
    from cachekey_cli.compare import drift

    old, new = keyed(row.old), keyed(row.new)
    # cachekey's keys are the keys the real compile filed, on both sides
    for side in (old, new):
        compiled = [p for p in side.keys if "*" in side.real or p in side.real]
        assert compiled, "every side has a compiled unit"
        for kind in COMPILED:
            ours = sorted({side.keys[p][kind] for p in compiled if side.keys[p][kind]})
            filed = sorted({k for p in compiled for k in _filed(side, p)[kind]})
            assert ours == filed, (row.name, kind, ours, filed)
            if kind in row.refused:
                assert ours == [], (row.name, kind, "torch refuses it")
    pid = next(p for p in old.keys if p in new.keys)  # the first unit exists on both sides
    moved = tuple(old.keys[pid][k] != new.keys[pid][k] for k in KINDS)
    real_moved = tuple(_filed(old, pid)[k] != _filed(new, pid)[k] for k in COMPILED)
    assert real_moved == row.moves[1:], f"{row.name}: a real compile moved {real_moved}"
    assert moved == row.moves, f"{row.name}: cachekey moved {moved}"

    result = drift.check(old.snapshot, new.snapshot, command="explain")
    said = [line for s in result.subgraphs for line in s.lines()] + list(result.context)
    for text in row.says:
        assert any(text in line for line in said), (text, said)
    assert not any("(nothing)" in line or "(no line" in line for line in said), said
    assert result.categories == row.categories, said
    assert bool(result.failing) == any(row.moves)
