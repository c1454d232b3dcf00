"""split_module, the tuple-return check and compile_fx's normalization."""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.fx

from cachekey_cli.torchapi.debuglines import refusal_text
from cachekey_cli.torchapi.setting import KeySetting, as_compiled, key_api_kwargs, scope


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


@contextlib.contextmanager
def lazy_graph_modules() -> Iterator[None]:
    """Make split_module build ``_LazyGraphModule`` pieces, as it does inside a Dynamo backend.

    A lazy piece generates its code on first use, and pickles differently
    before and after: its AOT key depends on which state it is keyed in.
    """
    from torch.fx._lazy_graph_module import _use_lazy_graph_module

    with _use_lazy_graph_module(True):
        yield


def graph_returns_tuple(gm: torch.fx.GraphModule) -> bool:
    from torch._inductor.compile_fx import graph_returns_tuple as _returns_tuple

    return bool(_returns_tuple(gm))


def standalone_key_refusal(
    gm: torch.fx.GraphModule, inputs: Sequence[Any], setting: KeySetting
) -> str | None:
    """What torch's standalone ``autograd_cache_key`` says about a piece as split.

    It refuses a graph that does not return a tuple (compile_fx would first
    normalize it). Callers that key pieces themselves, as vLLM does, hit this.
    """
    module = importlib.import_module("torch._inductor.standalone_compile")
    try:
        with scope(setting):
            module.autograd_cache_key(
                as_compiled(gm), list(inputs), **key_api_kwargs(setting)
            )
    except NotImplementedError as exc:
        return refusal_text(f"NotImplementedError: {exc}")
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
