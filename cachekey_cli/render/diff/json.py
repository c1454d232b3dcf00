"""JSON report for ``cachekey diff`` (docs/json-format.md)."""

from __future__ import annotations

import json
from typing import Any

from cachekey_cli.baseline import serialize
from cachekey_cli.compare.verdict import piece_verdict, summarize
from cachekey_cli.results import DiffResult


def to_dict(result: DiffResult) -> dict[str, Any]:
    analysis = result.analysis
    values: dict[str, str] = {}
    subgraphs = []
    for pd in result.pieces:
        entry = serialize.piece(pd.piece, values)
        entry["drift"] = [d.kind for d in pd.drift]
        entry["changes"] = {d.kind: [serialize.change(c) for c in d.changes] for d in pd.drift}
        entry["notes"] = {d.kind: d.note for d in pd.drift if d.note}
        entry["explanation"] = pd.explanation
        entry["verdict"] = piece_verdict(pd)
        subgraphs.append(entry)
    summary = summarize(result)
    return {
        "schema_version": serialize.SCHEMA_VERSION,
        "kind": "diff",
        "tool": serialize.TOOL,
        "environment": serialize.environment(analysis),
        "profile": serialize.profile(analysis),
        "model": serialize.model(analysis),
        "config_overrides": dict(sorted(analysis.config_overrides.items())),
        "graphs": serialize.graphs(analysis),
        "subgraphs": subgraphs,
        "warnings": list(analysis.warnings),
        "summary": {
            "pieces": summary.pieces,
            "compiled": summary.compiled,
            "drifted": summary.drifted,
            "drifted_kinds": list(summary.drifted_kinds),
            "normalized": summary.normalized,
            "verdict": "drift" if summary.drifted else "ok",
            "text": summary.sentence(),
        },
        "component_values": dict(sorted(values.items())),
        "meta": {"timings": dict(analysis.timings)},
    }


def render(result: DiffResult, dedup: Any = None, **_: Any) -> str:
    data = to_dict(result)
    if dedup is not None:  # a dedup.DedupResult: the "dedup" section (docs/dedup.md)
        from cachekey_cli.dedup import data as dedup_data

        data["dedup"] = dedup_data.section(dedup)
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
