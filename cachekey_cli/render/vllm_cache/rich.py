"""Terminal reports for ``cachekey vllm-cache inspect`` and ``diff``."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from cachekey_cli.render.console import finish, make_console
from cachekey_cli.render.vllm_cache import text as words
from cachekey_cli.render.vllm_cache.text import shown_in_code
from cachekey_cli.vllm.cache_diff.compare import VllmCacheDiff
from cachekey_cli.vllm.identity.code_check import CodeCheck
from cachekey_cli.vllm.records import Deployment


def _rows(console: Console, rows: list[tuple[str, str]], indent: int = 2) -> None:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, text in rows:
        grid.add_row(label, text)
    console.print(Padding(grid, (0, 0, 0, indent)))


def _lines(console: Console, lines: list[str], indent: int = 2, style: str = "",
           bullet: str = "") -> None:
    """Each line at its indent; a line too long wraps under its own first character."""
    for line in lines:
        stripped = line.lstrip(" ")
        grid = Table.grid()
        grid.add_column(width=indent + len(line) - len(stripped) + len(bullet), no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row(bullet.rjust(indent + len(line) - len(stripped) + len(bullet)),
                     Text(stripped, style=style))
        console.print(grid)


def _code_checks(console: Console, checks: tuple[CodeCheck, ...], label: str = "") -> None:
    for c in checks:
        title = Text(f"code factor of the current code vs {label}{c.where}", style="bold")
        console.print(title)
        lines = words.code_check_lines(c)
        console.print(Padding(Text(lines[0], style="green" if c.matches else "red"),
                              (0, 0, 0, 2)))
        _lines(console, lines[1:])


def render_inspect(d: Deployment, *, color: bool = False, width: int = 100,
                   checks: tuple[CodeCheck, ...] = (), **_: Any) -> str:
    console, buf = make_console(width, color)
    head = Text("vLLM cache ", style="bold")
    head.append(d.path)
    head.append(f"  ({d.kind}: {words.inspect_summary(d)})", style="dim")
    console.print(head)
    for f in d.folders:
        console.print()
        console.print(Text(words.folder_title(f), style="bold cyan"))
        _rows(console, words.folder_rows(f))
        if f.artifacts:
            table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
            for name in ("range", "piece", "format", "size", "AOT key", "torch key"):
                table.add_column(name, no_wrap=name != "AOT key", overflow="fold")
            for a in f.artifacts:
                table.add_row(*words.artifact_row(a))
            console.print(table)
    for m in d.aot_models:
        console.print()
        console.print(Text(words.aot_title(m), style="bold cyan"))
        _rows(console, words.aot_rows(m))
        if m.sources:
            console.print(Padding(Text("traced modules (content sha256)", style="dim"),
                                  (0, 0, 0, 2)))
            _rows(console, [(s.module, f"{words.short(s.sha256)}  {s.lines} lines")
                            for s in m.sources], indent=4)
    for note in d.notes:
        console.print(Text(f"note: {note}", style="yellow"))
    if checks:
        console.print()
        _code_checks(console, checks)
    return finish(buf, color)


def render_diff(r: VllmCacheDiff, *, color: bool = False, width: int = 100,
                checks: tuple[tuple[CodeCheck, ...], ...] = (), **_: Any) -> str:
    console, buf = make_console(width, color)
    head = Text("vLLM cache diff", style="bold")
    console.print(head)
    _rows(console, [("A", f"{r.a.path} ({r.a.kind})"), ("B", f"{r.b.path} ({r.b.kind})")])
    for f in r.folders:
        console.print()
        title = Text(f.where, style="bold cyan")
        names = f"{f.a.hash or f.a.factors.folder_hash} → {f.b.hash or f.b.factors.folder_hash}"
        title.append(f"  folder {names}  ")
        title.append("differs" if f.folder_differs else "same name",
                     style="red" if f.folder_differs else "green")
        console.print(title)
        _lines(console, words.folder_diff_lines(f) or ["nothing differs"])
    for a in r.aot:
        console.print()
        title = Text(f"torch_aot_compile {a.a.rank}", style="bold cyan")
        title.append("  ")
        title.append("differs" if a.differs else "same", style="red" if a.differs else "green")
        console.print(title)
        if a.differs:
            _lines(console, words.aot_diff_lines(a, shown_in_code(r, a)))
    for side, folders in (("A", r.only_a), ("B", r.only_b)):
        for only in folders:
            console.print(Text(f"only in {side}: {words.folder_title(only)}", style="yellow"))
    for side, models in (("A", r.aot_only_a), ("B", r.aot_only_b)):
        for m in models:
            console.print(Text(f"only in {side}: {words.aot_title(m)}", style="yellow"))
    if r.pitfalls:
        console.print()
        console.print(Text("Known pitfalls", style="bold"))
        for p in r.pitfalls:
            _lines(console, [f"{p.title}: {p.detail}"], indent=2, bullet="• ")
            _lines(console, [f"fix: {p.fix}"], indent=4, style="green")
    for label, side_checks in zip(("A: ", "B: "), checks, strict=False):
        console.print()
        _code_checks(console, side_checks, label)
    console.print()
    console.print(Text(words.diff_verdict(r), style="bold red" if r.differs else "bold green"))
    return finish(buf, color)
