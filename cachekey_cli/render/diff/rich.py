"""Terminal report for ``cachekey diff``: a header, one row per piece, the why, a summary.

With ``color=False`` (stdout not a TTY) the same layout comes out as plain text.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cachekey_cli.compare.verdict import piece_verdict, summarize
from cachekey_cli.render.console import finish, make_console
from cachekey_cli.results import DiffResult, KeyResult, PieceDiff
from cachekey_cli.wording import folder_line, plural

SHORT = 8
VERDICT_STYLE = {"same": "green", "drift": "bold red", "not compiled": "dim"}


def _key_cell(pd: PieceDiff, variant: str, short: int = SHORT) -> Text:
    v = pd.piece.variants[variant]
    drifted = {d.kind for d in pd.drift}
    text = Text()
    if pd.piece.splitting_op:
        graphs = {pv.graph_hash.key for pv in pd.piece.variants.values()}
        style = "yellow" if len(graphs) > 1 else "dim"
        text.append("gph ", style="dim")
        text.append((v.graph_hash.key or "")[1 : short + 1], style=style)
        return text
    for label, kind in (("aot", "aot_key"), ("ind", "inductor_key")):
        if kind == "inductor_key":
            text.append("\n")
        key: KeyResult = v.key(kind)
        text.append(f"{label} ", style="dim")
        if key.bundled:
            text.append("bundled", style="dim")
        elif key.key is None:
            text.append("refused", style="magenta")
        else:
            style = "bold red" if kind in drifted else "cyan"
            text.append(key.key[1 : short + 1], style=style)
    return text


def _header(result: DiffResult) -> Panel:
    a = result.analysis
    env = a.environment
    impl = env.tuple_return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")  # wrapped values stay in their column

    model = Text(f"{a.model.source}:{a.model.factory}", style="bold")
    torch_line = Text(f"{env.torch}   python {env.python}   {env.platform}   ")
    torch_line.append(f"{a.mode} mode", style="yellow" if a.mode != "inference" else "")
    split_line = Text("tuple_return ")
    split_line.append(impl, style="green" if impl == "native" else "yellow")
    if impl == "emulated":
        split_line.append(" (split_module lacks the keyword; rewritten after splitting)", "dim")
    if a.model.split_ops_origin == "default":
        ops = Text("scaled-dot-product-attention family (default)")
    elif len(a.model.split_ops) > LISTED_OPS:  # vLLM's defaults name every architecture's
        ops = Text(f"{len(a.model.split_ops)} ops ({a.model.split_ops_origin})")
    else:
        ops = Text(f"{', '.join(a.model.split_ops) or 'none'} ({a.model.split_ops_origin})")
    ops.append(f"; matched: {', '.join(a.model.matched_ops) or 'none'}", style="dim")
    shapes = _shapes_line(result)
    breaks = [g for g in a.graphs if g.break_reason]
    graphs = Text(f"{len(a.graphs)} captured, {plural(len(breaks), 'graph break')}")
    for g in breaks:
        graphs.append(f"\ng{g.index} ends at {g.break_location}: ", style="yellow")
        graphs.append(g.break_reason or "", style="dim")
    rows: list[tuple[str, Text]] = [("model", model), ("torch", torch_line)]
    rows += profile_rows(a)
    if a.profile is None or a.profile.name != "torch-compile":
        rows += [("split", split_line), ("split ops", ops)]
    rows += [("shapes", shapes), ("graphs", graphs)]
    for label, value in rows:
        grid.add_row(label, value)
    if a.config_overrides:
        overrides = ", ".join(f"{k}={v}" for k, v in sorted(a.config_overrides.items()))
        grid.add_row("overrides", Text(overrides))
    title = "[bold]cachekey diff[/] plain vs tuple_return"
    if a.profile is not None and a.profile.name == "torch-compile":
        title = "[bold]cachekey diff[/] torch.compile keys"
    return Panel(grid, title=title, box=box.ROUNDED)


def _shapes_line(result: DiffResult) -> Text:
    a = result.analysis
    modes = sorted({p.dynamic_shapes for p in a.pieces if not p.splitting_op})
    how = f" (dynamic_shapes={', '.join(modes)})" if modes else ""
    if a.model.dynamic_dims:
        line = Text(f"dynamic {', '.join(a.model.dynamic_dims)}", style="yellow")
    elif any(g.symbolic for g in a.graphs):
        line = Text("symbolic (as Dynamo captured them)", style="yellow")
    else:
        line = Text("static")
    line.append(how, style="dim")
    return line


LISTED_OPS = 6  # more splitting ops than this are counted in the header, not listed


def profile_rows(a: Any) -> list[tuple[str, Text]]:
    """The profile, vLLM's cache mode and what could not be reproduced, for report headers."""
    info = a.profile
    if info is None:
        return []
    line = Text(info.name, style="bold")
    line.append(f"  {info.client}", style="dim")
    rows = [("profile", line)]
    if info.cache_mode:
        mode = Text(info.cache_mode)
        if info.compile_range:
            mode.append(f"; range {info.compile_range}", style="dim")
        if info.compile_sizes:
            mode.append(f"; sizes {', '.join(map(str, info.compile_sizes))}", style="dim")
        rows.append(("vllm mode", mode))
    if info.hash_folder or info.aot_compile_folder:
        rows.append(("vllm folder", Text(folder_line(info))))
    if "platform" in info.settings:  # a vllm: model: the platform keyed, and what it took
        line = Text(info.settings["platform"])
        for key in sorted(k for k in info.settings if k.startswith("platform.override.")):
            line.append(f"\n{info.settings[key]}", style="dim")
        if "platform.differs" in info.settings:
            line.append(f"\n{info.settings['platform.differs']}", style="yellow")
        rows.append(("platform", line))
    for item in info.not_reproduced:
        what, _, why = item.partition(": ")
        label = "vLLM's post-grad pass manager" if what == "post_grad_custom_post_pass" else what
        line = Text(f"{label}: not reproduced", style="yellow")
        if why:
            line.append(f"\n{why}", style="dim")
        rows.append(("missing", line))
    for note in info.notes:
        rows.append(("note", Text(note, style="dim")))
    return rows


def _table(result: DiffResult, width: int = 100) -> Table:
    short = SHORT if width >= 90 else SHORT - 2  # 80 columns: keep every column whole
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, expand=False, show_lines=False, collapse_padding=True
    )
    table.add_column("piece", no_wrap=True, min_width=11)
    table.add_column("kind", no_wrap=True, min_width=8)
    table.add_column("out", justify="right", min_width=3, no_wrap=True)
    table.add_column("tuple", justify="center", min_width=5, no_wrap=True)
    table.add_column("norm", justify="center", min_width=4, no_wrap=True)
    table.add_column("plain", no_wrap=True, min_width=short + 4)
    table.add_column("tuple_return", no_wrap=True, min_width=short + 4)
    table.add_column("verdict", no_wrap=True, min_width=12)
    for label, pd, splits in layer_runs(result):
        p = pd.piece
        plain = p.variants["plain"]
        verdict = piece_verdict(pd)
        kind = Text("split op", style="dim") if p.splitting_op else Text("compiled")
        table.add_row(
            Text(label, style="bold" if pd.drift and not p.splitting_op else ""),
            kind,
            str(p.outputs),
            Text("yes", style="green") if plain.returns_tuple else Text("no", style="yellow"),
            Text("yes", style="yellow") if plain.normalized else Text("no", style="dim"),
            _key_cell(pd, "plain", short),
            _key_cell(pd, "tuple_return", short),
            Text(verdict, style=VERDICT_STYLE.get(verdict, "")),
        )
        if splits:
            table.add_row(Text(f"  + {splits} split-op pieces", style="dim"),
                          Text("split op", style="dim"), "", "", "", "", "",
                          Text("not compiled", style="dim"))
    return table


def _row_look(pd: PieceDiff) -> tuple[Any, ...]:
    """What a compiled piece's row shows: pieces that look alike can share one."""
    cells = []
    for variant in ("plain", "tuple_return"):
        v = pd.piece.variants[variant]
        cells += [v.returns_tuple, v.normalized, v.aot_key.key, v.aot_key.bundled,
                  v.inductor_key.key, v.inductor_key.bundled]
    return (pd.piece.outputs, tuple(d.kind for d in pd.drift), piece_verdict(pd), *cells)


def layer_runs(result: DiffResult) -> list[tuple[str, PieceDiff, int]]:
    """The table's rows: (label, the piece shown, split ops folded in after it).

    Repeated layers make the same compiled pieces between splitting ops over and over:
    one kind for a dense model, a cycle of kinds for a hybrid one (three linear-attention
    layers, then a full-attention one). Where a cycle of 1 to 8 compiled pieces repeats at
    least three times, each followed by split ops that are not compiled, and its rows would
    read alike (same keys, both variants, same verdict), the cycle is shown once, each row
    labelled with the pieces it stands for (``g0/submod_4 … submod_92``, ``(46 pieces)`` or
    ``(11 pieces, every 4th)`` below), then one line for the split ops between. An 80-layer
    model reads as a handful of rows. Anything else has a row of its own; JSON and markdown
    keep every piece.
    """
    units: list[tuple[PieceDiff, list[PieceDiff]]] = []
    loose: list[PieceDiff] = []  # split ops before the first compiled piece
    for pd in result.pieces:
        if pd.piece.splitting_op and units:
            units[-1][1].append(pd)
        elif pd.piece.splitting_op:
            loose.append(pd)
        else:
            units.append((pd, []))
    looks = [_row_look(pd) if after and all(
        piece_verdict(s) == "not compiled" and not s.drift for s in after) else None
        for pd, after in units]
    rows: list[tuple[str, PieceDiff, int]] = [(pd.piece.id, pd, 0) for pd in loose]
    i = 0
    while i < len(units):
        period, reach = _cycle(looks, i)
        if period:
            for k in range(period):
                members = [units[m][0] for m in range(i + k, reach, period)]
                every = "" if period == 1 else f", every {_ordinal(period)}"
                rows.append((f"{members[0].piece.id} … {members[-1].piece.name}\n"
                             f"({len(members)} pieces{every})", members[0], 0))
            label, first, _ = rows[-1]
            rows[-1] = (label, first, sum(len(after) for _, after in units[i:reach]))
            i = reach
            continue
        pd, after = units[i]
        rows.append((pd.piece.id, pd, 0))
        rows.extend((s.piece.id, s, 0) for s in after)
        i += 1
    return rows


def _cycle(looks: list[Any], start: int, longest: int = 8, repeats: int = 3
           ) -> tuple[int, int]:
    """(period, end) of the shortest cycle of row looks that repeats from ``start`` at
    least ``repeats`` times, with ``end`` past its last whole repeat; (0, start) if none."""
    for period in range(1, longest + 1):
        if start + period * repeats > len(looks):
            break
        cycle = looks[start:start + period]
        if None in cycle:
            continue
        end = start + period
        while end + period <= len(looks) and looks[end:end + period] == cycle:
            end += period
        if (end - start) // period >= repeats:
            return period, end
    return 0, start


def _ordinal(n: int) -> str:
    return {2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def _unsplit(result: DiffResult) -> bool:
    """torch.compile: one unit per Dynamo graph, no split, so no second variant."""
    profile = result.analysis.profile
    return profile is not None and profile.name == "torch-compile"


def _graph_table(result: DiffResult) -> Table:
    """Keys of each Dynamo graph, for the torch-compile profile."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in ("graph", "out", "graph hash", "AOT key", "Inductor key"):
        table.add_column(name, no_wrap=True)
    for pd in result.pieces:
        v = pd.piece.variants["tuple_return"]
        cells = [Text(pd.piece.id), Text(str(pd.piece.outputs))]
        for key in (v.graph_hash, v.aot_key, v.inductor_key):
            if key.key is None:
                cells.append(Text("refused", style="magenta"))
            else:
                cells.append(Text(key.key[1 : SHORT + 5], style="cyan"))
        table.add_row(*cells)
    return table


def _size_table(result: DiffResult) -> Table | None:
    """vLLM's single-size compiles (--compile-size): one row per piece and size."""
    rows = [(pd.piece, size, v) for pd in result.pieces for size, v in pd.piece.sizes.items()]
    if not rows:
        return None
    table = Table(
        title="single-size compiles (tuple_return, dynamic_shapes=from_example_inputs)",
        title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
    )
    for name in ("piece", "size", "AOT key", "Inductor key"):
        table.add_column(name, no_wrap=True)
    for piece, size, v in rows:
        cells = [Text(piece.id), Text(str(size))]
        for key in (v.aot_key, v.inductor_key):
            if key.key is None:
                cells.append(Text("bundled" if key.bundled else "refused", style="dim"))
            else:
                cells.append(Text(key.key[1 : SHORT + 5], style="cyan"))
        table.add_row(*cells)
    return table


def _explanations(result: DiffResult) -> list[Any]:
    out: list[Any] = []
    for pd in result.pieces:
        if not pd.drift or pd.piece.splitting_op:
            continue
        head = Text()
        head.append(f"{pd.piece.id}", style="bold")
        head.append("  " + ", ".join(d.kind for d in pd.drift), style="red")
        out.append(head)
        for d in pd.drift:
            for c in d.changes[:6]:
                line = Text("    ")
                line.append(f"{d.kind} ", style="dim")
                line.append(c.describe(70))
                out.append(line)
            if len(d.changes) > 6:
                out.append(Text(f"    … and {len(d.changes) - 6} more components", style="dim"))
        out.append(Padding(Text(pd.story, style="italic"), (0, 0, 1, 4)))
    return out


def render(
    result: DiffResult, *, color: bool = True, width: int = 100, dedup: Any = None, **_: Any
) -> str:
    console, buf = make_console(width, color)
    console.print(_header(result))
    console.print(_graph_table(result) if _unsplit(result) else _table(result, width))
    sizes = _size_table(result)
    if sizes is not None:
        console.print(sizes)
    for pd in result.pieces:  # a refused key says why, in one line
        v = pd.piece.variants["tuple_return"]
        for key in (v.aot_key, v.inductor_key) if _unsplit(result) else ():
            if key.refusal:
                console.print(Text(f"{pd.piece.id} {key.kind}: {key.refusal}", style="magenta"))
    why = _explanations(result)
    if why:
        console.print(Text("Why keys drift", style="bold underline"))
        console.print(Group(*why))
    if dedup is not None:  # a dedup.DedupResult: its section comes before the verdict
        from cachekey_cli.render.dedup import rich as dedup_rich

        console.print(Group(*dedup_rich.section(dedup, width)))
        console.print()
    for w in result.analysis.warnings:
        console.print(Text(f"warning: {w}", style="yellow"))
    summary = summarize(result)
    if _unsplit(result):
        console.print(Text(
            f"{plural(len(result.pieces), 'Dynamo graph')} keyed as torch.compile files them; "
            "no split, so no second variant to compare.", style="bold green"))
        return finish(buf, color)
    style = "bold red" if summary.drifted else "bold green"
    console.print(Text(summary.sentence(), style=style))
    return finish(buf, color)
