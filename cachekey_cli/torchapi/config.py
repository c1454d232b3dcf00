"""Inductor and functorch config overrides, parsed, checked and patched (never set globally);
what the installed torch's caches accept, probed."""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch._functorch.config  # read by functorch_normalize_inputs_default
import torch.fx

from cachekey_cli.errors import InputError


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


def inductor_config_value(name: str) -> Any:
    """The current value of one Inductor config entry."""
    return _config_module("inductor").get_config_copy()[name]


def known_functorch_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``flags`` this torch's functorch config has (probed, not assumed)."""
    known = torch._functorch.config.get_config_copy()
    return {k: v for k, v in flags.items() if k in known}


def torch_release() -> tuple[int, int]:
    """(major, minor) of the installed torch, for mirroring a client's own version rules."""
    parts = torch.__version__.split("+", 1)[0].split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def aot_cache_accepts_autocast() -> bool:
    """Whether AOTAutograd's cache takes a graph that enters autocast, asked of torch itself.

    Torch 2.13 bypasses the cache for such a graph (no AOT key); 2.14 lists
    ``_enter_autocast``/``_exit_autocast`` as safe. Probed with torch's own node
    check on a one-node graph, not read from the version.
    """
    from torch._functorch._aot_autograd import autograd_cache
    from torch.amp import autocast_mode

    graph = torch.fx.Graph()
    node = graph.call_function(autocast_mode._enter_autocast, ("cpu", None, False, None))
    try:
        autograd_cache.check_node_safe(node)
    except autograd_cache.BypassAOTAutogradCache:
        return False
    return True
