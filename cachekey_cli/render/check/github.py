"""GitHub Actions workflow commands: one annotation per drifted subgraph.

``::error`` fails-worthy drift, ``::warning`` drift allowed by ``--allow``,
and a closing ``::notice`` with the summary. Values are escaped as the
workflow-command syntax requires, so a component value cannot inject commands.
"""

from __future__ import annotations

from typing import Any

from cachekey_cli.compare.drift import CheckResult


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(result: CheckResult, **_: Any) -> str:
    lines = []
    for s in result.drifted:
        level = "warning" if s.status == "allowed" else "error"
        title = escape_property(f"cachekey {s.status}: {s.id} ({', '.join(s.categories)})")
        body = escape_data("\n".join(s.texts()))  # the title names the subgraph
        lines.append(f"::{level} title={title}::{body}")
    for c in result.context:
        lines.append(f"::notice title=cachekey context::{escape_data(c)}")
    lines.append(f"::notice title=cachekey summary::{escape_data(result.sentence())}")
    return "\n".join(lines) + "\n"
