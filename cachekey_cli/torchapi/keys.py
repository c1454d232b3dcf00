"""The AOTAutograd key, the Inductor FX-graph key, and a real compile to check them."""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch._functorch.config  # torch._functorch.config.bundled_autograd_cache
import torch.fx

from cachekey_cli.results import Component, KeyResult
from cachekey_cli.torchapi.debuglines import (
    aot_debug_lines_enabled,
    parse_debug_lines,
    refusal_text,
)
from cachekey_cli.torchapi.shapes import private_cache_dir, shape_mode


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
            with aot_debug_lines_enabled():
                key, lines = module.autograd_cache_key(
                    gm, list(inputs), dynamic_shapes=dynamic_shapes
                )
    except NotImplementedError as exc:
        return KeyResult("aot_key", None, refusal=refusal_text(f"NotImplementedError: {exc}"))
    except BypassAOTAutogradCache as exc:
        return KeyResult("aot_key", None, refusal=refusal_text(f"cache bypass: {exc}"))
    except Exception as exc:  # torch refusing a graph is a finding, not a crash
        return KeyResult("aot_key", None, refusal=refusal_text(f"{type(exc).__name__}: {exc}"))
    result = KeyResult("aot_key", str(key), parse_debug_lines(lines))
    if known is not None:
        known[str(key)] = result.components
    return result


class _KeyComputed(Exception):
    """Raised from inside compile_fx once the FX graph key exists, to stop compiling."""


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
            reason = refusal_text(f"{type(exc).__name__}: {exc}")
            return KeyResult("inductor_key", None, refusal=reason)
    if not seen:
        return KeyResult(
            "inductor_key", None, refusal="compile finished without consulting the FX graph cache"
        )
    key_info, cache_info = seen[0]
    if key_info is None:
        reason = (cache_info or {}).get("cache_bypass_reason", "unknown")
        return KeyResult(
            "inductor_key", None, refusal=refusal_text(f"FX graph cache bypass: {reason}")
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
