"""Compare the JSON reports of several runs: which keys moved, and which components moved them.

Works on ``cachekey diff --format json`` reports (docs/json-format.md), so it
needs no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cachekey_cli.compare.components import line_delta

KINDS = ("graph_hash", "aot_key", "inductor_key")
ABSENT = "(absent)"


@dataclass(frozen=True)
class MovedComponent:
    name: str
    values: tuple[str | None, ...]  # per run: readable value (cut to the difference) or hash


@dataclass(frozen=True)
class Varying:
    """A key of one piece that is not the same in every run."""

    piece: str
    variant: str
    kind: str  # a KINDS entry, or "presence" when the piece exists in only some runs
    keys: tuple[str | None, ...]  # per run
    components: tuple[MovedComponent, ...] = ()


Entry = tuple[str | None, dict[str, str]]


def _index(report: Mapping[str, Any]) -> dict[tuple[str, str, str], Entry]:
    out: dict[tuple[str, str, str], Entry] = {}
    for sg in report.get("subgraphs", []):
        for variant, v in sg.get("variants", {}).items():
            for kind in KINDS:
                comps = v.get("components", {}).get(kind, {})
                out[(sg["id"], variant, kind)] = (v.get(kind), dict(comps))
    return out


def count_keys(report: Mapping[str, Any]) -> int:
    return sum(1 for key, _ in _index(report).values() if key is not None)


def varying(reports: Sequence[Mapping[str, Any]]) -> tuple[Varying, ...]:
    """Every (piece, variant, kind) whose key differs between any two reports."""
    indexes = [_index(r) for r in reports]
    values = [r.get("component_values", {}) for r in reports]
    ids: list[tuple[str, str, str]] = []
    for idx in indexes:
        ids += [k for k in idx if k not in ids]
    out: list[Varying] = []
    absent_pieces: set[tuple[str, str]] = set()
    for ident in ids:
        piece, variant, kind = ident
        entries = [idx.get(ident) for idx in indexes]
        if any(e is None for e in entries):
            if (piece, variant) not in absent_pieces:
                absent_pieces.add((piece, variant))
                keys = tuple(ABSENT if e is None else "present" for e in entries)
                out.append(Varying(piece, variant, "presence", keys))
            continue
        found: tuple[str | None, ...] = tuple(e[0] for e in entries if e is not None)
        if len(set(found)) == 1:
            continue
        comps = [e[1] for e in entries if e is not None]
        out.append(Varying(piece, variant, kind, found, _moved(comps, values)))
    return tuple(out)


def _moved(
    comps: list[dict[str, str]], values: list[Mapping[str, str]]
) -> tuple[MovedComponent, ...]:
    names: list[str] = []
    for c in comps:
        names += [n for n in c if n not in names]
    out = []
    for name in names:
        hashes = [c.get(name) for c in comps]
        if len(set(hashes)) == 1:
            continue
        readable = [vals.get(h) if h else None for h, vals in zip(hashes, values, strict=True)]
        if all(r is not None for r in readable):
            shown: list[str | None] = [readable[0]]
            for r in readable[1:]:
                before, after = _delta(readable[0] or "", r or "")
                if len(shown) == 1:  # the first run's side of its delta with the second
                    shown[0] = before
                shown.append(after)
            shown = focus(shown)
        else:
            shown = [f"[{h[:10]}]" if h else ABSENT for h in hashes]
        out.append(MovedComponent(name, tuple(shown)))
    return tuple(out)


def _delta(a: str, b: str) -> tuple[str, str]:
    if "\n" in a or "\n" in b:
        return line_delta(a, b)
    return a, b


def focus(values: Sequence[str | None], context: int = 24) -> list[str | None]:
    """Cut what every value shares at both ends, keeping ``context`` characters of it.

    ``mul(relu, 1.3966…)`` against ``mul(relu, 1.7031…)`` keeps the digits that
    differ in view however narrow the report is.
    """
    texts = [v for v in values if v is not None]
    if len(set(texts)) < 2:
        return list(values)
    shortest = min(len(t) for t in texts)
    start = 0
    while start < shortest and len({t[start] for t in texts}) == 1:
        start += 1
    end = 0
    while end < shortest - start and len({t[-1 - end] for t in texts}) == 1:
        end += 1
    lo = start - context if start - context >= 8 else 0  # cut only where it saves something
    cut_end = end - context if end - context >= context else 0  # a short tail stays whole

    def cut(text: str | None) -> str | None:
        if text is None:
            return None
        hi = len(text) - cut_end
        return ("…" if lo else "") + text[lo:hi] + ("…" if cut_end else "")

    return [cut(v) for v in values]
