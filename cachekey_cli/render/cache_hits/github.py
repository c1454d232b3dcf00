"""GitHub Actions workflow commands for ``check --cache``: an annotation per piece that misses."""

from __future__ import annotations

from typing import Any

from cachekey_cli.cache_hits.records import CacheCheck
from cachekey_cli.render.cache_hits.reasons import inductor_lines
from cachekey_cli.render.check.github import escape_data, escape_property


def render(result: CacheCheck, **_: Any) -> str:
    lines = []
    for p in result.ordered:
        if p.cache == "hit":
            continue
        level = "error" if p.cache == "stale" else "warning"
        title = escape_property(f"cachekey cache {p.label}: {p.id}")
        body = escape_data("\n".join((*p.reasons, *inductor_lines(p), *p.findings)))
        lines.append(f"::{level} title={title}::{body}")
    for note in result.notes:
        lines.append(f"::notice title=cachekey note::{escape_data(note)}")
    lines.append(f"::notice title=cachekey summary::{escape_data(result.sentence())}")
    return "\n".join(lines) + "\n"
