"""Snapshots: a baseline of every key, built from an Analysis, in a stable JSON form.

Torch-free. The layout is documented in docs/snapshot-format.md. The same
inputs give the same bytes: everything volatile (time, host, absolute paths,
timings) sits in the ``meta`` block, which comparisons never read.

Most key components (hundreds of Inductor config entries, the torch version)
are identical in every key of a kind, so they are stored once per kind under
``shared_components``; each key then lists only the components that differ from
that shared set. Readable values are stored once, keyed by component hash.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cachekey_cli import sources
from cachekey_cli.baseline import serialize
from cachekey_cli.results import KEY_KINDS, VARIANTS, Analysis, KeyResult, Piece

# the snapshot's own schema; the diff report's is serialize.SCHEMA_VERSION
SNAPSHOT_SCHEMA_VERSION = 1
KIND = "cachekey-snapshot"
DEFAULT_VARIANT = "tuple_return"
COMPONENT_KINDS = ("aot_key", "inductor_key")  # graph_hash has no named components


@dataclass(frozen=True)
class SnapPiece:
    """One subgraph as a snapshot records it, for the snapshot's variant."""

    id: str
    graph: int
    name: str
    splitting_op: bool
    op: str | None
    outputs: int
    returns_tuple: bool
    normalized: bool
    output_code: str
    keys: Mapping[str, KeyResult]  # kind -> key with its full component list
    # vLLM single-size compiles: size -> kind -> key (keys only, no components)
    sizes: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()  # input names in order; empty in older snapshots

    def key(self, kind: str) -> KeyResult:
        return self.keys[kind]


@dataclass(frozen=True)
class Snapshot:
    """A validated snapshot. ``label`` names where it came from, for messages."""

    label: str
    schema_version: int
    tool_version: str
    variant: str
    model: Mapping[str, Any]  # name, factory, split_ops, split_ops_origin, matched_ops
    environment: Mapping[str, Any]
    config_overrides: Mapping[str, str]
    normalize_inputs: bool | None
    unique_keys: Mapping[str, Mapping[str, int]]
    pieces: tuple[SnapPiece, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    profile: Mapping[str, Any] = field(default_factory=dict)  # empty: predates profiles
    # (stable file name, sha256 or None) of each file Dynamo traced; () in older snapshots
    traced_files: tuple[tuple[str, str | None], ...] = ()
    # graph index → "reason (file:line in fn)" for graphs that follow a graph break
    breaks: Mapping[int, str] = field(default_factory=dict)
    dynamo_config: Mapping[str, str] = field(default_factory=dict)  # empty in older snapshots

    @property
    def model_id(self) -> str:
        return f"{self.model['name']}:{self.model['factory']}"


def model_name(source: str) -> str:
    """The stable part of a model reference: the file's name, or the dotted module.

    ``hf:`` models keep their prefix: ``hf:ORG/NAME``, or ``hf:`` and the config's folder.
    """
    named = sources.display_name(source)
    if named is not None:
        return named
    target, sep, tail = source.rpartition(":")
    if not (sep and tail.isidentifier() and target):
        target = source
    if target.endswith(".py") or os.sep in target or "/" in target:
        return os.path.basename(target.replace("\\", "/"))
    return target


def build(analysis: Analysis, variant: str = DEFAULT_VARIANT) -> dict[str, Any]:
    """The snapshot dict (without ``meta``) for one variant of an analysis."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}")
    pieces = analysis.pieces
    shared = shared_components(pieces, variant)
    values: dict[str, str] = {}
    subgraphs = [_piece(p, variant, shared, values) for p in pieces]
    # the diff report's model block, with the model's stable name in place of the
    # source path (which may be absolute, so it goes to ``meta``)
    model = serialize.model(analysis)
    model["name"] = model_name(model.pop("source"))
    return {
        "schema_version": SNAPSHOT_SCHEMA_VERSION,
        "kind": KIND,
        "tool": dict(serialize.TOOL),
        "variant": variant,
        "model": model,
        "environment": serialize.environment(analysis),
        "profile": serialize.profile(analysis),
        "config_overrides": dict(sorted(analysis.config_overrides.items())),
        "dynamo_config": dict(sorted(analysis.dynamo_config.items())),
        "normalize_inputs": analysis.normalize_inputs,
        "split": {
            "graphs": len(analysis.graphs),
            "pieces": len(pieces),
            "compiled": sum(1 for p in pieces if not p.splitting_op),
            "ids": [p.id for p in pieces],
            "splitting_ops": [p.id for p in pieces if p.splitting_op],
            # why Dynamo started each graph after the first: a graph break
            "breaks": [
                {"graph": g.index, "reason": g.break_reason, "location": g.break_location}
                for g in analysis.graphs
                if g.break_reason
            ],
        },
        "unique_keys": unique_keys(pieces),
        "shared_components": shared,
        "subgraphs": subgraphs,
        "component_values": dict(sorted(values.items())),
        "traced_files": traced_files(analysis),
    }


def traced_files(analysis: Analysis) -> list[dict[str, str | None]]:
    """The traced files under names that survive a move: relative to the model's folder or
    to the ``sys.path`` entry holding them (e.g. ``torch/nn/modules/linear.py``)."""
    source = analysis.model.source
    target = source.rpartition(":")[0] if ":" in source and not os.path.exists(source) else source
    roots = [os.path.dirname(os.path.abspath(target))] if os.path.isfile(target) else []
    roots += sorted({os.path.abspath(p) for p in sys.path if p}, key=len, reverse=True)
    out: dict[str, str | None] = {}
    for t in analysis.traced_files:
        out.setdefault(stable_name(t.path, roots), t.sha256)
    return [{"file": name, "sha256": digest} for name, digest in sorted(out.items())]


def stable_name(path: str, roots: list[str]) -> str:
    for root in roots:
        if path.startswith(root.rstrip(os.sep) + os.sep):
            return os.path.relpath(path, root).replace(os.sep, "/")
    return path


def unique_keys(pieces: tuple[Piece, ...]) -> dict[str, dict[str, int]]:
    """How many distinct keys each variant produces, per key kind (refusals not counted)."""
    out: dict[str, dict[str, int]] = {}
    for variant in VARIANTS:
        out[variant] = {}
        for kind in KEY_KINDS:
            seen = {p.variants[variant].key(kind).key for p in pieces if variant in p.variants}
            seen.discard(None)
            out[variant][kind] = len(seen)
    return out


def shared_components(pieces: tuple[Piece, ...], variant: str) -> dict[str, dict[str, str]]:
    """Components stored once: under "all" those in every key of every kind, then per kind."""
    per_kind: dict[str, set[tuple[str, str]]] = {}
    for kind in COMPONENT_KINDS:
        common: set[tuple[str, str]] | None = None
        for p in pieces:
            key = p.variants[variant].key(kind)
            if key.key is None or not key.components:
                continue
            pairs = {(c.name, c.hash) for c in key.components}
            common = pairs if common is None else common & pairs
        if common is not None:
            per_kind[kind] = common
    everywhere = set.intersection(*per_kind.values()) if per_kind else set()
    out = {"all": dict(sorted(everywhere))}
    for kind, pairs in per_kind.items():
        out[kind] = dict(sorted(pairs - everywhere))
    return out


def components_for(shared: Mapping[str, Mapping[str, str]], kind: str) -> dict[str, str]:
    """The shared components that every key of ``kind`` carries."""
    return {**shared.get("all", {}), **shared.get(kind, {})}


def _piece(
    p: Piece, variant: str, shared: Mapping[str, Mapping[str, str]], values: dict[str, str]
) -> dict[str, Any]:
    v = p.variants[variant]
    keys: dict[str, str | None] = {}
    refusals: dict[str, str] = {}
    components: dict[str, dict[str, str]] = {}
    for kind in KEY_KINDS:
        key = v.key(kind)
        keys[kind] = key.key
        if key.refusal:
            refusals[kind] = key.refusal
        hashes = serialize.component_hashes(key, values)
        if kind in COMPONENT_KINDS and hashes:
            common = components_for(shared, kind)
            components[kind] = {n: h for n, h in hashes.items() if common.get(n) != h}
    return {
        "id": p.id,
        "graph": p.graph,
        "name": p.name,
        "splitting_op": p.splitting_op,
        "op": p.op,
        "outputs": p.outputs,
        "returns_tuple": v.returns_tuple,
        "normalized": v.normalized,
        "output_code": v.output_code,
        "inputs": list(p.inputs),
        "keys": keys,
        "refusals": refusals,
        "components": components,
        "sizes": serialize.size_keys(p),
    }


def meta(analysis: Analysis, argv: list[str] | None = None) -> dict[str, Any]:
    """The volatile facts: kept apart so that comparisons and byte-equality ignore them."""
    source = analysis.model.source
    target = source.rpartition(":")[0] if ":" in source and not os.path.exists(source) else source
    return {
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(),
        "cwd": os.getcwd(),
        "source": source,
        "model_path": os.path.abspath(target) if os.path.exists(target) else None,
        "argv": list(argv or []),
        "timings": dict(analysis.timings),
        # vLLM 0.33.0's code factor hashes these absolute paths: volatile, so kept here
        "traced_paths": [t.path for t in analysis.traced_files],
    }


def dumps(snapshot: Mapping[str, Any]) -> str:
    """Canonical text: sorted keys, two-space indent, UTF-8, trailing newline."""
    return json.dumps(snapshot, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
