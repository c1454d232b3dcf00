"""Markdown report for ``cachekey check`` / ``explain``: PR comments and step summaries."""

from __future__ import annotations

from typing import Any

from cachekey_cli.compare.drift import CheckResult

ICON = {"same": "same", "drift": "**drift**", "allowed": "allowed", "added": "**added**",
        "removed": "**removed**", "not compiled": "not compiled"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(result: CheckResult, **_: Any) -> str:
    old, new = result.baseline, result.current
    verdict = "fails" if result.failing else "passes"
    lines = [
        f"### cachekey check: `{new.model['name']}:{new.model['factory']}` {verdict}",
        "",
        f"baseline torch `{old.environment['torch']}` · current torch "
        f"`{new.environment['torch']}` · variant `{new.variant}`"
        + (f" · allowed: {', '.join(result.allowed)}" if result.allowed else ""),
        "",
        "| subgraph | status | categories | keys changed |",
        "|---|---|---|---|",
    ]
    for s in result.subgraphs:
        lines.append(
            f"| `{s.id}` | {ICON.get(s.status, s.status)} | {', '.join(s.categories) or '—'} | "
            f"{', '.join(s.changed_kinds) or '—'} |"
        )
    if result.context:
        lines += ["", "#### What changed around the model", ""]
        lines += [f"- {_cell(c)}" for c in result.context]
    if result.drifted:
        lines += ["", "#### Why keys changed", ""]
        for s in result.drifted:
            for line in s.lines():
                lines.append(f"- `{_cell(line)}`" if "`" not in line else f"- {_cell(line)}")
    lines += ["", result.sentence(), ""]
    return "\n".join(lines)
