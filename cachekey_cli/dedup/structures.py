"""Why pieces that are not isomorphic cannot share a compile: the modules each is built from.

A split piece runs from one splitting op to the next, so it holds the end of one layer
and the start of the next. Dynamo records, for every node, the stack of modules it was
traced in (``nn_module_stack``: ``L['self'].layers.3.mlp`` and its class). This names, per
piece, the modules of each layer it touches (``mlp DeepseekV2MoE``), relative to the first
layer in the piece (layer *i*, *i+1*), then compares each kind of piece with the most
common one and says which modules differ: a dense first layer (``mlp DeepseekV2MLP`` vs
``DeepseekV2MoE``), a linear-attention layer next to a full-attention one
(``linear_attn`` vs ``self_attn``). Pieces built from different modules compile once per
kind; nothing in the keys is at fault. Where the modules are the same but the pieces are
not isomorphic, the difference is in the ops (a config value, a dtype), and it says so.
Pure apart from reading the graphs; no printing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cachekey_cli.wording import plural

# ``L['self'].layers.12.mlp`` (Dynamo's source name for a submodule of a numbered layer)
_LAYER_CHILD = re.compile(r"\.(\d+)\.([A-Za-z_]\w*)$")
_ROOT_CHILD = re.compile(r"^L\['self'\]\.([A-Za-z_]\w*)$")


@dataclass(frozen=True)
class Part:
    """A module a piece's nodes were traced in: the child of a numbered layer (``layer`` is
    relative to the piece's first layer), or of the compiled module (``layer`` None)."""

    layer: int | None
    attr: str
    cls: str

    def text(self) -> str:
        where = "" if self.layer is None else f"{_layer_label(self.layer)} "
        return f"{where}{self.attr} ({self.cls})"


@dataclass(frozen=True)
class Kind:
    """Compiled pieces with one structure, in graph order, and what they are built from."""

    fingerprint: str
    pieces: tuple[str, ...]
    parts: tuple[Part, ...]


def parts_of(gm: Any) -> tuple[Part, ...]:
    """The modules a piece was traced in, in order of first use."""
    seen: dict[tuple[int | None, str, str], None] = {}
    first_layer: int | None = None
    for node in gm.graph.nodes:
        stack = node.meta.get("nn_module_stack") if node.op == "call_function" or \
            node.op == "call_method" or node.op == "call_module" else None
        if not stack:
            continue
        for path, cls in stack.values():
            name = getattr(cls, "__name__", str(cls).rsplit(".", 1)[-1].strip("'>"))
            child = _LAYER_CHILD.search(str(path))
            if child:
                index = int(child.group(1))
                first_layer = index if first_layer is None else min(first_layer, index)
                seen.setdefault((index, child.group(2), name), None)
                break
            root = _ROOT_CHILD.match(str(path))
            if root:
                seen.setdefault((None, root.group(1), name), None)
                break
    base = first_layer or 0
    return tuple(Part(None if layer is None else layer - base, attr, cls)
                 for layer, attr, cls in seen)


def kinds(fingerprints: Mapping[str, str], graphs: Mapping[str, Any],
          order: Sequence[str]) -> tuple[Kind, ...]:
    """The compiled pieces (``order``: ids in graph order) grouped by structure."""
    members: dict[str, list[str]] = {}
    for pid in order:
        if pid in fingerprints:
            members.setdefault(fingerprints[pid], []).append(pid)
    return tuple(Kind(fp, tuple(ids), parts_of(graphs[ids[0]])) for fp, ids in members.items())


def reasons(found: Sequence[Kind]) -> tuple[str, ...]:
    """One sentence per kind of piece that differs from the most common kind, naming the
    modules that differ; the first and last pieces (embedding, final norm) said once."""
    if len(found) < 2:
        return ()
    typical = max(found, key=lambda k: (len(k.pieces), -found.index(k)))
    if len(typical.pieces) < 2:
        return ()
    out = []
    ends = []
    built_differently = False
    for kind in found:
        if kind is typical:
            continue
        mine, theirs = set(kind.parts), set(typical.parts)
        only_mine = [p for p in kind.parts if p not in theirs and p.layer is not None]
        only_theirs = [p for p in typical.parts if p not in mine and p.layer is not None]
        outer = [p for p in kind.parts if p.layer is None]
        who = _pieces(kind.pieces)
        if outer and len(kind.pieces) == 1:  # the model's first or last piece
            ends.append(f"{kind.pieces[0]} ({', '.join(p.text() for p in outer)})")
            continue
        if not only_mine and not only_theirs:
            out.append(f"{who} and {_pieces(typical.pieces)} are built from the same "
                       "modules but trace different ops: a per-layer value or shape reaches "
                       "the graph (compare them with cachekey explain on two snapshots)")
            continue
        theirs_word = "the others have" if len(typical.pieces) > 1 else \
            f"{typical.pieces[0]} has"
        differs = []
        for layer in sorted({p.layer for p in (*only_mine, *only_theirs) if p.layer is not None}):
            a = [p for p in only_mine if p.layer == layer]
            b = [p for p in only_theirs if p.layer == layer]
            differs.append(f"{_layer_label(layer)} has {_names(a) or 'no other module'} where "
                           f"{theirs_word} {_names(b) or 'no other module'}")
        out.append(f"{who} {'do' if len(kind.pieces) > 1 else 'does'} not share with "
                   f"{_pieces(typical.pieces)}: {'; '.join(differs)}")
        built_differently = True
    if built_differently:
        out.append("Layers built from different modules compile once per kind: expected, "
                   "and no key is at fault")
    if ends:
        out.append("One of a kind at the ends: " + "; ".join(ends) + ".")
    return tuple(out)


def _layer_label(layer: int) -> str:
    """Layer ``i``, ``i+1``, … relative to the first layer a piece touches."""
    return f"layer i{'' if layer == 0 else f'+{layer}'}"


def _names(parts: Sequence[Part]) -> str:
    return ", ".join(f"{p.attr} ({p.cls})" for p in parts)


def _pieces(ids: Sequence[str]) -> str:
    if len(ids) <= 3:
        return ", ".join(ids)
    return f"{ids[0]} … {ids[-1]} ({plural(len(ids), 'piece')})"
