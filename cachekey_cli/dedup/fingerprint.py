"""Name-independent structural fingerprints of split pieces, and what differs between them.

Two pieces are *isomorphic* when they run the same ops, wired the same way (by
position, not by name), on inputs of the same shape, stride, dtype and device,
with the same constants once runs of digits inside string constants are
replaced by ``#`` (``"model.layers.3.mlp"`` and ``"model.layers.7.mlp"`` look
alike). Placeholder names, type annotations, ``requires_grad`` and
Parameter-ness are left out of the fingerprint on purpose: those are exactly
the details that make isomorphic layers miss each other's cache entries, and
``differences`` names them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx

from cachekey_cli.wording import plural

_DIGITS = re.compile(r"\d+")
_PLAIN = (int, float, bool, type(None), complex)
_REPR_TYPES = (torch.dtype, torch.device, torch.layout, torch.memory_format)


@dataclass(frozen=True)
class Site:
    """One place in a piece whose exact value the fingerprint ignores."""

    kind: str  # "input name", "input annotation", "requires_grad", "parameter",
    # "string constant", "attribute name", "node name"
    where: str  # e.g. "input 2", "argument 1 of cachekey_fixtures.scaled_mlp"
    value: str | None


@dataclass(frozen=True)
class Structure:
    fingerprint: str  # 16 hex digits over the normalized form
    sites: tuple[Site, ...]  # in a fixed order, so isomorphic pieces align site by site


@dataclass(frozen=True)
class Difference:
    """A site whose value is not the same in every piece of an isomorphic group."""

    kind: str
    where: str
    values: Mapping[str, str | None]  # piece id -> value

    def describe(self, limit: int = 3) -> str:
        distinct: list[str | None] = []
        for v in self.values.values():
            if v not in distinct:
                distinct.append(v)
        shown = ", ".join("(none)" if v is None else v for v in distinct[:limit])
        more = f", … ({len(distinct)} distinct)" if len(distinct) > limit else ""
        return f"{self.kind} at {self.where}: {shown}{more}"


def target_name(target: Any) -> str:
    """A stable, address-free name for a node's target."""
    if isinstance(target, str):
        return target
    # An operator overload (public ``overloadpacket``) or packet (public ``overloads()``),
    # told apart by duck typing: ``str`` gives ``aten.add.Tensor`` / ``aten.add``.
    if getattr(target, "overloadpacket", None) is not None or callable(
        getattr(target, "overloads", None)
    ):
        return str(target)
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    if name is None:
        return type(target).__qualname__
    return f"{module}.{name}" if module else str(name)


def input_meta(value: Any) -> str:
    """The structural part of an example input: what a compile specializes on."""
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        return (
            f"{dtype}{list(value.shape)} stride={tuple(value.stride())} "
            f"offset={value.storage_offset()} {value.device}"
        )
    if isinstance(value, torch.SymInt):
        return "SymInt"
    if isinstance(value, _PLAIN):
        return f"{type(value).__name__}={value!r}"
    return type(value).__qualname__


def _annotation(node: torch.fx.Node) -> str | None:
    t = node.type
    if t is None:
        return None
    return f"{t.__module__}.{t.__qualname__}" if isinstance(t, type) else str(t)


class _Walker:
    def __init__(self) -> None:
        self.index: dict[torch.fx.Node, int] = {}
        self.sites: list[Site] = []

    def canon(self, value: Any, where: str) -> str:
        if isinstance(value, torch.fx.Node):
            return f"%{self.index[value]}"
        if isinstance(value, str):
            self.sites.append(Site("string constant", where, repr(value)))
            return repr(_DIGITS.sub("#", value))
        if isinstance(value, _PLAIN) or isinstance(value, _REPR_TYPES):
            return repr(value)
        if isinstance(value, slice):
            parts = (value.start, value.stop, value.step)
            return "slice(" + ", ".join(self.canon(p, where) for p in parts) + ")"
        if isinstance(value, tuple):
            return "(" + ", ".join(self.canon(v, where) for v in value) + ",)"
        if isinstance(value, list):
            return "[" + ", ".join(self.canon(v, where) for v in value) + "]"
        if isinstance(value, dict):
            items = sorted(value.items(), key=lambda kv: str(kv[0]))
            return "{" + ", ".join(f"{k!r}: {self.canon(v, where)}" for k, v in items) + "}"
        if value is Ellipsis:
            return "..."
        if isinstance(value, torch.Tensor):
            return f"tensor<{input_meta(value)}>"
        return f"<{type(value).__qualname__}>"


def structure(gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Structure:
    """Fingerprint one piece; ``inputs`` are its example inputs, one per placeholder."""
    walker = _Walker()
    lines: list[str] = []
    placeholders = 0
    for i, node in enumerate(gm.graph.nodes):
        walker.index[node] = i
        if node.op == "placeholder":
            pos = placeholders
            placeholders += 1
            value = inputs[pos] if pos < len(inputs) else None
            lines.append(f"{i} input {input_meta(value)}")
            where = f"input {pos}"
            walker.sites += [
                Site("input name", where, node.name),
                Site("input annotation", where, _annotation(node)),
                Site("requires_grad", where, _requires_grad(value)),
                Site("parameter", where, str(isinstance(value, torch.nn.Parameter))),
            ]
            continue
        if node.op == "output":
            lines.append(f"{i} output {walker.canon(node.args, 'the output')}")
            continue
        walker.sites.append(Site("node name", f"node {i}", node.name))
        label = _node_label(gm, node)
        where = f"{label} (node {i})"
        args = "(" + ", ".join(
            walker.canon(a, f"argument {k} of {where}") for k, a in enumerate(node.args)
        ) + ")"
        kwargs = "{" + ", ".join(
            f"{k}={walker.canon(v, f'keyword {k} of {where}')}"
            for k, v in sorted(node.kwargs.items())
        ) + "}"
        if node.op == "get_attr":
            walker.sites.append(Site("attribute name", where, str(node.target)))
        lines.append(f"{i} {node.op} {label} {args} {kwargs}")
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    return Structure(digest, tuple(walker.sites))


def _requires_grad(value: Any) -> str | None:
    return str(bool(value.requires_grad)) if isinstance(value, torch.Tensor) else None


def _node_label(gm: torch.fx.GraphModule, node: torch.fx.Node) -> str:
    if node.op == "call_module":
        return type(gm.get_submodule(str(node.target))).__qualname__
    if node.op == "get_attr":
        value: Any = gm
        for part in str(node.target).split("."):
            value = getattr(value, part, None)
        return f"attr<{input_meta(value)}>"
    return target_name(node.target)


def differences(structures: Mapping[str, Structure]) -> tuple[Difference, ...]:
    """Sites whose values differ across isomorphic pieces (same fingerprint, aligned sites)."""
    ids = list(structures)
    if len(ids) < 2:
        return ()
    first = structures[ids[0]].sites
    if any(len(structures[i].sites) != len(first) for i in ids):
        return ()
    out: list[Difference] = []
    renamed: list[Difference] = []
    for n, site in enumerate(first):
        values = {pid: structures[pid].sites[n].value for pid in ids}
        if len(set(values.values())) > 1:
            diff = Difference(site.kind, site.where, values)
            (renamed if site.kind == "node name" else out).append(diff)
    if renamed:  # one entry for all renamed intermediate nodes, showing the first
        where = f"{plural(len(renamed), 'intermediate node')}, first at {renamed[0].where}"
        out.append(Difference("node names", where, renamed[0].values))
    return tuple(out)
