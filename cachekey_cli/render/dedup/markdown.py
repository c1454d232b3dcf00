"""Markdown report for ``cachekey dedup``: for PR comments and step summaries."""

from __future__ import annotations

from typing import Any

from cachekey_cli.dedup.data import summary_text
from cachekey_cli.dedup.key_sharing import DEDUP_KINDS, LABEL, DedupResult


def section(result: DedupResult) -> list[str]:
    lines = [
        "#### Dedup: compile units",
        "",
        "| variant | compiled | structures | "
        + " | ".join(f"unique {LABEL[k]}" for k in DEDUP_KINDS)
        + " | split groups |",
        "|---|---:|---:|" + "---:|" * len(DEDUP_KINDS) + "---:|",
    ]
    for v in result.variants:
        counts = " | ".join(v.kind(k).count() for k in DEDUP_KINDS)
        lines.append(
            f"| {v.variant} | {v.compiled} | {v.structures} | {counts} | {len(v.missed)} |"
        )
    v = result.variant("tuple_return")
    if v.missed:
        lines += ["", "#### Isomorphic pieces that do not share a key (tuple_return)", ""]
        for m in v.missed:
            lines.append(f"- {', '.join(f'`{p}`' for p in m.pieces)}: {m.explanation}")
    if v.structural:
        lines += ["", "#### Pieces built from different modules (tuple_return)", ""]
        lines += [f"- {line}" for line in v.structural]
    setting = {True: "on", False: "off", None: "unavailable"}[result.normalize_inputs]
    lines += ["", f"`autograd_cache_normalize_inputs` {setting} ({result.normalize_source})."]
    if result.effect is not None:
        t = "tuple_return"
        lines[-1] += (
            f" Unique AOT keys with it on: {result.effect.on[t]}, off: {result.effect.off[t]}."
        )
    lines += ["", summary_text(result)]
    return lines


def render(result: DedupResult, **_: Any) -> str:
    a = result.analysis
    lines = [f"### cachekey dedup: `{a.model.source}`", "", f"torch `{a.environment.torch}`", ""]
    lines += section(result)
    if a.warnings:
        lines += ["", "#### Warnings", ""] + [f"- {w}" for w in a.warnings]
    return "\n".join(lines) + "\n"
