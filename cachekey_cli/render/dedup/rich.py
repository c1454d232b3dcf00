"""Terminal report for ``cachekey dedup``, and the dedup section of ``diff``'s rich report."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from cachekey_cli.dedup.data import summary_text
from cachekey_cli.dedup.key_sharing import DEDUP_KINDS, LABEL, DedupResult, VariantDedup
from cachekey_cli.render.console import finish, make_console
from cachekey_cli.wording import plural

SHORT = 8


def _counts(result: DedupResult) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("variant", no_wrap=True)
    table.add_column("compiled", justify="right")
    table.add_column("structures", justify="right")
    for kind in DEDUP_KINDS:
        table.add_column(f"unique {LABEL[kind]}", justify="right")
    table.add_column("split groups", justify="right")
    for v in result.variants:
        cells: list[Text | str] = [Text(v.variant), str(v.compiled), str(v.structures)]
        for kind in DEDUP_KINDS:
            k = v.kind(kind)
            style = "dim" if k.bundled else "yellow" if k.unique > v.structures else "green"
            cells.append(Text(k.count(), style=style))
        cells.append(Text(str(len(v.missed)), style="bold red" if v.missed else "green"))
        table.add_row(*cells)
    return table


def _groups(v: VariantDedup) -> list[Any]:
    out: list[Any] = []
    for kind in DEDUP_KINDS:
        for g in v.kind(kind).groups:
            if len(g.pieces) > 1:
                line = Text(f"{LABEL[kind]:<8} ", style="dim")
                line.append(g.key[1 : SHORT + 1], style="cyan")
                shown = g.pieces if len(g.pieces) <= 6 else (*g.pieces[:3], "…", g.pieces[-1])
                line.append(f"  shared by {len(g.pieces)}: " + ", ".join(shown))
                out.append(_indent(line, 2))
    return out


def _missed(v: VariantDedup, width: int) -> list[Any]:
    out: list[Any] = []
    for m in v.missed:
        head = Text(", ".join(m.pieces), style="bold")
        head.append("  isomorphic, ", style="dim")
        head.append(
            ", ".join(f"{len(m.partitions[k])} {LABEL[k]} keys" for k in m.split), style="red"
        )
        if m.shared:
            head.append("; shared: " + ", ".join(LABEL[k] for k in m.shared), style="green")
        out.append(_indent(head, 2))
        for d in m.differences[:8]:
            line = Text("graph    ", style="dim")
            line.append(d.describe())
            out.append(_indent(line, 4))
        for kind in m.split:
            for c in m.changes[kind][:4]:
                line = Text(f"{LABEL[kind]:<8} ", style="dim")
                line.append(c.describe(max(40, width - 20)))
                out.append(_indent(line, 4))
        out.append(Padding(Text(m.explanation, style="italic"), (0, 0, 1, 4)))
    return out


def _indent(text: Text, left: int) -> Padding:
    """Wrapped lines keep the indent of their first line."""
    return Padding(text, (0, 0, 0, left))


def section(result: DedupResult, width: int = 100) -> list[Any]:
    """Renderables for the dedup section; ``diff``'s rich report appends these."""
    out: list[Any] = [Text("Dedup: compile units", style="bold underline"), _counts(result)]
    for v in result.variants:
        if v.variant != "tuple_return" and _same(v, result.variant("tuple_return")):
            continue
        groups, missed = _groups(v), _missed(v, width)
        built = [_indent(Text(line, style="italic"), 2) for line in v.structural]
        if groups or missed or built:
            out.append(Text(f"{v.variant}", style="bold"))
        out += groups + missed + built
    setting = {True: "on", False: "off", None: "unavailable"}[result.normalize_inputs]
    norm = Text(f"autograd_cache_normalize_inputs {setting} ({result.normalize_source})", "dim")
    if result.effect is not None:
        on, off = result.effect.on["tuple_return"], result.effect.off["tuple_return"]
        norm.append(f"; unique AOT keys (tuple_return) with it on: {on}, off: {off}")
    out.append(norm)
    reuse = vllm_reuse_line(result)
    if reuse:
        out.append(Text(reuse))
    out.append(Text(summary_text(result), style="bold red" if result.missed else "bold green"))
    return out


def vllm_reuse_line(result: DedupResult) -> str | None:
    """Under the vllm profile: what a start of this model compiles and files, and what it
    serves from memory (vLLM's CompilerManager keeps one artifact per AOT key)."""
    profile = result.analysis.profile
    if profile is None or profile.name != "vllm":
        return None
    v = result.variant("tuple_return")
    unique = v.kind("aot_key").unique
    if v.compiled <= unique:
        return None
    rest = v.compiled - unique
    return (f"vLLM compiles and files {plural(unique, 'artifact')} for these {v.compiled} "
            f"pieces (one per AOT key); the other {rest} {'is' if rest == 1 else 'are'} served "
            "from memory at every start (CompilerManager's loaded_artifacts)")


def _same(a: VariantDedup, b: VariantDedup) -> bool:
    return a.sentence() == b.sentence() and [m.pieces for m in a.missed] == [
        m.pieces for m in b.missed
    ] and a.structural == b.structural


def render(result: DedupResult, *, color: bool = True, width: int = 100, **_: Any) -> str:
    console, buf = make_console(width, color)
    a = result.analysis
    head = Text("cachekey dedup ", style="bold")
    head.append(f"{a.model.source}:{a.model.factory}   torch {a.environment.torch}", style="dim")
    console.print(head)
    console.print(Group(*section(result, width)))
    for w in a.warnings:
        console.print(Text(f"warning: {w}", style="yellow"))
    return finish(buf, color)
