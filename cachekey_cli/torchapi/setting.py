"""How a client asks torch to compile one graph: the setting every key is taken in.

A ``KeySetting`` holds what a real compile call carries besides the graph and
its inputs: ``standalone_compile``'s ``dynamic_shapes``, ``aot`` and
``donate_graph_module`` arguments, the Inductor ``config_patches`` it passes,
the functorch flags in force around it, the tracing context or fake mode the
inputs belong to, and any context of the client's own around the call.
``scope(setting)`` puts all of that in place, so that a key function called
inside it sees what the real compile saw.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch._functorch.config
import torch.fx


@dataclass(frozen=True)
class KeySetting:
    dynamic_shapes: str = "from_example_inputs"  # or "from_graph", "from_tracing_context"
    aot: bool = False  # standalone_compile(aot=True): bundled AOTAutograd cache
    donate: bool = False  # standalone_compile(donate_graph_module=True): no deepcopy
    inductor: Mapping[str, Any] = field(default_factory=dict)  # config_patches
    functorch: Mapping[str, Any] = field(default_factory=dict)  # flags around the call
    context: Any = None  # Dynamo's TracingContext, for "from_tracing_context"
    fake_mode: Any = None  # the inputs' FakeTensorMode, for a single compile size
    label: str = ""  # what the setting stands for, e.g. "range 1-2048" or "size 8"
    # "standalone_compile" (a client that compiles pieces itself, as vLLM does) or
    # "compile_fx" (torch.compile's Inductor backend called by Dynamo)
    entry: str = "standalone_compile"
    # the client's own context around each compile, entered first (vLLM's compile
    # context for the compile range: its pass context, which its post-grad pass
    # manager's uuid reads); None for none
    client_scope: Callable[[], contextlib.AbstractContextManager[Any]] | None = None

    def inductor_patches(self) -> dict[str, Any]:
        return dict(self.inductor)


@contextlib.contextmanager
def scope(setting: KeySetting) -> Iterator[None]:
    """The functorch flags and Inductor patches of ``setting``, and its tracing context.

    ``config_patches`` reach compile_fx as ``config.patch(config_patches)``; the
    key-only API takes no options, so both paths patch the config around the call.
    """
    from torch._inductor import config as inductor_config

    with contextlib.ExitStack() as stack:
        if setting.client_scope is not None:
            stack.enter_context(setting.client_scope())
        if setting.functorch:
            stack.enter_context(torch._functorch.config.patch(dict(setting.functorch)))
        if setting.inductor:
            stack.enter_context(inductor_config.patch(dict(setting.inductor)))
        if setting.dynamic_shapes == "from_tracing_context" and setting.context is not None:
            stack.enter_context(torch._guards.tracing(setting.context))
        yield


def standalone_kwargs(setting: KeySetting) -> dict[str, Any]:
    """Keyword arguments of ``standalone_compile`` that this torch accepts, as the setting asks."""
    import inspect

    params = inspect.signature(torch._inductor.standalone_compile).parameters
    kwargs: dict[str, Any] = {"dynamic_shapes": setting.dynamic_shapes, "options": {}}
    if setting.inductor:
        kwargs["options"] = {"config_patches": setting.inductor_patches()}
    if setting.aot and "aot" in params:
        kwargs["aot"] = True
    if setting.donate and "donate_graph_module" in params:
        kwargs["donate_graph_module"] = True
    if setting.fake_mode is not None and "fake_mode" in params:
        kwargs["fake_mode"] = setting.fake_mode
    return kwargs


def key_api_kwargs(setting: KeySetting) -> dict[str, Any]:
    """Keyword arguments of the key-only ``autograd_cache_key`` for the same setting."""
    import importlib
    import inspect

    module = importlib.import_module("torch._inductor.standalone_compile")
    params = inspect.signature(module.autograd_cache_key).parameters
    kwargs: dict[str, Any] = {"dynamic_shapes": setting.dynamic_shapes}
    if setting.aot and "aot" in params:
        kwargs["aot"] = True
    if setting.fake_mode is not None and "fake_mode" in params:
        kwargs["fake_mode"] = setting.fake_mode
    return kwargs


def as_compiled(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """The graph module in the state a real compile keys it: a fresh deepcopy.

    A lazily compiled piece (``_LazyGraphModule``, as split inside a Dynamo
    backend) pickles differently once anything has generated its code, and
    its AOT key changes with it. A deepcopy is unrealized again, which is the
    state ``standalone_compile`` sees: its own deepcopy, or, when the client
    donates the piece (vLLM on torch >= 2.13), the piece fresh from the split.
    """
    import copy

    return copy.deepcopy(gm)
