"""Plain-dict forms of the result types, shared by the JSON report and snapshots.

Component values are stored once, in a table keyed by torch's component hash,
because most components (config entries, torch version) repeat in every key.
"""

from __future__ import annotations

from typing import Any

from cachekey_cli import __version__
from cachekey_cli.results import (
    KEY_KINDS,
    Analysis,
    ComponentChange,
    KeyResult,
    Piece,
    VariantKeys,
)

SCHEMA_VERSION = 1
TOOL = {"name": "cachekey", "version": __version__}


def environment(analysis: Analysis) -> dict[str, Any]:
    env = analysis.environment
    return {
        "torch": env.torch,
        "torch_git": env.torch_git,
        "python": env.python,
        "platform": env.platform,
        "devices": list(env.devices),
        "tuple_return": env.tuple_return,
        "mode": analysis.mode,
    }


def model(analysis: Analysis) -> dict[str, Any]:
    m = analysis.model
    return {
        "source": m.source,
        "factory": m.factory,
        "split_ops": list(m.split_ops),
        "split_ops_origin": m.split_ops_origin,
        "matched_ops": list(m.matched_ops),
        "dynamic_dims": list(m.dynamic_dims),
    }


def profile(analysis: Analysis) -> dict[str, Any] | None:
    """Whose compile path the keys were taken on (``None`` for analyses that predate profiles)."""
    info = analysis.profile
    if info is None:
        return None
    return {
        "name": info.name,
        "client": info.client,
        "cache_mode": info.cache_mode,
        "compile_range": info.compile_range,
        "compile_sizes": list(info.compile_sizes),
        "settings": dict(sorted(info.settings.items())),
        "not_reproduced": list(info.not_reproduced),
        "notes": list(info.notes),
        "vllm_version": info.vllm_version,
        "hash_folder": info.hash_folder,
        "aot_compile_folder": info.aot_compile_folder,
        "folder_factors": dict(sorted(info.folder_factors.items())),
    }


def size_keys(p: Piece) -> dict[str, dict[str, str | None]]:
    """vLLM's single-size compiles of a piece: size -> {key kind: key}."""
    return {
        str(size): {kind: v.key(kind).key for kind in ("aot_key", "inductor_key")}
        for size, v in sorted(p.sizes.items())
    }


def graphs(analysis: Analysis) -> list[dict[str, Any]]:
    return [
        {
            "index": g.index,
            "nodes": g.nodes,
            "placeholders": g.placeholders,
            "break_reason": g.break_reason,
            "break_location": g.break_location,
        }
        for g in analysis.graphs
    ]


def variant(v: VariantKeys, values: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "returns_tuple": v.returns_tuple,
        "normalized": v.normalized,
        "output_code": v.output_code,
        "unnormalized_refusal": v.unnormalized_refusal,
    }
    refusals: dict[str, str] = {}
    components: dict[str, dict[str, str]] = {}
    for kind in KEY_KINDS:
        key = v.key(kind)
        out[kind] = key.key
        if key.refusal:
            refusals[kind] = key.refusal
        if key.components:
            components[kind] = component_hashes(key, values)
    out["components"] = components
    out["refusals"] = refusals
    return out


def component_hashes(key: KeyResult, values: dict[str, str]) -> dict[str, str]:
    """Component name → hash; readable values go into the shared ``values`` table."""
    for c in key.components:
        if c.value is not None:
            values.setdefault(c.hash, c.value)
    return {c.name: c.hash for c in key.components}


def piece(p: Piece, values: dict[str, str]) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "graph": p.graph,
        "splitting_op": p.splitting_op,
        "op": p.op,
        "outputs": p.outputs,
        "dynamic_shapes": p.dynamic_shapes,
        "inputs": list(p.inputs),
        "variants": {name: variant(v, values) for name, v in sorted(p.variants.items())},
        "sizes": {str(size): variant(v, values) for size, v in sorted(p.sizes.items())},
    }


def change(c: ComponentChange) -> dict[str, Any]:
    return {
        "component": c.name,
        "before": c.before,
        "after": c.after,
        "before_hash": c.before_hash,
        "after_hash": c.after_hash,
    }
