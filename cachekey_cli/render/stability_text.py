"""Rich and markdown reports for ``cachekey stability``."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.text import Text

from cachekey_cli.render.stability_json import summary_text
from cachekey_cli.stability import StabilityResult

LIMIT = 12


def _short(value: str | None, width: int) -> str:
    text = "(none)" if value is None else " ".join(value.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_rich(result: StabilityResult, *, color: bool = True, width: int = 100,
                **_: Any) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color,
                      color_system="truecolor" if color else None, no_color=not color,
                      highlight=False, emoji=False)
    head = Text("cachekey stability ", style="bold")
    head.append(f"{result.model}   {len(result.runs)} fresh processes", style="dim")
    console.print(head)
    for r in result.runs:
        seed = r.values["PYTHONHASHSEED"]
        console.print(Text(f"  {r.label}: PYTHONHASHSEED={seed}, cwd/HOME/XDG/TMPDIR/"
                           "TORCHINDUCTOR_CACHE_DIR in fresh folders, unrelated var set",
                           style="dim"))
    for v in result.varying[:LIMIT]:
        line = Text(f"{v.piece} ", style="bold")
        line.append(f"[{v.variant}] {v.kind} varies: ", style="red")
        line.append(", ".join(_short(k, 12) for k in v.keys))
        console.print(line)
        for c in v.components[:6]:
            console.print(Text(f"    {c.name}: " + "  |  ".join(
                _short(x, max(30, (width - 20) // max(1, len(c.values)))) for x in c.values)))
    if len(result.varying) > LIMIT:
        console.print(Text(f"… and {len(result.varying) - LIMIT} more varying keys", "dim"))
    if result.triggers:
        console.print(Text("One factor at a time (against run 1):", style="bold underline"))
        for t in result.triggers:
            style = "bold red" if t.varies else "green"
            verdict = f"keys move ({len(t.pieces)} pieces)" if t.varies else "no change"
            console.print(Text(f"  {t.factor:<28} {verdict}", style=style))
    console.print(Text(summary_text(result), style="bold green" if result.stable else "bold red"))
    return buf.getvalue()


def render_markdown(result: StabilityResult, **_: Any) -> str:
    lines = [f"### cachekey stability: `{result.model}`", "",
             f"{len(result.runs)} fresh processes, each with its own PYTHONHASHSEED, working "
             "directory, HOME/XDG dirs, TMPDIR, TORCHINDUCTOR_CACHE_DIR and an unrelated "
             "environment variable.", ""]
    if result.varying:
        lines += ["| piece | variant | key | varying components |", "|---|---|---|---|"]
        for v in result.varying:
            comps = ", ".join(f"`{c.name}`" for c in v.components[:6]) or "—"
            lines.append(f"| `{v.piece}` | {v.variant} | {v.kind} | {comps} |")
        lines.append("")
    if result.triggers:
        lines += ["| factor changed alone | effect |", "|---|---|"]
        for t in result.triggers:
            lines.append(f"| {t.factor} | {'**keys move**' if t.varies else 'no change'} |")
        lines.append("")
    lines.append(summary_text(result))
    return "\n".join(lines) + "\n"
