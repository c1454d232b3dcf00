"""Terminal report for ``cachekey check`` / ``explain``: header, one row per subgraph, the why.

Laid out to read at 100 columns; with ``color=False`` it is plain text.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cachekey_cli.baseline.snapshot import Snapshot
from cachekey_cli.compare.drift import CheckResult
from cachekey_cli.render.console import finish, make_console

STATUS_STYLE = {
    "same": "green",
    "drift": "bold red",
    "added": "bold red",
    "removed": "bold red",
    "allowed": "yellow",
    "not compiled": "dim",
}


def _env(s: Snapshot) -> str:
    e = s.environment
    git = f" ({str(e['torch_git'])[:10]})" if e.get("torch_git") else ""
    return f"torch {e['torch']}{git}  python {e['python']}  {e['platform']}"


def _header(result: CheckResult) -> Panel:
    old, new = result.baseline, result.current
    left, right = ("old", "new") if result.command == "explain" else ("baseline", "current")
    t = Text()
    t.append("model     ", style="dim")
    t.append(f"{new.model_id}", style="bold")
    t.append(f"  variant {new.variant}\n")
    t.append(f"{left:<10}", style="dim")
    t.append(f"{_env(old)}  ({len(old.pieces)} subgraphs)\n")
    t.append(f"{right:<10}", style="dim")
    t.append(f"{_env(new)}  ({len(new.pieces)} subgraphs)")
    for label, s in (("overrides ", old), ("          ", new)):
        if old.config_overrides or new.config_overrides:
            side = left if s is old else right
            items = ", ".join(f"{k}={v}" for k, v in sorted(s.config_overrides.items()))
            t.append(f"\n{label}", style="dim")
            t.append(f"{side}: {items or 'none'}")
    if result.allowed:
        t.append("\nallowed   ", style="dim")
        t.append(", ".join(result.allowed), style="yellow")
    title = f"[bold]cachekey {result.command}[/] {left} vs {right}"
    return Panel(t, title=title, box=box.ROUNDED)


def _table(result: CheckResult) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("subgraph", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("categories")
    table.add_column("keys changed")
    for s in result.subgraphs:
        table.add_row(
            Text(s.id, style="bold" if s.drifted else ""),
            Text(s.status, style=STATUS_STYLE.get(s.status, "")),
            Text(", ".join(s.categories) or "-", style="" if s.categories else "dim"),
            Text(", ".join(s.changed_kinds) or "-", style="" if s.changed_kinds else "dim"),
        )
    return table


def render(result: CheckResult, *, color: bool = True, width: int = 100, **_: Any) -> str:
    console, buf = make_console(width, color)
    console.print(_header(result))
    console.print(_table(result))
    if result.context:
        console.print(Text("What changed around the model", style="bold underline"))
        for c in result.context:
            console.print(Text(f"  {c}"))
    if result.drifted:
        if result.context:
            console.print()
        console.print(Text("Why keys changed", style="bold underline"))
        for s in result.drifted:
            style = "yellow" if s.status == "allowed" else "red"
            head = Text(s.id, style="bold")
            head.append(f"  {s.status}: {', '.join(s.categories)}", style=style)
            console.print(head)
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=3)
            grid.add_column(no_wrap=True, style="dim")
            grid.add_column(overflow="fold")
            for f in s.findings:
                grid.add_row("", Text(f"[{f.category}]"), Text(f.text))
            console.print(grid)
    style = "bold red" if result.failing else ("bold yellow" if result.drifted else "bold green")
    console.print(Text(result.sentence(), style=style))
    return finish(buf, color)
