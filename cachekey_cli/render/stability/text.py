"""Rich and markdown reports for ``cachekey stability``.

Neither shows the temporary folders or random tokens of the runs (those are in
the JSON's ``meta``), so the same outcome prints the same text.
"""

from __future__ import annotations

from typing import Any

from rich.padding import Padding
from rich.text import Text

from cachekey_cli.render.console import finish, make_console
from cachekey_cli.stability.compare import MovedComponent
from cachekey_cli.stability.runner import CONTROL, StabilityResult
from cachekey_cli.wording import plural

LIMIT = 12
VALUE_LIMIT = 400  # characters of one component value; values are already cut to the difference
FRESH = ("each run: fresh cwd, HOME/XDG, TMPDIR and TORCHINDUCTOR_CACHE_DIR folders and a new "
         "value of an unrelated variable")


def _short(value: str | None, width: int) -> str:
    text = "(none)" if value is None else " ".join(value.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _indent(text: Text, left: int) -> Padding:
    """Wrapped lines keep the indent of their first line."""
    return Padding(text, (0, 0, 0, left))


def _values(result: StabilityResult, c: MovedComponent) -> list[tuple[str, str | None]]:
    """Each distinct value once, with the runs that produced it: ``("run 1, run 3", value)``."""
    seen: dict[str | None, list[str]] = {}
    for run, value in zip(result.runs, c.values, strict=False):
        seen.setdefault(value, []).append(run.label)
    return [(", ".join(labels), value) for value, labels in seen.items()]


def _trigger_heading(result: StabilityResult) -> str:
    base, other = result.runs[0].label, result.runs[result.reference].label
    if result.in_process:
        return f"Control: {base}'s environment again, nothing changed:"
    return f"One factor at a time ({base}'s environment with one value from {other}):"


def render_rich(result: StabilityResult, *, color: bool = True, width: int = 100,
                **_: Any) -> str:
    console, buf = make_console(width, color)
    head = Text("cachekey stability ", style="bold")
    head.append(f"{result.model}   {len(result.runs)} fresh processes", style="dim")
    console.print(head)
    seeds = ", ".join(f"{r.values['PYTHONHASHSEED']} ({r.label})" for r in result.runs)
    console.print(_indent(Text(f"PYTHONHASHSEED: {seeds}", style="dim"), 2))
    console.print(_indent(Text(FRESH, style="dim"), 2))
    for v in result.varying[:LIMIT]:
        line = Text(f"{v.piece} ", style="bold")
        line.append(f"[{v.variant}] {v.kind} varies: ", style="red")
        line.append(", ".join(_short(k, 12) for k in v.keys))
        console.print(line)
        for c in v.components[:6]:
            console.print(_indent(Text(c.name, style="bold"), 4))
            for runs, value in _values(result, c):
                row = Text(f"{runs}: ", style="dim")
                row.append(_short(value, VALUE_LIMIT))
                console.print(_indent(row, 6))
    if len(result.varying) > LIMIT:
        rest = len(result.varying) - LIMIT
        console.print(Text(f"… and {plural(rest, 'more varying key')}", "dim"))
    if result.triggers:
        console.print(Text(_trigger_heading(result), style="bold underline"))
        for t in result.triggers:
            style = "bold red" if t.varies else "green"
            verdict = f"keys move ({plural(len(t.pieces), 'piece')})" if t.varies else "no change"
            console.print(_indent(Text(f"{t.factor:<28} {verdict}", style=style), 2))
    console.print(Text(result.sentence(), style="bold green" if result.stable else "bold red"))
    return finish(buf, color)


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
        lines += [f"#### {_trigger_heading(result).rstrip(':')}", "",
                  "| factor changed alone | effect |", "|---|---|"]
        for t in result.triggers:
            name = "nothing (control)" if t.factor == CONTROL else t.factor
            lines.append(f"| {name} | {'**keys move**' if t.varies else 'no change'} |")
        lines.append("")
    lines.append(result.sentence())
    return "\n".join(lines) + "\n"
