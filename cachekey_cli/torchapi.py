"""The only module that touches private torch APIs.

Everything that reaches into ``torch._inductor``, ``torch._functorch`` or
``torch._dynamo`` lives here, behind small functions with plain signatures.
Capabilities are probed (``inspect.signature``, ``hasattr``), never inferred
from version strings. Torch config is only ever changed through
``config.patch`` context managers, never globally.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib
import inspect
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
import torch._functorch.config  # read by functorch_normalize_inputs_default
import torch.fx

from cachekey_cli.errors import InputError
from cachekey_cli.results import Component, KeyResult

_AOT_CACHE_LOGGER = "torch._functorch._aot_autograd.autograd_cache"
_DEBUG_LINE = re.compile(r"^\[([a-z0-9]+)\] (.+?): (.*)\Z", re.DOTALL)
_MAX_VALUE = 6000  # readable values longer than this are cut (the hash still covers all)


# --------------------------------------------------------------------------- split


def split_module_supports_tuple_return() -> bool:
    from torch.fx.passes.split_module import split_module

    return "tuple_return" in inspect.signature(split_module).parameters


def split_module(
    gm: torch.fx.GraphModule,
    callback: Callable[[torch.fx.Node], int],
    *,
    tuple_return: bool,
) -> torch.fx.GraphModule:
    """torch's split_module with vLLM's settings; ``tuple_return`` only if asked."""
    from torch.fx.passes.split_module import split_module as _split

    kwargs: dict[str, Any] = {"keep_original_order": True}
    if tuple_return:
        kwargs["tuple_return"] = True
    # root_m=gm: get_attr nodes (constants) resolve against the captured module
    return _split(gm, gm, callback, **kwargs)


def graph_returns_tuple(gm: torch.fx.GraphModule) -> bool:
    from torch._inductor.compile_fx import graph_returns_tuple as _returns_tuple

    return bool(_returns_tuple(gm))


def standalone_key_refusal(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], context: Any = None
) -> str | None:
    """What torch's standalone ``autograd_cache_key`` says about a piece as split.

    It refuses a graph that does not return a tuple (compile_fx would first
    normalize it). Callers that key pieces themselves, as vLLM does, hit this.
    """
    module = importlib.import_module("torch._inductor.standalone_compile")
    try:
        with shape_mode(context) as dynamic_shapes:
            module.autograd_cache_key(gm, list(inputs), dynamic_shapes=dynamic_shapes)
    except NotImplementedError as exc:
        return _refusal(f"NotImplementedError: {exc}")
    except Exception:  # any other failure is reported on the normalized key itself
        return None
    return None


def normalize_return(gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> torch.fx.GraphModule:
    """Apply exactly the rewrite compile_fx applies to a non-tuple graph.

    ``make_graph_return_tuple`` mutates the graph and then hands it to a compile
    callback; we pass a callback that does nothing, keeping only the rewrite.
    """
    from torch._inductor.compile_fx import make_graph_return_tuple

    out = copy.deepcopy(gm)
    make_graph_return_tuple(out, list(inputs), lambda g, i: (lambda *a: None))
    return out


# --------------------------------------------------------------------------- debug lines


def parse_debug_lines(lines: Sequence[str]) -> tuple[Component, ...]:
    """Turn torch's ``[<hash>] <component>: <value>`` lines into Components."""
    seen: dict[str, int] = {}
    out: list[Component] = []
    for line in lines:
        m = _DEBUG_LINE.match(line)
        if not m:
            continue
        digest, name, value = m.group(1), m.group(2), m.group(3)
        if name in seen:
            seen[name] += 1
            name = f"{name}#{seen[name]}"
        else:
            seen[name] = 1
        out.append(Component(name=name, hash=digest, value=_readable(value)))
    return tuple(out)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _refusal(text: str) -> str:
    """A refusal reason as one stable line: no per-process addresses, no line breaks."""
    return " ".join(_ADDRESS.sub("", text).split())


def _readable(value: str) -> str | None:
    if any((ord(ch) < 32 and ch not in "\n\t") or ch == "\ufffd" for ch in value):
        return None  # pickled bytes rendered as text: not readable
    # reprs such as "<function f at 0x7f...>" carry a per-process address that
    # torch's hash does not depend on; drop it so values compare across runs
    value = _ADDRESS.sub("", value.rstrip())
    return value if len(value) <= _MAX_VALUE else value[:_MAX_VALUE] + "…"


@contextlib.contextmanager
def _aot_debug_lines_enabled() -> Iterator[None]:
    """Make torch build the AOT key's debug lines without printing them anywhere."""
    logger = logging.getLogger(_AOT_CACHE_LOGGER)
    old_level = logger.level

    def drop(record: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.setLevel(old_level)
        logger.removeFilter(drop)


# --------------------------------------------------------------------------- keys


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


def aot_key(
    gm: torch.fx.GraphModule,
    inputs: Sequence[Any],
    known: dict[str, tuple[Component, ...]] | None = None,
    likely_known: bool = True,
    context: Any = None,
) -> KeyResult:
    """AOTAutograd cache key via torch's standalone key API (the path vLLM uses).

    With ``known`` (key -> components seen before), torch first computes the
    key alone; only a key not in ``known`` pays for the per-component debug
    lines, which re-hash every component and cost about as much again. Equal
    keys are hashes of equal pickled inputs, so their component hashes are equal.
    ``likely_known=False`` skips the key-alone attempt for a piece the caller
    expects to be new (a guess that only ever costs time, never changes a key).
    """
    from torch._functorch._aot_autograd import autograd_cache
    from torch._functorch._aot_autograd.autograd_cache import BypassAOTAutogradCache

    if not (
        autograd_cache.should_use_local_autograd_cache()
        or autograd_cache.should_use_remote_autograd_cache()
    ):
        return KeyResult(
            "aot_key", None, refusal="AOTAutograd cache disabled: a compile computes no AOT key"
        )
    module = importlib.import_module("torch._inductor.standalone_compile")
    try:
        with shape_mode(context) as dynamic_shapes:
            if known and likely_known:
                key, _ = module.autograd_cache_key(
                    gm, list(inputs), dynamic_shapes=dynamic_shapes
                )
                if str(key) in known:
                    return KeyResult("aot_key", str(key), known[str(key)])
            with _aot_debug_lines_enabled():
                key, lines = module.autograd_cache_key(
                    gm, list(inputs), dynamic_shapes=dynamic_shapes
                )
    except NotImplementedError as exc:
        return KeyResult("aot_key", None, refusal=_refusal(f"NotImplementedError: {exc}"))
    except BypassAOTAutogradCache as exc:
        return KeyResult("aot_key", None, refusal=_refusal(f"cache bypass: {exc}"))
    except Exception as exc:  # torch refusing a graph is a finding, not a crash
        return KeyResult("aot_key", None, refusal=_refusal(f"{type(exc).__name__}: {exc}"))
    result = KeyResult("aot_key", str(key), parse_debug_lines(lines))
    if known is not None:
        known[str(key)] = result.components
    return result


class _KeyComputed(Exception):
    """Raised from inside compile_fx once the FX graph key exists, to stop compiling."""


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


def inductor_key(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], context: Any = None
) -> KeyResult:
    """The FX-graph cache key Inductor computes for the forward graph.

    Runs the real ``torch._inductor.standalone_compile`` and intercepts
    ``FxGraphCache.prepare_key``: torch computes the key exactly as in a real
    compile, we record it and abort before any code generation.
    """
    from torch._inductor import config as inductor_config
    from torch._inductor.codecache import FxGraphCache

    if inductor_config.force_disable_caches or not inductor_config.fx_graph_cache:
        return KeyResult(
            "inductor_key", None, refusal="FX graph cache disabled: Inductor computes no key"
        )
    if torch._functorch.config.bundled_autograd_cache:
        return KeyResult(
            "inductor_key", None, refusal="bundled_autograd_cache=True: no separate FX key"
        )

    real_prepare = FxGraphCache.prepare_key
    seen: list[tuple[Any, Any]] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        key_info, cache_info = real_prepare(*args, **kwargs)
        seen.append((key_info, cache_info))
        raise _KeyComputed

    try:
        with private_cache_dir(), shape_mode(context) as dynamic_shapes:
            FxGraphCache.prepare_key = staticmethod(spy)  # type: ignore[method-assign,assignment]
            try:
                torch._inductor.standalone_compile(
                    gm, list(inputs), dynamic_shapes=dynamic_shapes, options={}
                )
            finally:
                FxGraphCache.prepare_key = staticmethod(real_prepare)  # type: ignore[method-assign,assignment]
    except _KeyComputed:
        pass
    except Exception as exc:
        if not _caused_by_key_computed(exc):
            reason = _refusal(f"{type(exc).__name__}: {exc}")
            return KeyResult("inductor_key", None, refusal=reason)
    if not seen:
        return KeyResult(
            "inductor_key", None, refusal="compile finished without consulting the FX graph cache"
        )
    key_info, cache_info = seen[0]
    if key_info is None:
        reason = (cache_info or {}).get("cache_bypass_reason", "unknown")
        return KeyResult(
            "inductor_key", None, refusal=_refusal(f"FX graph cache bypass: {reason}")
        )
    key, lines = key_info
    return KeyResult("inductor_key", str(key), parse_debug_lines(lines))


def _caused_by_key_computed(exc: BaseException) -> bool:
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, _KeyComputed):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def compile_for_real(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], context: Any = None
) -> dict[str, list[str]]:
    """Really compile one piece, the way vLLM does, and read back the keys used.

    Compiles with ``standalone_compile(..., dynamic_shapes="from_example_inputs")``
    (``"from_tracing_context"`` for a symbolic-shape piece, see ``shape_mode``)
    into a fresh cache directory and returns the AOTAutograd and FX-graph keys
    found on disk, which is where a real compile files its artifacts.
    """
    with private_cache_dir() as path, shape_mode(context) as dynamic_shapes:
        torch._inductor.standalone_compile(
            gm, list(inputs), dynamic_shapes=dynamic_shapes, options={}
        )
        aot_dir = os.path.join(path, "aotautograd")
        fx_dir = os.path.join(path, "fxgraph")
        aot = sorted(os.listdir(aot_dir)) if os.path.isdir(aot_dir) else []
        fx: list[str] = []
        if os.path.isdir(fx_dir):
            for prefix in sorted(os.listdir(fx_dir)):
                fx.extend(sorted(os.listdir(os.path.join(fx_dir, prefix))))
    return {"aot_key": aot, "inductor_key": fx}


# --------------------------------------------------------------------------- config


def _config_module(kind: str) -> Any:
    if kind == "inductor":
        from torch._inductor import config as inductor_config

        return inductor_config
    if kind == "functorch":
        return torch._functorch.config
    raise ValueError(kind)


def parse_override(kind: str, text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` for the given config module; InputError if unknown or ill-typed."""
    if "=" not in text:
        raise InputError(
            f"--{kind}-config {text!r} is not KEY=VALUE",
            f"e.g. --{kind}-config fallback_random=True",
        )
    key, raw = (part.strip() for part in text.split("=", 1))
    module = _config_module(kind)
    known = module.get_config_copy()
    if key not in known:
        close = [k for k in known if key.lower() in k.lower()][:3]
        hint = f"did you mean {', '.join(close)}?" if close else "see torch's config module"
        raise InputError(f"unknown {kind} config key {key!r}", hint)
    try:
        value: Any = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    current = known[key]
    if current is not None and not _type_fits(current, value):
        raise InputError(
            f"bad value for {kind} config {key}: {raw!r}",
            f"expected a {type(current).__name__} like {current!r}",
        )
    return key, value


def _type_fits(current: Any, value: Any) -> bool:
    if isinstance(current, bool):
        return isinstance(value, bool)
    if isinstance(current, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(current, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(current, str):
        return isinstance(value, str)
    if value is None:
        return True
    return isinstance(value, type(current))


@contextlib.contextmanager
def config_patched(
    inductor: Mapping[str, Any] | None = None, functorch: Mapping[str, Any] | None = None
) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if inductor:
            stack.enter_context(_config_module("inductor").patch(dict(inductor)))
        if functorch:
            stack.enter_context(_config_module("functorch").patch(dict(functorch)))
        yield


def functorch_normalize_inputs_default() -> bool | None:
    value = getattr(torch._functorch.config, "autograd_cache_normalize_inputs", None)
    return None if value is None else bool(value)


# --------------------------------------------------------------------------- capture


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
        yield
    finally:
        for lg, old in zip(loggers, before, strict=True):
            lg.setLevel(old)


def torch_git_version() -> str | None:
    return getattr(getattr(torch, "version", None), "git_version", None)
