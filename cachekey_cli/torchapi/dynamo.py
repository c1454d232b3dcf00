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
    in no cache key. Torch is left alone unless its ``GuardsSet`` has the shape this works
    on and a small probe set ends up the same both ways (``guard_removal_applies``).
    """
    cls = _guards_set_class()
    if not guard_removal_applies():
        yield
        return
    original = cls.remove_guards_with_source
    original_lookup = cls.get_guards_for_source
    cls.remove_guards_with_source = _remove_in_place
    cls.get_guards_for_source = _lookup_kept
    try:
        yield
    finally:
        cls.remove_guards_with_source = original
        cls.get_guards_for_source = original_lookup


def _guards_set_class() -> Any:
    return getattr(getattr(torch, "_guards", None), "GuardsSet", None)


def _remove_in_place(self: Any, source: Any) -> None:
    from torch._dynamo.source import is_from_source

    index = self.source_to_guards
    doomed = [g for g in self.inner if is_from_source(g.originating_source, source)]
    for guard in doomed:
        self.inner.discard(guard)
    for origin in {g.originating_source for g in doomed}:
        kept = [g for g in index.get(origin, ()) if g in self.inner]
        if kept:
            index[origin] = kept
        else:
            index.pop(origin, None)


def _lookup_kept(self: Any, source: Any) -> list[Any]:
    return list(dict.fromkeys(g for g in self.source_to_guards.get(source, ())
                              if g in self.inner))


_APPLIES: list[bool] = []


def guard_removal_applies() -> bool:
    """Whether this torch's ``GuardsSet`` is the one ``guard_removal_in_place`` knows: the
    method, an index by originating source, a lookup, and a probe set (guards on a plain
    source, on a synthetic input and on a chain from it) left the same by torch's removal
    and by the in-place one. Probed once per process."""
    if not _APPLIES:
        _APPLIES.append(_probe_guard_removal())
    return _APPLIES[0]


def _probe_guard_removal() -> bool:
    cls = _guards_set_class()
    if cls is None or not all(hasattr(cls, name) for name in (
            "remove_guards_with_source", "get_guards_for_source", "add")):
        return False
    try:
        from torch._dynamo.guards import GuardBuilder
        from torch._dynamo.source import AttrSource, LocalSource, SyntheticLocalSource
        from torch._guards import Guard

        synthetic = SyntheticLocalSource("cachekey_probe")
        sources = [LocalSource("x"), synthetic, AttrSource(synthetic, "name"),
                   AttrSource(LocalSource("x"), "w")]

        def made() -> Any:
            guard_set = cls()
            for s in sources:
                for fn in (GuardBuilder.TYPE_MATCH, GuardBuilder.CONSTANT_MATCH):
                    guard_set.add(Guard(originating_source=s, create_fn=fn),
                                  collect_debug_stack=False)
            return guard_set

        theirs, ours = made(), made()
        if not isinstance(getattr(ours, "source_to_guards", None), dict) or \
                not hasattr(ours.inner, "discard"):
            return False
        cls.remove_guards_with_source(theirs, synthetic)
        _remove_in_place(ours, synthetic)
        return list(theirs.inner) == list(ours.inner) and all(
            cls.get_guards_for_source(theirs, s) == _lookup_kept(ours, s) for s in sources)
    except Exception:  # another torch's internals: leave its own method in place
        return False


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
