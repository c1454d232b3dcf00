"""JSON reports for ``cachekey vllm-cache inspect`` and ``diff`` (docs/vllm-cache.md)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from cachekey_cli.baseline.serialize import TOOL
from cachekey_cli.vllm.cache_diff.compare import ABSENT, FolderDiff, VllmCacheDiff
from cachekey_cli.vllm.identity.code_check import CodeCheck
from cachekey_cli.vllm.records import Deployment, PrefixFolder

SCHEMA_VERSION = 1


def _folder(f: PrefixFolder) -> dict[str, Any]:
    facts = f.factors
    return {
        "hash": f.hash, "rank": f.rank, "prefix": f.prefix, "path": f.path,
        "name_matches_factors": f.name_matches,
        "factors": {
            "path": facts.path, "layout": facts.layout, "folder_hash": facts.folder_hash,
            "env_hash": facts.env_hash, "env_variables": len(facts.env),
            "env": dict(sorted(facts.env.items())),
            "config_hash": facts.config_hash, "compiler_hash": facts.compiler_hash,
            "code_hash": facts.code_hash,
            "code": None if facts.code is None else [asdict(e) for e in facts.code],
        },
        "files": dict(sorted(f.files.items())),
        "index": [asdict(e) for e in f.index],
        "artifacts": [asdict(a) for a in f.artifacts],
        "notes": list(f.notes),
    }


def _checks(checks: tuple[CodeCheck, ...]) -> list[dict[str, Any]]:
    return [{**asdict(c), "matches": c.matches} for c in checks]


def deployment(d: Deployment) -> dict[str, Any]:
    return {
        "path": d.path, "path_kind": d.kind,
        "folders": [_folder(f) for f in d.folders],
        "aot_models": [asdict(m) for m in d.aot_models],
        "notes": list(d.notes),
    }


def render_inspect(d: Deployment, *, checks: tuple[CodeCheck, ...] = (), **_: Any) -> str:
    doc = {"schema_version": SCHEMA_VERSION, "kind": "cachekey-vllm-cache-inspect",
           "tool": dict(TOOL), **deployment(d), "code_checks": _checks(checks)}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _env_value(v: Any) -> dict[str, Any]:
    return {"present": False} if v is ABSENT else {"present": True, "value": v}


def folder_diff(f: FolderDiff) -> dict[str, Any]:
    return {
        "rank": f.a.rank or f.b.rank, "prefix": f.a.prefix or f.b.prefix,
        "folder": {"a": f.a.hash or f.a.factors.folder_hash,
                   "b": f.b.hash or f.b.factors.folder_hash, "differs": f.folder_differs},
        "env": [{"name": e.name, "a": _env_value(e.before), "b": _env_value(e.after)}
                for e in f.env],
        "factors": [asdict(c) for c in f.factors],
        "torch_keys": list(f.torch_keys) if f.torch_keys else None,
        "differs": f.differs,
    }


def render_diff(r: VllmCacheDiff, *, checks: tuple[tuple[CodeCheck, ...], ...] = (),
                **_: Any) -> str:
    doc = {
        "schema_version": SCHEMA_VERSION, "kind": "cachekey-vllm-cache-diff", "tool": dict(TOOL),
        "a": {"path": r.a.path, "path_kind": r.a.kind},
        "b": {"path": r.b.path, "path_kind": r.b.kind},
        "differs": r.differs, "exit_code": int(r.exit_code),
        "folders": [folder_diff(f) for f in r.folders],
        "only_in_a": [_folder(f) for f in r.only_a], "only_in_b": [_folder(f) for f in r.only_b],
        "aot_models": [
            {"rank": d.a.rank, "a": d.a.hash, "b": d.b.hash, "differs": d.differs,
             "sources": [asdict(c) for c in d.sources], "system": [asdict(c) for c in d.system],
             "forward": [asdict(c) for c in d.forward]}
            for d in r.aot
        ],
        "aot_only_in_a": [m.hash for m in r.aot_only_a],
        "aot_only_in_b": [m.hash for m in r.aot_only_b],
        "pitfalls": [asdict(p) for p in r.pitfalls],
        "warm_start": asdict(r.warm_start) if r.warm_start is not None else None,
        "code_checks": {side: _checks(c) for side, c in zip("ab", checks, strict=False)},
    }
    return json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"
