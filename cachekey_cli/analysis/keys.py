"""Key every piece: graph hash, AOTAutograd cache key and Inductor FX-graph key.

A piece is keyed exactly as the profile's client compiles it, in the
``KeySetting`` the split attached to it: a plain-variant piece that returns a
bare value first gets compile_fx's own ``make_graph_return_tuple`` rewrite; a
whole Dynamo graph (torch.compile) is keyed by running ``compile_fx`` itself.
Splitting-op pieces are not compiled in vLLM's piecewise scheme, so they get a
graph hash only.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import time
from typing import Any

import torch.fx

from cachekey_cli import torchapi
from cachekey_cli.analysis.split import RawPiece, return_line
from cachekey_cli.results import Component, KeyResult, VariantKeys

NOT_COMPILED = "splitting op: runs outside the compiled pieces, never compiled"


def graph_hash(gm: torch.fx.GraphModule) -> KeyResult:
    """sha256 of the graph's generated Python code, in torch's base32 style.

    The code is generated afresh from the graph: ``make_graph_return_tuple``
    rewrites the graph without recompiling, so ``gm.code`` would be stale.
    """
    code = gm.graph.python_code(root_module="self").src
    digest = base64.b32encode(hashlib.sha256(code.encode()).digest()).decode().lower()
    return KeyResult("graph_hash", "g" + digest[:51])


class Keyer:
    """Keys pieces; reuses Inductor-key work for pieces torch itself treats as identical.

    Two pieces with the same AOTAutograd key share the graph, the input
    metadata and every config that reaches Inductor (the AOT key covers all of
    them), and a real compile would serve the second from the AOTAutograd cache
    entry of the first. So the Inductor key is computed once per AOT key.
    Likewise the AOT key's per-component debug lines are built once per AOT
    key (torch's own hash of everything the components describe), and a piece
    whose two variants are provably identical (``_piece_identity``) is keyed
    once. Settings travel with each piece; the user's config overrides must stay the
    same for the life of a Keyer, as in pipeline.run.
    """

    def __init__(self, memo: bool = True) -> None:
        self.memo = memo  # False keys every piece from scratch (tests compare the two)
        self._inductor_by_aot: dict[str, KeyResult] = {}
        self._aot_components: dict[str, tuple[Component, ...]] = {}
        self._shapes_seen: set[tuple[Any, ...]] = set()  # only steers work, never a key
        self._by_piece: dict[tuple[Any, ...], tuple[RawPiece, dict[str, Any], VariantKeys]] = {}
        self.inductor_computed = 0
        self.inductor_reused = 0
        self.pieces_shared = 0  # pieces keyed once for both variants (see _piece_identity)
        # Seconds per AOT key and per computed Inductor key, in order (for --verbose / bench).
        self.aot_seconds: list[float] = []
        self.inductor_seconds: list[float] = []

    def key_piece(self, piece: RawPiece, variant: str) -> VariantKeys:
        if not self.memo or piece.splitting_op:
            return self._key_piece(piece, variant)
        identity = _piece_identity(piece)
        state = _module_state(piece.gm)  # before keying: torch's key functions add attributes
        seen = self._by_piece.get(identity)
        if seen is not None and _equal_state(seen[1], state):
            self.pieces_shared += 1
            return dataclasses.replace(seen[2], variant=variant)
        result = self._key_piece(piece, variant)
        self._by_piece[identity] = (piece, state, result)  # the piece keeps the ids valid
        return result

    def _key_piece(self, piece: RawPiece, variant: str) -> VariantKeys:
        gm = piece.gm
        returns_tuple = torchapi.graph_returns_tuple(gm)
        if piece.splitting_op:  # never reaches compile_fx, so never normalized
            return VariantKeys(
                variant,
                returns_tuple,
                False,
                graph_hash(gm),
                KeyResult("aot_key", None, refusal=NOT_COMPILED),
                KeyResult("inductor_key", None, refusal=NOT_COMPILED),
                return_line(gm),
            )
        if piece.setting.entry == "compile_fx":  # a whole Dynamo graph: compile_fx keys it
            start = time.perf_counter()
            with torchapi.scope(piece.setting):
                aot, inductor = torchapi.compile_fx_keys(gm, piece.inputs)
            self.aot_seconds.append(time.perf_counter() - start)
            return VariantKeys(
                variant, returns_tuple, False, graph_hash(gm), aot, inductor, return_line(gm)
            )
        keyed = gm if returns_tuple else torchapi.normalize_return(gm, piece.inputs)
        ghash = graph_hash(keyed)
        start = time.perf_counter()
        shape = _rough_shape(keyed, piece)
        likely = shape in self._shapes_seen
        self._shapes_seen.add(shape)
        known = self._aot_components if self.memo else None
        aot = torchapi.aot_key(keyed, piece.inputs, piece.setting, known, likely_known=likely)
        self.aot_seconds.append(time.perf_counter() - start)
        inductor = self._inductor(gm, piece, aot)
        refusal = (
            None
            if returns_tuple
            else torchapi.standalone_key_refusal(gm, piece.inputs, piece.setting)
        )
        return VariantKeys(
            variant,
            returns_tuple,
            not returns_tuple,
            ghash,
            aot,
            inductor,
            return_line(keyed),
            refusal,
        )

    def _inductor(self, gm: torch.fx.GraphModule, piece: RawPiece, aot: KeyResult) -> KeyResult:
        if self.memo and aot.key is not None and aot.key in self._inductor_by_aot:
            self.inductor_reused += 1
            return self._inductor_by_aot[aot.key]
        # The unnormalized graph on purpose: compile_fx normalizes it itself.
        start = time.perf_counter()
        result = torchapi.inductor_key(gm, piece.inputs, piece.setting)
        self.inductor_seconds.append(time.perf_counter() - start)
        self.inductor_computed += 1
        if aot.key is not None:
            self._inductor_by_aot[aot.key] = result
        return result


def _piece_identity(piece: RawPiece) -> tuple[Any, ...]:
    """What a compile of the piece depends on, short of the config (one Keyer, one config).

    The generated code, every node's op, name and target object (so the code's
    globals are the same objects), and the very same example-input objects (so
    the same metadata, symbolic shapes included). The plain and tuple_return
    variants of a piece that already returns a tuple match; nothing else does.
    """
    gm = piece.gm
    nodes = tuple(
        (n.op, n.name, n.target if isinstance(n.target, str) else id(n.target))
        for n in gm.graph.nodes
    )
    # GraphModule makes a class per instance; torch pickles the class name.
    cls = (type(gm).__name__, type(gm).__bases__)
    code = gm.graph.python_code(root_module="self").src  # gm.code would realize a lazy piece
    return (cls, code, nodes, tuple(id(x) for x in piece.inputs), id(piece.setting))


def _rough_shape(gm: torch.fx.GraphModule, piece: RawPiece) -> tuple[Any, ...]:
    """Ops and input metadata, names aside: a guess at "same AOT key as an earlier piece".

    Only decides whether to try the cheap key-alone call first; keys never depend on it.
    """
    ops = tuple(
        (n.op, n.target if isinstance(n.target, str) else id(n.target))
        for n in gm.graph.nodes
        if n.op != "placeholder"
    )
    meta = tuple(
        # str: a symbolic size (SymInt) is not hashable
        (str(tuple(x.shape)), str(x.dtype)) if isinstance(x, torch.Tensor) else type(x).__name__
        for x in piece.inputs
    )
    return ops, meta


def _module_state(gm: torch.fx.GraphModule) -> dict[str, Any]:
    """The rest of what torch pickles for a GraphModule: its __dict__ but the graph."""
    return {
        k: copy.copy(v) if isinstance(v, (dict, list, set)) else v
        for k, v in vars(gm).items()
        if k != "_graph"
    }


def _equal_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    try:
        return a.keys() == b.keys() and all(bool(a[k] == b[k]) for k in a)
    except Exception:  # e.g. a tensor in meta: no cheap proof, so no sharing
        return False
