"""Markdown report for ``cachekey check --cache`` (a CI job summary or a PR comment)."""

from __future__ import annotations

from typing import Any

from cachekey_cli.cache_hits.records import CacheCheck
from cachekey_cli.render.cache_hits.reasons import (
    inductor_lines,
    own_reasons,
    row_groups,
    shared_heading,
    shared_inductor,
    shared_reason,
)

ICON = {"stale": "❌ stale", "miss": "⚠️ miss", "hit": "✅ hit"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(result: CacheCheck, **_: Any) -> str:
    out = [f"### cachekey check: will the cache hit? `{result.model}`", ""]
    out.append(f"- profile: `{result.profile}`")
    for label, value in result.facts:
        out.append(f"- {label}: {_cell(value)}")
    out.append(f"- snapshot in the cache: {result.snapshot or 'none'}")
    for note in result.notes:
        out.append(f"- note: {_cell(note)}")
    if result.folder:
        out += ["", "**Why the folder differs**", ""] + [f"- {_cell(x)}" for x in result.folder]
    shared, inductor = shared_reason(result), shared_inductor(result)
    if shared or inductor:
        out += ["", f"**{shared_heading(result)}**", ""]
        out += [f"- {_cell(x)}" for x in (shared, inductor) if x]
    out += ["", "| piece | cache | why |", "|---|---|---|"]
    for name, p in row_groups(result):
        word = ICON[p.cache] + (p.label[len(p.cache):] if p.cache != "stale" else "")
        lines = (*own_reasons(p, shared), *inductor_lines(p, inductor), *p.findings)
        why = "<br>".join(_cell(x) for x in lines) or "-"
        out.append(f"| `{name}` | {word} | {why} |")
    out += ["", f"**{result.sentence()}**", ""]
    return "\n".join(out)
