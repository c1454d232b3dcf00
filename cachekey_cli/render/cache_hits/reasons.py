"""What the reports of ``check --cache`` say once, and what on every piece's row."""

from __future__ import annotations

from cachekey_cli.cache_hits.records import CacheCheck, PieceCache


def shared_reason(result: CacheCheck) -> str | None:
    """The first reason, where every piece that does not hit (two or more) gives the same one:
    said once above the table rather than on every row."""
    missing = [p for p in result.ordered if p.cache != "hit"]
    first = {p.reasons[0] if p.reasons else None for p in missing}
    if len(missing) < 2 or len(first) != 1 or None in first:
        return None
    return missing[0].reasons[0]


def own_reasons(p: PieceCache, shared: str | None) -> list[str]:
    """The piece's reasons without the one shared by every piece."""
    return list(p.reasons[1:] if shared and p.reasons and p.reasons[0] == shared else p.reasons)


def shared_heading(result: CacheCheck) -> str:
    """The heading above the shared reason."""
    if result.count("hit"):
        return "Why every piece that does not hit misses"
    return "Why no piece hits" if result.count("stale") else "Why every piece misses"


def shared_inductor(result: CacheCheck) -> str | None:
    """Inductor's answer, where every missed piece (two or more) gets the same one-line answer
    (an opt-out, an Inductor folder the cache lacks): said once, like ``shared_reason``."""
    missed = [p for p in result.pieces if p.cache == "miss"]
    answers = {p.fallback_reasons for p in missed}
    if len(missed) < 2 or len(answers) != 1:
        return None
    (answer,) = answers
    return f"Inductor: {answer[0]}" if len(answer) == 1 else None


def inductor_lines(p: PieceCache, shared: str | None = None) -> list[str]:
    """What Inductor's own cache does under a vLLM miss, as the reports word it (without the
    answer every missed piece shares, ``shared_inductor``)."""
    return [line for line in (f"Inductor: {x}" for x in p.fallback_reasons) if line != shared]


def row_groups(result: CacheCheck) -> list[tuple[str, PieceCache]]:
    """The table's rows: consecutive pieces served from memory by the same earlier piece share
    one row (``g0/submod_4 … g0/submod_62 (30 pieces)``), so a model of 80 identical layers
    reads as three rows, not 80; every other piece has a row of its own."""
    rows: list[tuple[list[PieceCache], PieceCache]] = []
    for p in result.ordered:
        last = rows[-1][0] if rows else None
        if last and p.reuses is not None and last[-1].reuses == p.reuses:
            last.append(p)
        else:
            rows.append(([p], p))
    return [(group[0].id if len(group) == 1 else
             f"{group[0].id} … {group[-1].id} ({len(group)} pieces)", first)
            for group, first in rows]
