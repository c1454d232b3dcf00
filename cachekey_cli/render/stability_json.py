"""JSON report for ``cachekey stability`` (docs/stability.md)."""

from __future__ import annotations

import json
from typing import Any

from cachekey_cli import serialize
from cachekey_cli.stability import StabilityResult


def summary_text(result: StabilityResult) -> str:
    runs = len(result.runs)
    if result.stable:
        return (f"Stable: all {result.keys_compared} keys of {result.pieces} pieces agree "
                f"across {runs} fresh processes with perturbed environments.")
    pieces = len({v.piece for v in result.varying})
    text = f"Unstable: {len(result.varying)} keys of {pieces} pieces vary across {runs} runs"
    if result.culprits:
        text += "; trigger: " + ", ".join(result.culprits)
    elif result.triggers:
        text += "; no single factor reproduces it"
    return text + "."


def to_dict(result: StabilityResult) -> dict[str, Any]:
    return {
        "schema_version": serialize.SCHEMA_VERSION,
        "kind": "stability",
        "tool": serialize.TOOL,
        "model": result.model,
        "runs": [{"label": r.label, "environment": dict(r.values)} for r in result.runs],
        "pieces": result.pieces,
        "keys_compared": result.keys_compared,
        "stable": result.stable,
        "varying": [
            {
                "piece": v.piece,
                "variant": v.variant,
                "kind": v.kind,
                "keys": list(v.keys),
                "components": [{"component": c.name, "values": list(c.values)}
                               for c in v.components],
            }
            for v in result.varying
        ],
        "triggers": [
            {"factor": t.factor, "varies": t.varies, "pieces": list(t.pieces)}
            for t in result.triggers
        ],
        "summary": {
            "verdict": "stable" if result.stable else "unstable",
            "culprits": list(result.culprits),
            "text": summary_text(result),
        },
        "meta": dict(result.meta),
    }


def render(result: StabilityResult, **_: Any) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"
