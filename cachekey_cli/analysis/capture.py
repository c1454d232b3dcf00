"""Capture the graph(s) Dynamo hands to a torch.compile backend, and work on them there.

The backend records each GraphModule, calls ``on_graph`` while it is still
inside the backend call (where a client such as vLLM splits and compiles: in
Dynamo's tracing context, with lazy graph modules and Dynamo's fake values),
and returns a stand-in that produces empty tensors of the recorded output
metadata, so weights never take part in real compute (an 8B-shaped model with
never-written weights traces cheaply).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from cachekey_cli import torchapi
from cachekey_cli.errors import (
    CachekeyError,
    InputError,
    InternalError,
    exception_line,
    in_chain,
)
from cachekey_cli.sources.model import LoadedModel


@dataclass(frozen=True)
class Captured:
    index: int
    gm: torch.fx.GraphModule
    break_reason: str | None
    break_location: str | None
    context: Any = None  # Dynamo's TracingContext for this graph (owns its ShapeEnv)


def _stand_in(gm: torch.fx.GraphModule) -> Callable[..., Any]:
    """Outputs of the right shape, dtype and stride, without running the graph."""
    out_node = next(n for n in reversed(gm.graph.nodes) if n.op == "output")
    returned = out_node.args[0]
    if not isinstance(returned, (tuple, list)):
        return gm.forward
    specs: list[Any] = []
    for item in returned:
        value = item.meta.get("example_value") if isinstance(item, torch.fx.Node) else item
        if isinstance(value, torch.Tensor):
            if any(not isinstance(s, int) for s in (*value.shape, *value.stride())):
                return gm.forward  # symbolic shapes: run the real graph
            specs.append(value)
        elif isinstance(item, torch.fx.Node):
            return gm.forward  # a SymInt or other computed value: run the real graph
        else:
            specs.append(item)

    def run(*args: Any) -> Any:
        outs = [
            torch.empty_strided(
                tuple(s.shape), tuple(s.stride()), dtype=s.dtype, device=s.device
            ).requires_grad_(s.requires_grad and torch.is_grad_enabled())
            if isinstance(s, torch.Tensor)
            else s
            for s in specs
        ]
        return type(returned)(outs) if isinstance(returned, tuple) else outs

    return run


OnGraph = Callable[[Captured, list[Any]], None]


class GraphBreak(Exception):
    """A fullgraph capture met a graph break (the client refuses the model)."""


def capture(
    model: LoadedModel,
    *,
    inference: bool = True,
    on_graph: OnGraph | None = None,
    dynamic: Callable[[], None] | None = None,
    style: Any = None,
    traced_files: set[str] | None = None,
) -> list[Captured]:
    """Run the model once under Dynamo; ``dynamic()`` marks dynamic dims just before.

    ``style`` (a profiles.CaptureStyle) says how the client calls ``torch.compile``;
    with ``aot_compile`` the graph is captured without running the model at all.
    ``traced_files`` (if given) receives the files Dynamo traced, as vLLM collects them.
    """
    graphs: list[Captured] = []

    def backend(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        reason, where = torchapi.compile_reason(gm)
        context = torchapi.current_tracing_context()
        captured = Captured(len(graphs), gm, reason, where, context)
        graphs.append(captured)
        stand_in = _stand_in(gm)  # before on_graph: keying may add attributes to gm
        if on_graph is not None:
            on_graph(captured, example_inputs)
        return stand_in

    torchapi.reset_dynamo()
    mode = torch.inference_mode() if inference else contextlib.nullcontext()
    module = model.module
    if isinstance(module, torch.nn.Module):
        module.eval()
    try:
        if dynamic is not None:
            dynamic()
        fullgraph = bool(style and style.fullgraph)
        aot = bool(style and style.aot_compile)
        # vLLM compiles the bound forward (a decorated model's __call__ is vLLM's own)
        target = module.forward if fullgraph and isinstance(module, torch.nn.Module) else module
        client = style.scope(target) if style is not None and style.scope is not None \
            else contextlib.nullcontext()
        traced = (
            torchapi.collect_traced_files(module, traced_files)
            if traced_files is not None
            else contextlib.nullcontext()
        )
        with client, mode, traced, torchapi.quiet_torch_logs(), \
                torchapi.guard_removal_in_place(), contextlib.redirect_stdout(sys.stderr):
            compiled = torchapi.compile_for_capture(
                target, backend, fullgraph=fullgraph, dynamic=style.dynamic if style else None,
                aot=aot,
            )
            if aot:
                torchapi.run_aot_compile(compiled, model.args, model.kwargs)
            else:
                compiled(*model.args, **model.kwargs)
    except CachekeyError:
        raise
    except Exception as exc:
        graphs.clear()
        if style is not None and style.fullgraph and torchapi.is_graph_break(exc):
            raise GraphBreak(exception_line(exc)) from exc
        own = in_chain(exc, CachekeyError)
        if own is not None:
            raise own from exc
        raise _classify_failure(model, exc) from exc
    finally:
        torchapi.reset_dynamo()
    if not graphs:
        raise InputError(
            f"Dynamo captured no graph from {model.spec.display}",
            "the forward must run at least one torch op on tensors",
        )
    return graphs


def _classify_failure(model: LoadedModel, exc: Exception) -> Exception:
    """Tell a broken model (fails eagerly too) from a Dynamo failure."""
    try:
        with torch.inference_mode(), contextlib.redirect_stdout(sys.stderr):
            model.module(*model.args, **model.kwargs)
    except Exception as eager:
        built_by_vllm = model.spec.target.startswith("vllm:")
        return InputError(
            f"the model's forward failed on the example inputs: {exception_line(eager)}",
            "vLLM's own class fails on this config: check the config.json and the serve "
            "arguments (vLLM's server would stop the same way)" if built_by_vllm
            else "fix the model or the args returned by the factory",
        )
    return InternalError(
        f"Dynamo could not trace {model.spec.display}: {exception_line(exc)}",
        "the model runs eagerly; rerun with --traceback and report it",
    )
