"""Symbolic inputs, Dynamo's tracing context, and private cache directories."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.fx


def current_tracing_context() -> Any:
    """Dynamo's TracingContext while a backend is being called, else None."""
    return torch._guards.TracingContext.try_get()


def has_symbolic_inputs(inputs: Sequence[Any]) -> bool:
    """True when an input is a SymInt or a tensor with a symbolic size or stride."""
    for x in inputs:
        if isinstance(x, torch.SymInt):
            return True
        if isinstance(x, torch.Tensor) and any(
            isinstance(s, torch.SymInt) for s in (*x.shape, *x.stride())
        ):
            return True
    return False


@contextlib.contextmanager
def private_cache_dir() -> Iterator[str]:
    """An empty TORCHINDUCTOR_CACHE_DIR for the duration, removed afterwards.

    Keeps the user's on-disk caches out of the picture: a warm AOTAutograd
    cache entry would otherwise short-circuit compile_fx before Inductor keys.
    """
    path = tempfile.mkdtemp(prefix="cachekey-inductor-")
    old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = old
        shutil.rmtree(path, ignore_errors=True)


def concrete_inputs(gm: torch.fx.GraphModule, size: int) -> tuple[list[Any], Any]:
    """A piece's fake inputs with every symbolic size replaced by ``size``, and their fake mode.

    What vLLM compiles a single size with (``create_concrete_args`` in
    ``vllm/compilation/piecewise_backend.py``): a fresh FakeTensorMode, each
    symbol substituted, strides and storage offsets concretized the same way.
    """
    from torch._prims_common import compute_required_storage_length
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv, is_symbolic

    def concrete(value: Any) -> int:
        if not is_symbolic(value):
            return int(value)
        expr = value.node.expr
        return int(expr.subs({s: size for s in expr.free_symbols}))

    fake_mode = FakeTensorMode(shape_env=ShapeEnv())
    args: list[Any] = []
    with fake_mode:
        for node in gm.graph.find_nodes(op="placeholder"):
            value = node.meta["example_value"]
            if isinstance(value, torch.SymInt):
                args.append(concrete(value))
            elif isinstance(value, torch.Tensor):
                shape = tuple(concrete(d) for d in value.shape)
                stride = tuple(concrete(s) for s in value.stride())
                offset = concrete(value.storage_offset())
                storage = compute_required_storage_length(shape, stride, offset)
                base = torch.empty(storage, dtype=value.dtype, device=value.device)
                args.append(base.as_strided(shape, stride, offset))
            else:
                args.append(value)
    return args, fake_mode


def symint_hints(gm: torch.fx.GraphModule) -> tuple[int, ...]:
    """The sizes torch's cache guards read: the backed SymInt inputs' hints, in input order.

    AOTAutograd and Inductor evaluate an entry's guards with exactly these
    (``GuardedCache._filter_backed_symints`` then ``guarding_hint_or_throw``);
    ``L['t0']`` in a guard is the first of them.
    """
    from torch.fx.experimental import symbolic_shapes as ss

    has_hint = getattr(ss, "has_guarding_hint", None) or getattr(ss, "has_hint")  # noqa: B009
    hint = getattr(ss, "guarding_hint_or_throw", None) or getattr(ss, "hint_int")  # noqa: B009
    out = []
    for node in gm.graph.find_nodes(op="placeholder"):
        value = node.meta.get("example_value", node.meta.get("val"))
        if isinstance(value, torch.SymInt) and has_hint(value):
            out.append(int(hint(value)))
    return tuple(out)
