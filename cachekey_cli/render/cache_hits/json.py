"""JSON report for ``cachekey check --cache`` (docs/cache-hits.md describes the fields).

Every piece object carries ``"cache"``: ``hit``, ``miss`` or ``stale``. Pieces are
listed in the model's order; the human reports put stale pieces first.
"""

from __future__ import annotations

import json
from typing import Any

from cachekey_cli.baseline import serialize
from cachekey_cli.cache_hits.records import WORDS, CacheCheck, PieceCache


def _piece(p: PieceCache) -> dict[str, Any]:
    return {
        "id": p.id,
        "cache": p.cache,
        "label": p.label,
        "place": p.place,
        "reasons": list(p.reasons),
        "unchecked": list(p.unchecked),
        "keys": dict(p.keys),
        "stored": dict(p.stored),
        "guards": [
            {"entry": g.entry, "expr": g.expr, "passed": g.passed, "detail": g.detail}
            for g in p.guards
        ],
        "counters": dict(p.counters),
        "findings": list(p.findings),
        # under a vLLM-level miss: what Inductor's own cache serves (docs/cache-hits.md)
        "inductor_level": p.fallback,
        "inductor_reasons": list(p.fallback_reasons),
        "saved_seconds": p.saved_s,
        # a hit served from memory: the position of the earlier piece whose artifact it reuses
        "reuses": p.reuses,
    }


def to_dict(result: CacheCheck) -> dict[str, Any]:
    return {
        "schema_version": serialize.SCHEMA_VERSION,
        "tool": dict(serialize.TOOL),
        "kind": "check-cache",
        "model": result.model,
        "profile": result.profile,
        "cache": {"path": result.path, "kind": result.kind},
        "facts": dict(result.facts),
        "notes": list(result.notes),
        "folder": list(result.folder),
        "snapshot": result.snapshot,
        "context": list(result.context),
        "pieces": [_piece(p) for p in result.pieces],
        "summary": {
            **{word: result.count(word) for word in WORDS},
            "inductor_levels": result.levels(),
            "reused": sum(1 for p in result.pieces if p.reuses is not None),
            "fail_on": result.fail_on,
            "exit_code": int(result.exit_code),
            "text": result.sentence(),
        },
    }


def render(result: CacheCheck, **_: Any) -> str:
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n"
