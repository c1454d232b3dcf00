"""Dynamo: reset, graph-break reasons, and keeping torch's logs off the terminal."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.fx


def reset_dynamo() -> None:
    torch._dynamo.reset()


def compile_reason(gm: torch.fx.GraphModule) -> tuple[str | None, str | None]:
    """Why Dynamo ended this graph, if it was a graph break: (reason, 'file:line in fn')."""
    reason = getattr(gm, "compile_subgraph_reason", None)
    if reason is None or not getattr(reason, "graph_break", False):
        return None, None
    where = None
    stack = list(getattr(reason, "user_stack", None) or [])
    if stack:
        frame = stack[-1]
        where = f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}"
    text = " ".join(str(getattr(reason, "reason", "")).split())
    # Dynamo appends an explanation, hints and a docs link; keep the headline.
    for marker in (" Explanation:", " Hint:", " Developer debug context:"):
        text = text.split(marker, 1)[0]
    return (text if len(text) <= 160 else text[:159] + "…"), where


@contextlib.contextmanager
def quiet_torch_logs() -> Iterator[None]:
    """Keep torch's own error logging (e.g. a failed fake-tensor op) off the terminal.

    The failure still reaches the user as one line, and with --traceback in full.
    """
    names = (
        "torch._subclasses.fake_tensor",
        "torch._dynamo",
        "torch._inductor",
        "torch.fx.experimental.symbolic_shapes",
    )
    # A level on these parents also silences their children (e.g.
    # torch._inductor.standalone_compile), whose own level is unset.
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        with trace_records_kept_in_torch():
            yield
    finally:
        for lg, old in zip(loggers, before, strict=True):
            lg.setLevel(old)


_TRACE_LOGGER = "torch.__trace"


@contextlib.contextmanager
def trace_records_kept_in_torch() -> Iterator[None]:
    """Keep torch's structured-trace records to torch's own handlers for the duration.

    That logger is always at DEBUG and never propagates, and torch builds a
    record only when it has handlers. pytest attaches its capture handlers to
    every non-propagating logger that exists when a test starts, so a compile
    under pytest fills a failing test's captured-log section with thousands of
    ``DEBUG torch.__trace`` lines (and pays to build them). Handlers that are
    not torch's are detached meanwhile and put back after.
    """
    logger = logging.getLogger(_TRACE_LOGGER)
    foreign = [h for h in logger.handlers if not type(h).__module__.startswith("torch.")]
    for handler in foreign:
        logger.removeHandler(handler)
    try:
        yield
    finally:
        for handler in foreign:
            logger.addHandler(handler)


# Dynamo settings that decide which values are baked into the graph (specialized or
# installed as attributes) and which stay inputs; none is a key component, they act
# through the graph and inputs Dynamo captures. See docs/concepts.md.
VALUE_SETTINGS = (
    "specialize_int",
    "specialize_float",
    "assume_static_by_default",
    "automatic_dynamic_shapes",
    "force_parameter_static_shapes",
    "force_nn_module_property_static_shapes",
    "prepare_freezing",
    "install_free_tensors",
)


def dynamo_settings() -> dict[str, str]:
    """The current value of each of VALUE_SETTINGS that this torch has, as repr text."""
    config = torch._dynamo.config
    return {k: repr(getattr(config, k)) for k in VALUE_SETTINGS if hasattr(config, k)}


def torch_git_version() -> str | None:
    return getattr(getattr(torch, "version", None), "git_version", None)


def compile_for_capture(
    fn: Any, backend: Any, *, fullgraph: bool, dynamic: bool | None, aot: bool
) -> Any:
    """``torch.compile`` the way the client does; with ``aot``, ready for ``aot_compile``."""
    patch = (
        torch._dynamo.config.patch(enable_aot_compile=True)
        if aot and hasattr(torch._dynamo.config, "enable_aot_compile")
        else contextlib.nullcontext()
    )
    with patch:
        return torch.compile(fn, backend=backend, fullgraph=fullgraph, dynamic=dynamic)


def run_aot_compile(compiled: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Capture through ``aot_compile``, as vLLM's AOT-compile modes do.

    torch then wants the backend's result to be serializable (vLLM returns its
    own serializable function); our backend has done its work by the time it
    returns, so that one complaint is expected and ignored.
    """
    try:
        compiled.aot_compile((tuple(args), dict(kwargs)))
    except RuntimeError as exc:
        if "SerializableCallable" not in str(exc):
            raise


@contextlib.contextmanager
def guard_removal_in_place() -> Iterator[None]:
    """Dynamo's ``GuardsSet.remove_guards_with_source``, without rebuilding the whole set.

    Each opaque object Dynamo hoists into the graph as a synthetic input (vLLM's
    ``LayerName``, one per layer and op, on torch >= 2.11) has torch drop the guards built
    on it. Torch does that by building a new ordered set of every guard but those, then the
    whole source index again: work in proportion to all guards so far, once per hoisted
    object, so layers × guards. At Llama-3-70B's 80 layers (18,000 guards at the last call)
    that took 3 to 14 s of the trace, from run to run (benchmarks/vllm_floor.py).

    Here the same guards are dropped from the set and from their index buckets in place,
    and a lookup in the index (``get_guards_for_source``) returns only guards still in the
    set, in set order: what torch's rebuilt index would hold (torch itself discards from the
    set in place and leaves the index alone, in ``LazyVariableTracker.realize``). Guards are
    in no cache key. Left alone where torch's ``GuardsSet`` lacks what this works on.
    """
    guards = getattr(torch, "_guards", None)
    cls = getattr(guards, "GuardsSet", None)
    if cls is None or not hasattr(cls, "remove_guards_with_source"):
        yield
        return
    from torch._dynamo.source import is_from_source

    original = cls.remove_guards_with_source
    original_lookup = getattr(cls, "get_guards_for_source", None)

    def lookup(self: Any, source: Any) -> list[Any]:
        found = dict.fromkeys(g for g in self.source_to_guards.get(source, ())
                              if g in self.inner)
        return list(found)

    def remove_in_place(self: Any, source: Any) -> None:
        index = getattr(self, "source_to_guards", None)
        if index is None or not hasattr(self.inner, "discard"):
            return original(self, source)  # type: ignore[no-any-return]
        doomed = [g for g in self.inner if is_from_source(g.originating_source, source)]
        for guard in doomed:
            self.inner.discard(guard)
        for origin in {g.originating_source for g in doomed}:
            kept = [g for g in index.get(origin, ()) if g in self.inner]
            if kept:
                index[origin] = kept
            else:
                index.pop(origin, None)
        return None

    cls.remove_guards_with_source = remove_in_place
    if original_lookup is not None:
        cls.get_guards_for_source = lookup
    try:
        yield
    finally:
        cls.remove_guards_with_source = original
        if original_lookup is not None:
            cls.get_guards_for_source = original_lookup


def is_graph_break(exc: BaseException) -> bool:
    """A failure that a capture without fullgraph=True would have turned into a graph break."""
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, torch._dynamo.exc.Unsupported):
            return True
        if "Graph breaks are not supported with aot compile" in str(cur):
            return True
        cur = cur.__cause__ or cur.__context__
    return False
