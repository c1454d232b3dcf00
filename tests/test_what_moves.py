""""What moves each key" (docs/concepts.md): one test per row of the table.

Each row perturbs the tiny model in fixtures/moves/ one way. The perturbations
are the ones PyTorch's own cache tests make (test/inductor/test_codecache.py:
test_hash_fake_tensors, test_constant_handling, test_freezing,
test_hash_config_changes, test_hash_custom_passes, test_cache_load_function's
cache_key_tag, test_cache_load_model's graph break; test/dynamo/
test_aot_autograd_cache.py for functorch's config and autocast; a Dynamo flag
for the settings listed in docs/concepts.md). Every test:

1. really compiles each piece of both sides into a fresh cache directory
   (``compile_for_real``, vLLM's ``standalone_compile`` path) and asserts that
   the AOT and Inductor keys move exactly as the table says, and that cachekey's
   keys are the ones the compile filed;
2. asserts cachekey's graph hash moves as the table says;
3. asserts the finding ``cachekey explain`` prints names the cause.

Each side is traced, keyed and compiled once per session (about 1 s a compile).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import FIXTURES

KINDS = ("graph_hash", "aot_key", "inductor_key")


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


@dataclass(frozen=True)
class Side:
    folder: str = "base"
    options: tuple[tuple[str, Any], ...] = ()  # pipeline.Options fields
    patch: str | None = None  # a name in PATCHES: config set the way a model file would


def _all_dynamic() -> Any:
    import torch

    return torch._dynamo.config.patch(assume_static_by_default=False)


PATCHES: dict[str, Callable[[], Any]] = {
    "pass-1": _custom_pass("1"),
    "pass-2": _custom_pass("2"),
    "cache-key-tag": _cache_key_tag,
    "all-dynamic": _all_dynamic,
}
FREEZING = (("inductor_config", ("freezing=True",)),)


@dataclass(frozen=True)
class Row:
    name: str
    new: Side
    moves: tuple[bool, bool, bool]  # graph_hash, aot_key, inductor_key
    says: tuple[str, ...] = ()  # substrings of the findings (or context lines)
    categories: tuple[str, ...] = ()
    old: Side = field(default_factory=Side)


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
    Row("parameter values, freezing (vLLM path)", Side("weights", FREEZING), (False, False, False),
        ("freezing is on (both): vLLM does not freeze",), old=Side("base", FREEZING)),
    Row("Inductor flag", Side(options=(("inductor_config", ("max_autotune=True",)),)),
        (False, True, True),
        ("aot_key: inductor_config.max_autotune False → True (also inductor_key)",), ("config",)),
    Row("functorch flag", Side(options=(("functorch_config", ("debug_assert=True",)),)),
        (False, True, False), ("aot_key: functorch_config.debug_assert False → True",),
        ("config",)),
    Row("custom post-grad pass", Side(patch="pass-2"), (False, True, True),
        ("aot_key: inductor_config.post_grad_custom_pre_pass (uuid) 1 → 2 (also inductor_key)",),
        ("config",), old=Side(patch="pass-1")),
    Row("dynamic dimension", Side("dynamic"), (True, True, True),
        ("input x: dim 2 static 3 → symbolic s", "added: SymInt s", "the size of x dim 2"),
        ("graph", "inputs")),
    Row("Dynamo flag", Side(patch="all-dynamic"), (True, True, True),
        ("dynamo_config.assume_static_by_default True → False (it changes what Dynamo captures",
         "input x: dim 1 static 2 → symbolic s"), ("config", "graph", "inputs")),
    Row("graph break", Side("graph_break"), (True, True, True),
        ("added (compiled subgraph; the split has 2 subgraphs, was 1); graph 1 follows a graph "
         "break: Call to `torch._dynamo.graph_break()` (moves_model.py:",
         "graph break: graph 0 now ends at Call to `torch._dynamo.graph_break()`"),
        ("graph", "split")),
    Row("autocast", Side("autocast"), (True, True, True),
        ("aot_key: torch now refuses to key it: cache bypass: Unsupported call_function target "
         "<function _enter_autocast>",), ("graph", "refusal")),
    Row("cache-key tag", Side(patch="cache-key-tag"), (False, True, True),
        ("aot_key: torch.compiler.config.cache_key_tag '' → test (also inductor_key)",),
        ("config",)),
)


@contextlib.contextmanager
def _patched(side: Side) -> Iterator[None]:
    with PATCHES[side.patch]() if side.patch else contextlib.nullcontext():
        yield


@dataclass(frozen=True)
class Keyed:
    snapshot: Any  # baseline.snapshot.Snapshot
    keys: dict[str, dict[str, Any]]  # piece id -> kind -> (key, refusal)
    real: dict[str, dict[str, list[str]]]  # piece id -> kind -> keys the compile filed


_SIDES: dict[Side, Keyed] = {}


def keyed(side: Side) -> Keyed:
    """Trace, key and really compile one side (once per session)."""
    if side in _SIDES:
        return _SIDES[side]
    import torch

    from cachekey_cli import baseline, torchapi
    from cachekey_cli.analysis import pipeline
    from cachekey_cli.baseline import load

    options = pipeline.Options(model=str(FIXTURES / "moves" / side.folder / "model.py"),
                               **dict(side.options))
    with _patched(side):
        run = pipeline.run(options)
        real = {}
        with torchapi.config_patched(run.overrides["inductor"], run.overrides["functorch"]):
            for piece in run.analysis.pieces:
                if piece.splitting_op:
                    continue
                raw = run.raw[(piece.graph, piece.name, "tuple_return")]
                with torch.inference_mode(), torchapi.quiet_torch_logs():
                    real[piece.id] = torchapi.compile_for_real(raw.gm, raw.inputs, raw.context)
    keys = {
        p.id: {k: p.variants["tuple_return"].key(k) for k in KINDS} for p in run.analysis.pieces
    }
    text = baseline.dumps(baseline.build(run.analysis, "tuple_return"))
    snap = load.parse(text.encode(), side.folder)
    _SIDES[side] = Keyed(snap, {i: {k: (v.key, v.refusal) for k, v in d.items()}
                                for i, d in keys.items()}, real)
    return _SIDES[side]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_what_moves(row: Row) -> None:
    from cachekey_cli.compare import drift

    old, new = keyed(row.old), keyed(row.new)
    # cachekey's keys are the keys a real compile files, on both sides
    for side in (old, new):
        for pid, real in side.real.items():
            for kind in ("aot_key", "inductor_key"):
                ours = side.keys[pid][kind][0]
                assert real[kind] == ([ours] if ours else []), (row.name, pid, kind)
    shared = [pid for pid in old.keys if pid in new.keys and pid in old.real]
    assert shared, "the first piece exists on both sides"
    pid = shared[0]
    moved = tuple(old.keys[pid][k] != new.keys[pid][k] for k in KINDS)
    real_moved = tuple(old.real[pid][k] != new.real[pid][k] for k in ("aot_key", "inductor_key"))
    assert real_moved == row.moves[1:], f"{row.name}: a real compile moved {real_moved}"
    assert moved == row.moves, f"{row.name}: cachekey moved {moved}"

    result = drift.check(old.snapshot, new.snapshot, command="explain")
    said = [line for s in result.subgraphs for line in s.lines()] + list(result.context)
    for text in row.says:
        assert any(text in line for line in said), (text, said)
    assert not any("(nothing)" in line or "(no line" in line for line in said), said
    assert result.categories == row.categories, said
    assert bool(result.failing) == any(row.moves)
