"""JSON report for ``cachekey stability`` (docs/stability.md).

Everything outside ``meta`` depends only on the outcome, so two runs that find
the same thing print the same bytes; wall time, the temporary folders and the
random token of each run's environment are in ``meta``.
"""

from __future__ import annotations

import json
from typing import Any

from cachekey_cli.baseline import serialize
from cachekey_cli.stability.runner import StabilityResult


def to_dict(result: StabilityResult) -> dict[str, Any]:
    search = None
    if result.triggers:
        search = {"base": result.runs[0].label,
                  "values_from": result.runs[result.reference].label}
    return {
        "schema_version": serialize.SCHEMA_VERSION,
        "kind": "stability",
        "tool": serialize.TOOL,
        "model": result.model,
        "runs": [{"label": r.label, "PYTHONHASHSEED": r.values["PYTHONHASHSEED"]}
                 for r in result.runs],
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
        "search": search,
        "triggers": [
            {"factor": t.factor, "varies": t.varies, "pieces": list(t.pieces)}
            for t in result.triggers
        ],
        "summary": {
            "verdict": "stable" if result.stable else "unstable",
            "cause": result.cause,
            "culprits": list(result.culprits),
            "text": result.sentence(),
        },
        "meta": dict(result.meta),
    }


def render(result: StabilityResult, **_: Any) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"
