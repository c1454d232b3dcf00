"""The dedup section as plain data: what ``dedup --format json``, ``diff`` and snapshots carry.

Part of the core (renderers and ``cli/baseline.py`` call it, never the other
way round); docs/dedup.md describes the shape. Pure: plain dicts, no torch.
"""

from __future__ import annotations

from typing import Any

from cachekey_cli.baseline import serialize
from cachekey_cli.dedup.key_sharing import (
    DEDUP_KINDS,
    DedupResult,
    MissedShare,
    VariantDedup,
    analyse,
)


def _difference(d: Any) -> dict[str, Any]:
    return {"kind": d.kind, "where": d.where, "values": dict(d.values)}


def _missed(m: MissedShare) -> dict[str, Any]:
    return {
        "fingerprint": m.fingerprint,
        "pieces": list(m.pieces),
        "shared": list(m.shared),
        "split": list(m.split),
        "partitions": {k: [list(g) for g in groups] for k, groups in m.partitions.items()},
        "differences": [_difference(d) for d in m.differences],
        "compared": list(m.compared),
        "changes": {k: [serialize.change(c) for c in cs] for k, cs in m.changes.items()},
        "explanation": m.explanation,
    }


def _variant(v: VariantDedup) -> dict[str, Any]:
    return {
        "pieces": v.pieces,
        "compiled": v.compiled,
        "structures": v.structures,
        "unique": {k: v.kind(k).unique for k in DEDUP_KINDS},
        "refused": {k: list(v.kind(k).refused) for k in DEDUP_KINDS},
        "bundled": [k for k in DEDUP_KINDS if v.kind(k).bundled],
        "groups": {
            k: [{"key": g.key, "pieces": list(g.pieces)} for g in v.kind(k).groups]
            for k in DEDUP_KINDS
        },
        "fingerprints": dict(sorted(v.fingerprints.items())),
        "missed": [_missed(m) for m in v.missed],
        "kinds": [{"pieces": list(k.pieces), "fingerprint": k.fingerprint,
                   "built_from": [p.text() for p in k.parts]} for k in v.kinds_built],
        "structural": list(v.structural),
        "text": v.sentence(),
    }


def section(result: DedupResult) -> dict[str, Any]:
    """The part shared by ``dedup``, ``diff`` and ``snapshot`` reports."""
    effect = None
    if result.effect is not None:
        effect = {"on": dict(result.effect.on), "off": dict(result.effect.off)}
    return {
        "normalize_inputs": {
            "effective": result.normalize_inputs,
            "source": result.normalize_source,
            "unique_aot_keys": effect,
        },
        "variants": {v.variant: _variant(v) for v in result.variants},
        "summary": {
            "missed": {v.variant: len(v.missed) for v in result.variants},
            "verdict": "missed" if result.missed else "ok",
            "text": summary_text(result),
        },
    }


def summary_text(result: DedupResult) -> str:
    sentences = {v.variant: v.sentence() for v in result.variants}
    if len(set(sentences.values())) == 1:
        return f"{next(iter(sentences.values()))}, in both variants."
    return "; ".join(f"{name}: {text}" for name, text in sentences.items()) + "."


def summary_dict(run: Any) -> dict[str, Any]:
    """The dedup section as plain data, for ``diff --format json`` and snapshots."""
    return section(analyse(run))
