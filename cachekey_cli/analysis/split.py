"""Split a captured graph at its splitting ops, the way vLLM's ``split_graph`` does.

Every splitting-op node gets a subgraph of its own; the nodes between them
form the piecewise subgraphs; ``keep_original_order=True``. One capture gives
two variants: ``plain`` (no tuple_return) and ``tuple_return``. Where
split_module lacks ``tuple_return`` we emulate it on the plain split.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from cachekey_cli import torchapi
from cachekey_cli.analysis.split_ops import SplitOp
from cachekey_cli.errors import InternalError, UsageError


@dataclass(frozen=True)
class RawPiece:
    name: str
    gm: torch.fx.GraphModule
    inputs: tuple[Any, ...]  # fake tensors recorded by Dynamo
    splitting_op: bool
    op: str | None
    # Dynamo's TracingContext when an input has a symbolic size (keyed with
    # dynamic_shapes="from_tracing_context", as vLLM compiles its general graph);
    # None for a static piece (dynamic_shapes="from_example_inputs").
    context: Any = None

    @property
    def dynamic_shapes(self) -> str:
        return "from_example_inputs" if self.context is None else "from_tracing_context"


@dataclass(frozen=True)
class Split:
    variant: str
    pieces: tuple[RawPiece, ...]


def assign_subgraphs(
    gm: torch.fx.GraphModule, ops: tuple[SplitOp, ...]
) -> tuple[dict[torch.fx.Node, int], dict[int, str]]:
    """Subgraph id per node, and the splitting-op name for each splitting subgraph."""
    ids: dict[torch.fx.Node, int] = {}
    split_ids: dict[int, str] = {}
    current = 0
    for node in gm.graph.nodes:
        if node.op in ("placeholder", "output"):
            continue
        # Unpacking a multi-output node stays with its producer, so a splitting
        # op that returns a tuple is not cut away from its getitems. Indexing a
        # tensor (x[..., :n]) is ordinary compute and is not moved.
        if node.target is operator.getitem and node.op == "call_function":
            source = node.args[0]
            if isinstance(source, torch.fx.Node) and source in ids:
                unpacks = isinstance(source.meta.get("example_value"), (tuple, list))
                if unpacks or ids[source] in split_ids:
                    ids[node] = ids[source]
                    continue
        match = _matching_op(node, ops)
        if match is not None:
            current += 1
            ids[node] = current
            split_ids[current] = match.name
            current += 1
        else:
            ids[node] = current
    return ids, split_ids


def _matching_op(node: torch.fx.Node, ops: tuple[SplitOp, ...]) -> SplitOp | None:
    if node.op != "call_function":
        return None
    for op in ops:
        if op.matches(node.target):
            return op
    return None


def matched_ops(gm: torch.fx.GraphModule, ops: tuple[SplitOp, ...]) -> set[str]:
    return {m.name for n in gm.graph.nodes if (m := _matching_op(n, ops)) is not None}


def tuple_return_impl(requested: str) -> str:
    """Resolve ``--tuple-return-impl auto|native|emulated`` against this torch."""
    native = torchapi.split_module_supports_tuple_return()
    if requested == "auto":
        return "native" if native else "emulated"
    if requested == "native" and not native:
        raise UsageError(
            "this torch's split_module has no tuple_return keyword",
            "use --tuple-return-impl emulated (or auto)",
        )
    return requested


def split_variants(
    gm: torch.fx.GraphModule, ops: tuple[SplitOp, ...], impl: str, context: Any = None
) -> tuple[Split, Split]:
    ids, split_ids = assign_subgraphs(gm, ops)
    original = {n.name: n for n in gm.graph.nodes}
    plain = torchapi.split_module(gm, ids.__getitem__, tuple_return=False)
    if impl == "native":
        tupled = torchapi.split_module(gm, ids.__getitem__, tuple_return=True)
    else:
        plain_again = torchapi.split_module(gm, ids.__getitem__, tuple_return=False)
        tupled = emulate_tuple_return(plain_again)
    return (
        Split("plain", _pieces(plain, original, split_ids, context)),
        Split("tuple_return", _pieces(tupled, original, split_ids, context)),
    )


def emulate_tuple_return(split_gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """What ``tuple_return=True`` does, applied after the fact.

    Each submodule that returns a bare value is made to return a one-element
    tuple, and its call site in the parent graph is followed by ``[0]``.
    """
    for call in list(split_gm.graph.nodes):
        if call.op != "call_module":
            continue
        sub = split_gm.get_submodule(call.target)
        if not isinstance(sub, torch.fx.GraphModule):
            continue
        out = next(n for n in reversed(sub.graph.nodes) if n.op == "output")
        if isinstance(out.args[0], (tuple, list)):
            continue
        value = out.args[0]
        with sub.graph.inserting_before(out):
            sub.graph.output((value,))
        sub.graph.erase_node(out)
        sub.recompile()
        users = list(call.users)
        with split_gm.graph.inserting_after(call):
            first = split_gm.graph.call_function(operator.getitem, (call, 0))
        for user in users:
            user.replace_input_with(call, first)
    split_gm.recompile()
    return split_gm


def _pieces(
    split_gm: torch.fx.GraphModule,
    original: dict[str, torch.fx.Node],
    split_ids: dict[int, str],
    context: Any,
) -> tuple[RawPiece, ...]:
    pieces = []
    for name, sub in split_gm.named_children():
        if not isinstance(sub, torch.fx.GraphModule) or not name.startswith("submod_"):
            continue
        index = int(name.rsplit("_", 1)[1])
        inputs = []
        for node in sub.graph.nodes:
            if node.op != "placeholder":
                continue
            source = original.get(node.name) or original.get(str(node.target))
            if source is None or "example_value" not in source.meta:
                raise InternalError(
                    f"{name}: input {node.name!r} has no recorded example value",
                    "report this with the model file",
                )
            inputs.append(source.meta["example_value"])
        pieces.append(
            RawPiece(
                name,
                sub,
                tuple(inputs),
                index in split_ids,
                split_ids.get(index),
                context if torchapi.has_symbolic_inputs(inputs) else None,
            )
        )
    return tuple(sorted(pieces, key=lambda p: int(p.name.rsplit("_", 1)[1])))


def output_count(gm: torch.fx.GraphModule) -> int:
    out = next(n for n in reversed(gm.graph.nodes) if n.op == "output")
    value = out.args[0]
    return len(value) if isinstance(value, (tuple, list)) else 1


def return_line(gm: torch.fx.GraphModule) -> str:
    """The graph's return statement as generated code, e.g. ``return (add,)``."""
    code = gm.graph.python_code(root_module="self").src  # fresh: gm.code may be stale
    lines = [ln.strip() for ln in code.splitlines() if ln.strip().startswith("return")]
    return lines[-1] if lines else ""
