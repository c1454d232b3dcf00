"""Watch a real compile compute its keys, and stop it at the FX-graph key.

A compile (``standalone_compile`` or ``compile_fx``) is run with two of torch's
functions wrapped: AOTAutograd's module-level ``autograd_cache_key`` (which
vLLM patches the same way) and ``FxGraphCache.prepare_key``. Each records what
torch computed, and the graph it keyed, so that the constants torch hashes
but does not print can be named (torchapi/values.py); the FX one then aborts
the compile. Keys and hashes are torch's own, untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch._functorch.config
import torch.fx

from cachekey_cli.errors import in_chain
from cachekey_cli.results import Component, KeyResult
from cachekey_cli.torchapi.debuglines import parse_debug_lines, refusal_text
from cachekey_cli.torchapi.shapes import private_cache_dir
from cachekey_cli.torchapi.values import (
    constant_lines,
    functorch_config_value,
    saved_configs,
    with_constants,
)

FX_CACHE_OFF = "FX graph cache disabled: Inductor computes no key"
BUNDLED = "bundled_autograd_cache=True: no separate FX key"
AOT_PREFIX = "a"  # AOTAUTOGRAD_CACHE_PREFIX: every real AOTAutograd key starts with it
NONCE = (
    "no AOT key: torch could not hash this graph{why} and filed it under a random nonce "
    "(bypass_autograd_cache_key, set by torch's aot_compile), so no later run finds it"
)


class KeyComputed(Exception):
    """Raised from inside a compile once the FX graph key exists, to stop compiling."""


@dataclass
class Seen:
    """What the wrapped functions saw during one compile."""

    originals: Mapping[str, torch.Tensor] = field(default_factory=dict)  # names frozen params
    aot: list[Any] = field(default_factory=list)  # (key, lines) or the exception raised
    aot_constants: list[str] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)  # functorch configs torch saved
    fx: list[tuple[Any, Any]] = field(default_factory=list)  # prepare_key's results
    fx_constants: list[str] = field(default_factory=list)


def readable(
    components: tuple[Component, ...], constants: list[str], blobs: list[bytes]
) -> tuple[Component, ...]:
    """Torch's components with the values it hashes but does not print: the graph's
    tensor constants under ``gm``, functorch's flags under ``autograd_config``.
    Display text only: no hash and no key changes."""
    out = []
    for c in components:
        if c.name == "gm":
            c = Component(c.name, c.hash, with_constants(c.value, constants))
        elif c.name == "autograd_config" and c.value is None:
            c = Component(c.name, c.hash, functorch_config_value(c.hash, blobs))
        out.append(c)
    return tuple(out)


@contextmanager
def spying(seen: Seen, record_aot: bool) -> Iterator[None]:
    """Record the keys torch computes during a compile; stop it at the FX key."""
    from torch._functorch._aot_autograd import autograd_cache
    from torch._inductor.codecache import FxGraphCache

    real_prepare = FxGraphCache.prepare_key
    real_key = autograd_cache.autograd_cache_key

    def prepare_spy(*args: Any, **kwargs: Any) -> Any:
        key_info, cache_info = real_prepare(*args, **kwargs)
        seen.fx.append((key_info, cache_info))
        keyed = args[0] if args else kwargs.get("gm")
        if isinstance(keyed, torch.fx.GraphModule):  # the graph Inductor keys, constants on it
            seen.fx_constants.extend(constant_lines(keyed, seen.originals))
        raise KeyComputed

    def key_spy(*args: Any, **kwargs: Any) -> Any:
        try:
            result = real_key(*args, **kwargs)
        except Exception as exc:
            if record_aot:
                seen.aot.append(exc)
            raise
        if record_aot:
            seen.aot.append(result)
            mod = args[0] if args else kwargs.get("mod")
            gm = getattr(mod, "gm", mod)  # a GmWrapper holds the graph module
            if isinstance(gm, torch.fx.GraphModule) and len(seen.aot) == 1:
                seen.aot_constants.extend(constant_lines(gm, seen.originals, key="aot_key"))
        return result

    FxGraphCache.prepare_key = staticmethod(prepare_spy)  # type: ignore[method-assign,assignment]
    autograd_cache.autograd_cache_key = key_spy  # type: ignore[assignment]
    try:
        with saved_configs() as blobs:
            try:
                yield
            finally:
                seen.blobs.extend(blobs)
    finally:
        FxGraphCache.prepare_key = staticmethod(real_prepare)  # type: ignore[method-assign,assignment]
        autograd_cache.autograd_cache_key = real_key  # type: ignore[assignment]


def run_until_fx_key(compile_call: Callable[[], Any], seen: Seen, record_aot: bool) -> KeyResult:
    """Run a compile with the spies in place; the FX key it computed, or why there is none."""
    from torch._inductor import config as inductor_config

    if inductor_config.force_disable_caches or not inductor_config.fx_graph_cache:
        return KeyResult("inductor_key", None, refusal=FX_CACHE_OFF)
    if torch._functorch.config.bundled_autograd_cache:
        return KeyResult("inductor_key", None, refusal=BUNDLED)
    try:
        with private_cache_dir(), spying(seen, record_aot):
            compile_call()
    except KeyComputed:
        pass
    except Exception as exc:
        if in_chain(exc, KeyComputed) is None:
            reason = refusal_text(f"{type(exc).__name__}: {exc}")
            return KeyResult("inductor_key", None, refusal=reason)
    if not seen.fx:
        return KeyResult(
            "inductor_key", None, refusal="compile finished without consulting the FX graph cache"
        )
    key_info, cache_info = seen.fx[0]
    if key_info is None:
        reason = (cache_info or {}).get("cache_bypass_reason", "unknown")
        return KeyResult(
            "inductor_key", None, refusal=refusal_text(f"FX graph cache bypass: {reason}")
        )
    key, lines = key_info
    components = readable(parse_debug_lines(lines), seen.fx_constants, [])
    return KeyResult("inductor_key", str(key), components)


def aot_from_seen(seen: Seen) -> KeyResult:
    """The AOT key the compile computed first, with readable values, or why it has none."""
    from torch._functorch._aot_autograd.autograd_cache import BypassAOTAutogradCache

    if not seen.aot:
        return KeyResult("aot_key", None, refusal="compile never computed an AOTAutograd key")
    first = seen.aot[0]
    if isinstance(first, BypassAOTAutogradCache):
        return KeyResult("aot_key", None, refusal=refusal_text(f"cache bypass: {first}"))
    if isinstance(first, Exception):
        return KeyResult(
            "aot_key", None, refusal=refusal_text(f"{type(first).__name__}: {first}")
        )
    key, lines = first
    if not str(key).startswith(AOT_PREFIX):
        return KeyResult("aot_key", None, refusal=NONCE.format(why=""))
    components = readable(parse_debug_lines(lines), seen.aot_constants, seen.blobs)
    return KeyResult("aot_key", str(key), components)
