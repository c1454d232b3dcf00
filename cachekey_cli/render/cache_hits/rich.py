"""Terminal report for ``cachekey check --cache``: the cache, one row per piece, then why.

Stale pieces come first, in red: the client would run code compiled for
something else. With ``color=False`` it is plain text.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cachekey_cli.cache_hits.records import CacheCheck, PieceCache
from cachekey_cli.render.cache_hits.reasons import (
    inductor_lines,
    own_reasons,
    row_groups,
    shared_heading,
    shared_inductor,
    shared_reason,
)
from cachekey_cli.render.console import finish, make_console

STYLE = {"stale": "bold red", "miss": "yellow", "hit": "green"}


def _header(result: CacheCheck) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")  # a long value wraps under itself, not under the label
    model = Text(result.model, style="bold")
    model.append(f"  profile {result.profile}", style="")
    grid.add_row("model", model)
    for label, value in result.facts:
        grid.add_row(label, Text(value))
    grid.add_row("snapshot", Text(result.snapshot or "none in the cache (bake one with "
                                  "`cachekey snapshot MODEL --into CACHE`)"))
    return Panel(grid, title="[bold]cachekey check[/] will the cache hit?", box=box.ROUNDED)


def _hanging(label: str, lines: Any, style: str = "") -> Table:
    """``label`` then each line, wrapped lines indented under the first."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style=style)
    grid.add_column(overflow="fold", style=style)
    for i, line in enumerate(lines):
        body = line.lstrip(" ")  # a line's own indent stays, and its wrapped lines keep it
        grid.add_row(label if i == 0 else "", Padding(Text(body), (0, 0, 0, len(line) - len(body))))
    return grid


def _table(result: CacheCheck, shared: str | None, inductor: str | None) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("piece", no_wrap=True)
    table.add_column("cache", no_wrap=True)
    table.add_column("why")
    for name, p in row_groups(result):
        reasons = own_reasons(p, shared) + inductor_lines(p, inductor)
        table.add_row(Text(name, style="bold" if p.cache != "hit" else ""),
                      Text(p.label, style=STYLE[p.cache]), Text(reasons[0] if reasons else "-"))
    return table


def _details(p: PieceCache, shared: str | None, inductor: str | None) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=3)
    grid.add_column(overflow="fold")
    for line in own_reasons(p, shared):
        grid.add_row("", Text(line))
    for line in inductor_lines(p, inductor):
        grid.add_row("", Text(line))
    for g in p.guards:
        verdict = {True: "holds", False: "fails", None: "not checked"}[g.passed]
        text = f"guards of entry {g.entry[:12]}…: {verdict}"
        if g.detail:
            text += f" ({g.detail})"
        grid.add_row("", Text(text, style="dim" if g.passed else ""))
    for u in p.unchecked:
        grid.add_row("", Text(f"not checked: {u}", style="yellow"))
    for f in p.findings:
        grid.add_row("", Text(f))
    return grid


def render(result: CacheCheck, *, color: bool = True, width: int = 100, **_: Any) -> str:
    console, buf = make_console(width, color)
    console.print(_header(result))
    for note in result.notes:
        console.print(_hanging("note:", [note], style="yellow"))
    if result.folder:
        console.print(Text("Why the folder differs", style="bold underline"))
        console.print(_hanging(" ", result.folder))
    shared, inductor = shared_reason(result), shared_inductor(result)
    if shared or inductor:
        console.print(Text(shared_heading(result), style="bold underline"))
        console.print(_hanging(" ", [x for x in (shared, inductor) if x]))
    console.print(_table(result, shared, inductor))
    if result.context:
        console.print(Text("What changed around the model (against the snapshot in the cache)",
                           style="bold underline"))
        console.print(_hanging(" ", result.context))
    # the table shows each piece's first reason: list the pieces that have more to say
    shown = [p for p in result.ordered if p.unchecked or p.guards or p.findings
             or len(own_reasons(p, shared)) + len(inductor_lines(p, inductor)) > 1]
    if shown:
        if result.context:
            console.print()
        console.print(Text("Piece by piece", style="bold underline"))
        for p in shown:
            head = Text(p.id, style="bold")
            head.append(f"  {p.label}", style=STYLE[p.cache])
            if p.place:
                head.append(f"  {p.place}", style="dim")
            console.print(head)
            console.print(_details(p, shared, inductor))
    style = "bold red" if result.count("stale") else (
        "bold yellow" if result.count("miss") else "bold green")
    console.print(Text(result.sentence(), style=style))
    return finish(buf, color)
