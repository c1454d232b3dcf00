"""Static or symbolic shapes, and private cache directories: the setting a key is taken in."""

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
def shape_mode(context: Any) -> Iterator[Any]:
    """The ``dynamic_shapes`` argument vLLM would pass, with what it needs in place.

    vLLM compiles a size-specialized piece with ``"from_example_inputs"`` and the
    general, symbolic-shape graph with ``"from_tracing_context"`` inside Dynamo's
    tracing context. A piece with symbolic inputs carries the TracingContext
    recorded when Dynamo called the backend (its ShapeEnv owns the symbols); we
    re-enter it so torch keys the piece exactly as inside that backend call.
    """
    if context is None:
        yield "from_example_inputs"
        return
    with torch._guards.tracing(context):
        yield "from_tracing_context"


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
