"""JSON report for ``cachekey check`` / ``explain`` (docs/ci.md describes the fields).

It shares ``schema_version`` and ``tool`` with the other JSON reports (baseline/serialize.py);
the snapshot format has its own, baseline.SNAPSHOT_SCHEMA_VERSION.
"""

from __future__ import annotations

import json
from typing import Any

from cachekey_cli.baseline import serialize
from cachekey_cli.baseline.snapshot import Snapshot
from cachekey_cli.compare.drift import CheckResult


def _side(s: Snapshot) -> dict[str, Any]:
    return {
        "model": f"{s.model['name']}:{s.model['factory']}",
        "variant": s.variant,
        "environment": dict(s.environment),
        "config_overrides": dict(s.config_overrides),
        "subgraphs": len(s.pieces),
        "unique_keys": {k: dict(v) for k, v in s.unique_keys.items()},
    }


def to_dict(result: CheckResult) -> dict[str, Any]:
    return {
        "schema_version": serialize.SCHEMA_VERSION,
        "tool": dict(serialize.TOOL),
        "kind": "check",
        "baseline": _side(result.baseline),
        "current": _side(result.current),
        "allowed": list(result.allowed),
        "context": list(result.context),
        "subgraphs": [
            {
                "id": s.id,
                "status": s.status,
                "categories": list(s.categories),
                "changed_keys": list(s.changed_kinds),
                "findings": [
                    {
                        "category": f.category,
                        "key": f.kind,
                        "component": f.component,
                        "text": f"{s.id} {f.text}",
                    }
                    for f in s.findings
                ],
            }
            for s in result.subgraphs
        ],
        "summary": {
            "verdict": "drift" if result.failing else ("allowed" if result.drifted else "ok"),
            "drifted": len(result.drifted),
            "failing": len(result.failing),
            "categories": list(result.categories),
            "exit_code": int(result.exit_code),
            "text": result.sentence(),
        },
    }


def render(result: CheckResult, **_: Any) -> str:
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n"
