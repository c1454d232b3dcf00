"""The AOTAutograd key, the Inductor FX-graph key, and real compiles to check them.

Every function takes a ``KeySetting`` (torchapi/setting.py): the arguments and
config a client's compile call carries. Keys come from torch's own code: the
key-only ``standalone_compile.autograd_cache_key``, or a real compile that is
stopped as soon as torch has computed the key it would file its artifact under.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch._functorch.config  # torch._functorch.config.bundled_autograd_cache
import torch.fx

from cachekey_cli.errors import in_chain
from cachekey_cli.results import Component, KeyResult
from cachekey_cli.torchapi.debuglines import (
    aot_debug_lines_enabled,
    parse_debug_lines,
    refusal_text,
)
from cachekey_cli.torchapi.setting import (
    KeySetting,
    as_compiled,
    key_api_kwargs,
    scope,
    standalone_kwargs,
)
from cachekey_cli.torchapi.shapes import private_cache_dir

AOT_CACHE_OFF = "AOTAutograd cache disabled: a compile computes no AOT key"
FX_CACHE_OFF = "FX graph cache disabled: Inductor computes no key"
BUNDLED = "bundled_autograd_cache=True: no separate FX key"
AOT_PREFIX = "a"  # AOTAUTOGRAD_CACHE_PREFIX: every real AOTAutograd key starts with it
NONCE = (
    "no AOT key: torch could not hash this graph and filed it under a random nonce "
    "(bypass_autograd_cache_key, set by torch's aot_compile), so no later run finds it"
)


def _aot_cache_on() -> bool:
    from torch._functorch._aot_autograd import autograd_cache

    return bool(
        autograd_cache.should_use_local_autograd_cache()
        or autograd_cache.should_use_remote_autograd_cache()
    )


def aot_key(
    gm: torch.fx.GraphModule,
    inputs: Sequence[Any],
    setting: KeySetting,
    known: dict[str, tuple[Component, ...]] | None = None,
    likely_known: bool = True,
) -> KeyResult:
    """AOTAutograd cache key via torch's key-only API, in the client's setting.

    The graph module is taken as ``standalone_compile`` would take it (a
    deepcopy unless the client donates it). With ``known`` (key -> components
    seen before), torch first computes the key alone; only a new key pays for
    the per-component debug lines, which re-hash every component. Equal keys
    are hashes of equal pickled inputs, so their component hashes are equal.
    ``likely_known=False`` skips the key-alone attempt (a guess that only ever
    costs time, never changes a key).
    """
    from torch._functorch._aot_autograd.autograd_cache import BypassAOTAutogradCache

    if setting.entry == "compile_fx":
        with scope(setting):
            return compile_fx_keys(gm, inputs)[0]
    module = importlib.import_module("torch._inductor.standalone_compile")
    kwargs = key_api_kwargs(setting)
    try:
        with scope(setting):
            if not _aot_cache_on():
                return KeyResult("aot_key", None, refusal=AOT_CACHE_OFF)
            if known and likely_known:
                key, _ = module.autograd_cache_key(as_compiled(gm), list(inputs), **kwargs)
                if str(key) in known:
                    return KeyResult("aot_key", str(key), known[str(key)])
            with aot_debug_lines_enabled():
                key, lines = module.autograd_cache_key(
                    as_compiled(gm), list(inputs), **kwargs
                )
    except NotImplementedError as exc:
        return KeyResult("aot_key", None, refusal=refusal_text(f"NotImplementedError: {exc}"))
    except BypassAOTAutogradCache as exc:
        return KeyResult("aot_key", None, refusal=refusal_text(f"cache bypass: {exc}"))
    except Exception as exc:  # torch refusing a graph is a finding, not a crash
        return KeyResult("aot_key", None, refusal=refusal_text(f"{type(exc).__name__}: {exc}"))
    if not str(key).startswith(AOT_PREFIX):
        return KeyResult("aot_key", None, refusal=NONCE)
    result = KeyResult("aot_key", str(key), parse_debug_lines(lines))
    if known is not None:
        known[str(key)] = result.components
    return result


class _KeyComputed(Exception):
    """Raised from inside a compile once the FX graph key exists, to stop compiling."""


@contextmanager
def _spying(
    aot_seen: list[Any] | None, fx_seen: list[tuple[Any, Any]]
) -> Iterator[None]:
    """Record the keys torch computes during a compile; stop it at the FX key.

    The AOT key is recorded where AOTAutogradCache computes it (the module-level
    ``autograd_cache_key``, which vLLM patches the same way); the FX key where
    ``FxGraphCache.prepare_key`` returns it, after which the compile is aborted.
    """
    from torch._functorch._aot_autograd import autograd_cache
    from torch._inductor.codecache import FxGraphCache

    real_prepare = FxGraphCache.prepare_key
    real_key = autograd_cache.autograd_cache_key

    def prepare_spy(*args: Any, **kwargs: Any) -> Any:
        key_info, cache_info = real_prepare(*args, **kwargs)
        fx_seen.append((key_info, cache_info))
        raise _KeyComputed

    def key_spy(*args: Any, **kwargs: Any) -> Any:
        try:
            result = real_key(*args, **kwargs)
        except Exception as exc:
            if aot_seen is not None:
                aot_seen.append(exc)
            raise
        if aot_seen is not None:
            aot_seen.append(result)
        return result

    FxGraphCache.prepare_key = staticmethod(prepare_spy)  # type: ignore[method-assign,assignment]
    autograd_cache.autograd_cache_key = key_spy  # type: ignore[assignment]
    try:
        yield
    finally:
        FxGraphCache.prepare_key = staticmethod(real_prepare)  # type: ignore[method-assign,assignment]
        autograd_cache.autograd_cache_key = real_key  # type: ignore[assignment]


def _run_until_fx_key(compile_call: Callable[[], Any], aot_seen: list[Any] | None) -> KeyResult:
    """Run a compile with the spies in place; the FX key it computed, or why there is none."""
    from torch._inductor import config as inductor_config

    if inductor_config.force_disable_caches or not inductor_config.fx_graph_cache:
        return KeyResult("inductor_key", None, refusal=FX_CACHE_OFF)
    if torch._functorch.config.bundled_autograd_cache:
        return KeyResult("inductor_key", None, refusal=BUNDLED)
    fx_seen: list[tuple[Any, Any]] = []
    try:
        with private_cache_dir(), _spying(aot_seen, fx_seen):
            compile_call()
    except _KeyComputed:
        pass
    except Exception as exc:
        if in_chain(exc, _KeyComputed) is None:
            reason = refusal_text(f"{type(exc).__name__}: {exc}")
            return KeyResult("inductor_key", None, refusal=reason)
    if not fx_seen:
        return KeyResult(
            "inductor_key", None, refusal="compile finished without consulting the FX graph cache"
        )
    key_info, cache_info = fx_seen[0]
    if key_info is None:
        reason = (cache_info or {}).get("cache_bypass_reason", "unknown")
        return KeyResult(
            "inductor_key", None, refusal=refusal_text(f"FX graph cache bypass: {reason}")
        )
    key, lines = key_info
    return KeyResult("inductor_key", str(key), parse_debug_lines(lines))


def inductor_key(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], setting: KeySetting
) -> KeyResult:
    """The FX-graph key Inductor computes for the forward graph of one standalone compile.

    Runs the real ``torch._inductor.standalone_compile`` with the setting's
    arguments and stops it once ``FxGraphCache.prepare_key`` has the key.
    A donated graph module is copied first: the caller's piece stays untouched.
    """
    import copy

    if setting.entry == "compile_fx":
        with scope(setting):
            return compile_fx_keys(gm, inputs)[1]
    kwargs = standalone_kwargs(setting)
    piece = copy.deepcopy(gm) if setting.donate else gm

    def call() -> Any:
        return torch._inductor.standalone_compile(piece, list(inputs), **kwargs)

    with scope(setting):
        return _run_until_fx_key(call, None)


def compile_fx_keys(
    gm: torch.fx.GraphModule, inputs: Sequence[Any]
) -> tuple[KeyResult, KeyResult]:
    """The AOT and FX keys ``torch.compile``'s Inductor backend computes for a Dynamo graph.

    Call it inside a Dynamo backend: ``compile_fx`` runs exactly as the default
    backend runs it, in Dynamo's tracing context, and is stopped at the FX key.
    """
    from torch._inductor.compile_fx import compile_fx

    aot_seen: list[Any] = []
    with aot_debug_lines_enabled():
        inductor = _run_until_fx_key(lambda: compile_fx(gm, list(inputs)), aot_seen)
    if not _aot_cache_on():
        return KeyResult("aot_key", None, refusal=AOT_CACHE_OFF), inductor
    if not aot_seen and inductor.refusal in (FX_CACHE_OFF, BUNDLED):
        # No FX key to stop at: take the AOT key from compile_fx's own key function.
        from torch._inductor import compile_fx as compile_fx_module

        with aot_debug_lines_enabled():
            try:
                aot_seen.append(
                    compile_fx_module.autograd_cache_key(gm, list(inputs), ignore_shape_env=False)
                )
            except Exception as exc:
                aot_seen.append(exc)
    return _aot_from_seen(aot_seen), inductor


def _aot_from_seen(seen: list[Any]) -> KeyResult:
    from torch._functorch._aot_autograd.autograd_cache import BypassAOTAutogradCache

    if not seen:
        return KeyResult(
            "aot_key", None, refusal="compile never computed an AOTAutograd key"
        )
    first = seen[0]
    if isinstance(first, BypassAOTAutogradCache):
        return KeyResult("aot_key", None, refusal=refusal_text(f"cache bypass: {first}"))
    if isinstance(first, Exception):
        return KeyResult(
            "aot_key", None, refusal=refusal_text(f"{type(first).__name__}: {first}")
        )
    key, lines = first
    if not str(key).startswith(AOT_PREFIX):
        return KeyResult("aot_key", None, refusal=NONCE)
    return KeyResult("aot_key", str(key), parse_debug_lines(lines))


def cache_dir_keys(path: str) -> dict[str, list[str]]:
    """The AOTAutograd and FX-graph keys a compile filed under an Inductor cache directory."""
    aot_dir = os.path.join(path, "aotautograd")
    fx_dir = os.path.join(path, "fxgraph")
    # a nonce (see NONCE) names a folder too, but it is no key
    aot: list[str] = []
    if os.path.isdir(aot_dir):
        aot = sorted(k for k in os.listdir(aot_dir) if k.startswith(AOT_PREFIX))
    fx: list[str] = []
    if os.path.isdir(fx_dir):
        for prefix in sorted(os.listdir(fx_dir)):
            fx.extend(sorted(os.listdir(os.path.join(fx_dir, prefix))))
    return {"aot_key": aot, "inductor_key": fx}


def compile_for_real(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], setting: KeySetting
) -> dict[str, list[str]]:
    """Really ``standalone_compile`` one piece in the setting, into a fresh cache directory.

    Returns the AOTAutograd and FX-graph keys found on disk, which is where a
    real compile files its artifacts.
    """
    with private_cache_dir() as path, scope(setting):
        torch._inductor.standalone_compile(gm, list(inputs), **standalone_kwargs(setting))
        return cache_dir_keys(path)
