"""JSON for ``cachekey dedup`` (docs/dedup.md).

The ``dedup`` section itself is built by the core (``dedup.data.section``);
``section`` stays importable from here for the other reports' renderers.
"""

from __future__ import annotations

import json
from typing import Any

from cachekey_cli.baseline import serialize
from cachekey_cli.dedup.data import section, summary_text
from cachekey_cli.dedup.key_sharing import DedupResult

__all__ = ["render", "section", "summary_text", "to_dict"]


def to_dict(result: DedupResult) -> dict[str, Any]:
    a = result.analysis
    return {
        "schema_version": serialize.SCHEMA_VERSION,
        "kind": "dedup",
        "tool": serialize.TOOL,
        "environment": serialize.environment(a),
        "model": serialize.model(a),
        "config_overrides": dict(sorted(a.config_overrides.items())),
        **section(result),
        "warnings": list(a.warnings),
        "meta": {"timings": dict(a.timings)},
    }


def render(result: DedupResult, **_: Any) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"
