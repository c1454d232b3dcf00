"""Dedup: how many compile units the pieces really make, and why isomorphic pieces don't share.

vLLM compiles each unique piece once. For each variant and key kind this
groups the compiled pieces that share a key, fingerprints every piece's
structure (``fingerprint``), and flags isomorphic pieces that got different
keys, naming what differs in the graphs and in the keys' components. Pure: no
printing, no exits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cachekey_cli.compare.components import component_changes
from cachekey_cli.dedup.explain import DEDUP_KINDS, LABEL, explain, focus
from cachekey_cli.results import VARIANTS, Analysis, ComponentChange, KeyResult, Piece
from cachekey_cli.wording import plural

__all__ = ["DEDUP_KINDS", "LABEL", "DedupResult", "analyse", "normalize_effect"]


@dataclass(frozen=True)
class KeyGroup:
    key: str
    pieces: tuple[str, ...]  # piece ids, in graph order


@dataclass(frozen=True)
class KindDedup:
    kind: str
    groups: tuple[KeyGroup, ...]  # one per unique key
    refused: tuple[str, ...] = ()  # pieces torch gave no key
    bundled: bool = False  # no piece has this key: the AOT entries carry Inductor's output

    @property
    def unique(self) -> int:
        return len(self.groups)

    def count(self) -> str:
        """The number of unique keys, or ``bundled`` where the kind has none of its own."""
        return "bundled" if self.bundled else str(self.unique)


@dataclass(frozen=True)
class MissedShare:
    """Isomorphic pieces that a compile cache still treats as different units."""

    fingerprint: str
    pieces: tuple[str, ...]
    partitions: Mapping[str, tuple[tuple[str, ...], ...]]  # kind -> pieces grouped by key
    shared: tuple[str, ...]  # kinds whose key all the pieces share
    split: tuple[str, ...]  # kinds whose key they don't
    differences: tuple[Any, ...]  # fingerprint.Difference, those the keys can see
    changes: Mapping[str, tuple[ComponentChange, ...]]  # kind -> first group vs second
    compared: tuple[str, str]  # the two pieces ``changes`` compares
    explanation: str


@dataclass(frozen=True)
class VariantDedup:
    variant: str
    pieces: int
    compiled: int
    structures: int  # distinct fingerprints among compiled pieces: the ideal unit count
    kinds: tuple[KindDedup, ...]
    missed: tuple[MissedShare, ...]
    fingerprints: Mapping[str, str] = field(default_factory=dict)  # piece id -> fingerprint
    # why pieces of different structure cannot share: the modules each kind is built from
    # (structures.reasons), and the kinds themselves
    kinds_built: tuple[Any, ...] = ()
    structural: tuple[str, ...] = ()

    def kind(self, name: str) -> KindDedup:
        return next(k for k in self.kinds if k.kind == name)

    def sentence(self) -> str:
        counts = ", ".join(
            f"{LABEL[k]} output bundled into the AOT entries" if self.kind(k).bundled
            else plural(self.kind(k).unique, f"unique {LABEL[k]} key")
            for k in DEDUP_KINDS
        )
        tail = f" ({plural(self.structures, 'distinct structure')}"
        if self.missed:
            tail += f"; {plural(len(self.missed), 'isomorphic group')} split"
        return f"{plural(self.compiled, 'compiled piece')} → {counts}{tail})"


@dataclass(frozen=True)
class NormalizeEffect:
    """Unique AOT keys per variant with autograd_cache_normalize_inputs on and off."""

    on: Mapping[str, int]
    off: Mapping[str, int]


@dataclass(frozen=True)
class DedupResult:
    analysis: Analysis
    variants: tuple[VariantDedup, ...]
    normalize_inputs: bool | None  # the setting in effect while keying (None: torch lacks it)
    normalize_source: str  # "--normalize-inputs", "--no-normalize-inputs" or "torch default"
    effect: NormalizeEffect | None = None

    def variant(self, name: str) -> VariantDedup:
        return next(v for v in self.variants if v.variant == name)

    @property
    def missed(self) -> int:
        """Isomorphic groups that split, in the variant with the most of them."""
        return max((len(v.missed) for v in self.variants), default=0)


def analyse(run: Any, *, with_effect: bool = False) -> DedupResult:
    """Dedup report for a ``pipeline.Run``.

    ``with_effect`` also re-keys every piece with normalization flipped.
    """
    from cachekey_cli import torchapi
    from cachekey_cli.dedup import fingerprint

    analysis: Analysis = run.analysis
    setting = run.overrides.get("functorch", {}).get("autograd_cache_normalize_inputs")
    source = "torch default"
    if setting is not None:
        source = "--normalize-inputs" if setting else "--no-normalize-inputs"
    elif analysis.profile is not None and _profile_sets_normalize(run):
        setting, source = _normalize_setting(run), f"set by the {analysis.profile.name} profile"
    else:
        setting = torchapi.functorch_normalize_inputs_default()
    unsplit = analysis.profile is not None and not _splits(analysis)
    variants = []
    for variant in ("tuple_return",) if unsplit else VARIANTS:
        structures = {
            p.id: fingerprint.structure(raw.gm, raw.inputs)
            for p in analysis.pieces
            if not p.splitting_op and (raw := run.raw.get((p.graph, p.name, variant)))
        }
        graphs = {p.id: raw.gm for p in analysis.pieces
                  if not p.splitting_op and (raw := run.raw.get((p.graph, p.name, variant)))}
        variants.append(_variant(analysis, variant, structures, setting, graphs))
    effect = normalize_effect(run) if with_effect and setting is not None else None
    return DedupResult(analysis, tuple(variants), setting, source, effect)


def _variant(
    analysis: Analysis, variant: str, structures: Mapping[str, Any], normalize: bool | None,
    graphs: Mapping[str, Any] | None = None,
) -> VariantDedup:
    from cachekey_cli.dedup import fingerprint
    from cachekey_cli.dedup import structures as built

    compiled = [p for p in analysis.pieces if not p.splitting_op]
    kinds = tuple(_groups(compiled, variant, kind) for kind in DEDUP_KINDS)
    by_print: dict[str, list[Piece]] = {}
    for p in compiled:
        if p.id in structures:
            by_print.setdefault(structures[p.id].fingerprint, []).append(p)
    missed = []
    for fp, members in by_print.items():
        if len(members) < 2:
            continue
        partitions = {k.kind: _partition(members, variant, k.kind) for k in kinds}
        split = tuple(k for k in DEDUP_KINDS if len(partitions[k]) > 1)
        if not split:
            continue
        diffs = fingerprint.differences({p.id: structures[p.id] for p in members})
        if normalize:  # the AOT key renames placeholders to p_0, p_1, …: names are invisible
            diffs = tuple(d for d in diffs if d.kind != "input name")
        missed.append(_missed(fp, members, variant, partitions, split, diffs, normalize))
    prints = {pid: s.fingerprint for pid, s in structures.items()}
    found = built.kinds(prints, graphs, [p.id for p in compiled]) if graphs else ()
    return VariantDedup(
        variant=variant,
        pieces=len(analysis.pieces),
        compiled=len(compiled),
        structures=len(by_print),
        kinds=kinds,
        missed=tuple(missed),
        fingerprints=prints,
        kinds_built=found,
        structural=built.reasons(found),
    )


def _key(p: Piece, variant: str, kind: str) -> KeyResult:
    return p.variants[variant].key(kind)


def _groups(pieces: list[Piece], variant: str, kind: str) -> KindDedup:
    groups: dict[str, list[str]] = {}
    refused = []
    bundled = bool(pieces)
    for p in pieces:
        key = _key(p, variant, kind)
        bundled = bundled and key.bundled
        if key.key is None:
            refused.append(p.id)
        else:
            groups.setdefault(key.key, []).append(p.id)
    return KindDedup(
        kind, tuple(KeyGroup(k, tuple(ids)) for k, ids in groups.items()), tuple(refused),
        bundled,
    )


def _partition(members: list[Piece], variant: str, kind: str) -> tuple[tuple[str, ...], ...]:
    groups: dict[str | None, list[str]] = {}
    for p in members:
        groups.setdefault(_key(p, variant, kind).key, []).append(p.id)
    return tuple(tuple(ids) for ids in groups.values())


def _missed(
    fp: str,
    members: list[Piece],
    variant: str,
    partitions: Mapping[str, tuple[tuple[str, ...], ...]],
    split: tuple[str, ...],
    diffs: tuple[Any, ...],
    normalize: bool | None,
) -> MissedShare:
    by_id = {p.id: p for p in members}
    first = partitions[split[0]]
    left, right = by_id[first[0][0]], by_id[first[1][0]]
    changes = {
        kind: tuple(
            focus(c)
            for c in component_changes(_key(left, variant, kind), _key(right, variant, kind))
        )
        for kind in split
    }
    # shared means one real key for all of them; no key at all (a refusal, or Inductor's
    # output bundled into the AOT entry) is not sharing
    shared = tuple(
        k for k in DEDUP_KINDS
        if k not in split and all(_key(p, variant, k).key is not None for p in members)
    )
    text = explain(
        tuple(by_id), partitions, shared, split, diffs, changes, (left.id, right.id), normalize
    )
    return MissedShare(
        fp, tuple(by_id), partitions, shared, split, diffs, changes, (left.id, right.id), text
    )


def normalize_effect(run: Any) -> NormalizeEffect:
    """Re-key every compiled piece's AOT key with the normalization setting flipped."""
    current = _normalize_setting(run)
    counts: dict[bool, dict[str, int]] = {}
    variants = VARIANTS if _splits(run.analysis) else ("tuple_return",)
    for flag in (True, False):
        if flag == current:
            counts[flag] = analyse_counts(run.analysis)
        else:
            counts[flag] = {v: _rekeyed_unique(run, v, flag) for v in variants}
    return NormalizeEffect(on=counts[True], off=counts[False])


def _splits(analysis: Analysis) -> bool:
    return analysis.profile is None or analysis.profile.name != "torch-compile"


def _profile_sets_normalize(run: Any) -> bool:
    return any(
        raw.setting is not None and "autograd_cache_normalize_inputs" in raw.setting.functorch
        for raw in run.raw.values()
    )


def _normalize_setting(run: Any) -> bool:
    """The autograd_cache_normalize_inputs the pieces were keyed with."""
    from cachekey_cli import torchapi

    for raw in run.raw.values():
        if raw.setting is not None and "autograd_cache_normalize_inputs" in raw.setting.functorch:
            return bool(raw.setting.functorch["autograd_cache_normalize_inputs"])
    return bool(torchapi.functorch_normalize_inputs_default())


def analyse_counts(analysis: Analysis) -> dict[str, int]:
    compiled = [p for p in analysis.pieces if not p.splitting_op]
    return {v: _groups(compiled, v, "aot_key").unique for v in VARIANTS}


def _rekeyed_unique(run: Any, variant: str, normalize: bool) -> int:
    import dataclasses

    import torch

    from cachekey_cli import torchapi

    keys = set()
    with (
        torch.inference_mode(run.analysis.mode == "inference"),
        torchapi.config_patched(run.overrides.get("inductor"), run.overrides.get("functorch")),
    ):
        for p in run.analysis.pieces:
            raw = run.raw.get((p.graph, p.name, variant))
            if p.splitting_op or raw is None:
                continue
            gm = raw.gm
            if not torchapi.graph_returns_tuple(gm):
                gm = torchapi.normalize_return(gm, raw.inputs)
            flags = {**raw.setting.functorch, "autograd_cache_normalize_inputs": normalize}
            setting = dataclasses.replace(raw.setting, functorch=flags)
            key = torchapi.aot_key(gm, raw.inputs, setting).key
            if key is not None:
                keys.add(key)
    return len(keys)

