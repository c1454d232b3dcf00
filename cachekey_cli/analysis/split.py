"""Split a captured graph at its splitting ops, exactly as vLLM 0.33.0's ``split_graph`` does.

Mirrors ``vllm/compilation/backends.py`` (``split_graph``,
``_decompose_size_nodes``, ``_merge_empty_only_subgraphs``): ``x.size()`` is
first decomposed into per-dimension sizes; every splitting-op node opens a
subgraph of its own, and consecutive splitting ops share one; a getitem goes
with the node it reads from; a subgraph holding a lone ``empty`` allocation is
merged into the previous piece; ``split_module(..., keep_original_order=True)``
runs with lazy graph modules, as inside a Dynamo backend. One graph gives two
variants: ``plain`` (no tuple_return, as vLLM split before torch 2.12) and
``tuple_return`` (vLLM's split today). Where split_module lacks
``tuple_return`` we emulate it on the plain split.

A piece's example inputs are its placeholders' fake values, which is what
vLLM's ``PiecewiseBackend`` compiles a range with.
"""

from __future__ import annotations

import operator
from collections import defaultdict
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
    inputs: tuple[Any, ...]  # fake values recorded by Dynamo
    splitting_op: bool
    op: str | None
    setting: Any = None  # torchapi.KeySetting of the general-shape compile

    @property
    def dynamic_shapes(self) -> str:
        return self.setting.dynamic_shapes if self.setting is not None else "from_example_inputs"


@dataclass(frozen=True)
class Split:
    variant: str
    pieces: tuple[RawPiece, ...]


def decompose_size_nodes(gm: torch.fx.GraphModule) -> None:
    """``x.size()`` becomes one ``sym_size.int`` per symbolic dimension, or a literal.

    A ``torch.Size`` cannot cross a split boundary, so vLLM rewrites the graph
    before splitting; the rewrite changes the pieces, so we do it too.
    """
    for node in list(gm.graph.find_nodes(op="call_method", target="size")):
        if len(node.args) > 1 or "dim" in node.kwargs:
            continue  # x.size(dim) is already a scalar
        tensor = node.args[0]
        value = tensor.meta.get("example_value")
        if value is None:
            raise InternalError(
                f"node {tensor.name!r} has no example value", "report this with the model file"
            )
        dims: list[Any] = []
        with gm.graph.inserting_after(tensor):
            for i in range(value.dim()):
                size = value.shape[i]
                if isinstance(size, torch.SymInt):
                    dim_node = gm.graph.call_function(torch.ops.aten.sym_size.int, args=(tensor, i))
                    dim_node.meta["example_value"] = size
                    dims.append(dim_node)
                else:
                    dims.append(int(size))
        for user in list(node.users):
            if (
                user.op == "call_function"
                and user.target is operator.getitem
                and len(user.args) == 2
                and user.args[0] is node
            ):
                user.replace_all_uses_with(dims[user.args[1]])
                gm.graph.erase_node(user)
            else:
                args: list[Any] = []
                for arg in user.args:
                    args.extend(dims if arg is node else [arg])
                user.args = tuple(args)
        gm.graph.erase_node(node)


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
        if node.op == "call_function" and node.target == operator.getitem:
            source = node.args[0]
            if isinstance(source, torch.fx.Node) and source.op != "placeholder":
                ids[node] = ids[source]
                continue
        match = _matching_op(node, ops)
        if match is None:
            ids[node] = current
            continue
        current += 1
        ids[node] = current
        split_ids[current] = match.name
        # consecutive splitting ops share one subgraph: the next one increments again
        current += -1 if _matching_op(node.next, ops) is not None else 1
    _merge_lone_allocations(ids, set(split_ids))
    return ids, split_ids


def _merge_lone_allocations(ids: dict[torch.fx.Node, int], splitting: set[int]) -> None:
    """A subgraph that only allocates (``empty``) joins the previous compiled piece."""
    by_id: dict[int, list[torch.fx.Node]] = defaultdict(list)
    for node, sub in ids.items():
        by_id[sub].append(node)
    previous: int | None = None
    for sub in range(max(ids.values(), default=-1) + 1):
        nodes = by_id.get(sub, [])
        if not nodes:
            continue
        merged = False
        if len(nodes) == 1 and _allocates_only(nodes[0]) and previous is not None:
            if all(
                n.op == "placeholder" or ids[n] <= previous for n in nodes[0].all_input_nodes
            ):
                ids[nodes[0]] = previous
                merged = True
        if not merged and sub not in splitting:
            previous = sub


def _allocates_only(node: torch.fx.Node) -> bool:
    if node.op == "call_method":
        return node.target == "new_empty"
    if node.op != "call_function":
        return False
    if node.target in (torch.empty, torch.empty_like, torch.empty_strided):
        return True
    name = _op_name(node.target)
    return name is not None and name.startswith(("aten::empty", "aten::new_empty"))


def _op_name(target: Any) -> str | None:
    if isinstance(target, torch._ops.OpOverloadPacket):
        return str(target._qualified_op_name)
    if isinstance(target, torch._ops.OpOverload):
        return str(target.name())
    return None


def _matching_op(node: torch.fx.Node | None, ops: tuple[SplitOp, ...]) -> SplitOp | None:
    if node is None:
        return None
    for op in ops:
        if op.matches_node(node):
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
    gm: torch.fx.GraphModule, ops: tuple[SplitOp, ...], impl: str, setting: Any = None
) -> tuple[Split, Split]:
    """The plain and tuple_return splits of one graph (the graph's sizes are decomposed)."""
    decompose_size_nodes(gm)
    ids, split_ids = assign_subgraphs(gm, ops)
    with torchapi.lazy_graph_modules():
        plain = torchapi.split_module(gm, ids.__getitem__, tuple_return=False)
        if impl == "native":
            tupled = torchapi.split_module(gm, ids.__getitem__, tuple_return=True)
        else:
            tupled = emulate_tuple_return(
                torchapi.split_module(gm, ids.__getitem__, tuple_return=False)
            )
    return (
        Split("plain", _pieces(plain, split_ids, setting)),
        Split("tuple_return", _pieces(tupled, split_ids, setting)),
    )


def whole_graph(gm: torch.fx.GraphModule, inputs: tuple[Any, ...], setting: Any) -> Split:
    """No split: the Dynamo graph itself is the one compiled unit (torch.compile)."""
    return Split("tuple_return", (RawPiece("graph", gm, inputs, False, None, setting),))


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
    split_gm: torch.fx.GraphModule, split_ids: dict[int, str], setting: Any
) -> tuple[RawPiece, ...]:
    pieces = []
    for name, sub in split_gm.named_children():
        if not isinstance(sub, torch.fx.GraphModule) or not name.startswith("submod_"):
            continue
        index = int(name.rsplit("_", 1)[1])
        inputs = []
        for node in sub.graph.find_nodes(op="placeholder"):
            if "example_value" not in node.meta:
                raise InternalError(
                    f"{name}: input {node.name!r} has no recorded example value",
                    "report this with the model file",
                )
            inputs.append(node.meta["example_value"])
        pieces.append(
            RawPiece(name, sub, tuple(inputs), index in split_ids, split_ids.get(index), setting)
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
