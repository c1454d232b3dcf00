"""Compare keys component by component, and explain differences in words.

Used for the plain-vs-tuple_return diff here, and reusable for any two
KeyResults (baseline against current, run against run, layer against layer).
"""

from __future__ import annotations

import difflib

from cachekey_cli.results import (
    KEY_KINDS,
    Analysis,
    ComponentChange,
    DiffResult,
    KeyResult,
    KindDrift,
    Piece,
    PieceDiff,
)

NO_REMOVED = "(no line removed)"
NO_ADDED = "(no line added)"


def line_delta(before: str, after: str, limit: int = 3) -> tuple[str, str]:
    """The lines that differ between two multi-line values, e.g. a graph's code;
    NO_REMOVED / NO_ADDED for a side with no differing line."""
    a = [ln.strip() for ln in before.splitlines() if ln.strip()]
    b = [ln.strip() for ln in after.splitlines() if ln.strip()]
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            removed.extend(a[i1:i2])
        if tag in ("replace", "insert"):
            added.extend(b[j1:j2])

    def join(lines: list[str], empty: str) -> str:
        if not lines:
            return empty
        more = f" (+{len(lines) - limit} more lines)" if len(lines) > limit else ""
        return "; ".join(lines[:limit]) + more

    return join(removed, NO_REMOVED), join(added, NO_ADDED)


def component_changes(left: KeyResult, right: KeyResult) -> tuple[ComponentChange, ...]:
    lmap, rmap = left.component_map(), right.component_map()
    changes = []
    for name in list(lmap) + [n for n in rmap if n not in lmap]:
        lc, rc = lmap.get(name), rmap.get(name)
        if lc is not None and rc is not None and lc.hash == rc.hash:
            continue
        before = lc.value if lc else None
        after = rc.value if rc else None
        if before is not None and after is not None and ("\n" in before or "\n" in after):
            before, after = line_delta(before, after)
            if (before, after) == (NO_REMOVED, NO_ADDED):  # say so, not a placeholder pair
                before = "(its printed code and constants read the same"
                after = "what moved is elsewhere in what torch pickles)"
        changes.append(
            ComponentChange(
                name=name,
                before=before,
                after=after,
                before_hash=lc.hash if lc else None,
                after_hash=rc.hash if rc else None,
            )
        )
    return tuple(changes)


def kind_drift(kind: str, left: KeyResult, right: KeyResult) -> KindDrift | None:
    if left.key == right.key and left.refusal == right.refusal:
        return None
    note = ""
    if left.key is None or right.key is None:
        note = f"refused: {left.refusal or '-'} | {right.refusal or '-'}"
    return KindDrift(kind, left.key, right.key, component_changes(left, right), note)


def diff_piece(piece: Piece) -> PieceDiff:
    plain, tupled = piece.variants["plain"], piece.variants["tuple_return"]
    if piece.splitting_op:
        # Not compiled, so no cache key: its graph may differ (bare value vs
        # 1-tuple) without any cache effect, and that is not drift.
        same = plain.graph_hash.key == tupled.graph_hash.key
        text = (
            "splitting op: not compiled; same graph in both variants"
            if same
            else f"splitting op: not compiled, so no cache is affected; its graph differs "
            f"only as `{plain.output_code}` vs `{tupled.output_code}`"
        )
        return PieceDiff(piece, (), text, text)
    drifts = []
    for kind in KEY_KINDS:
        drift = kind_drift(kind, plain.key(kind), tupled.key(kind))
        if drift is not None:
            drifts.append(drift)
    story, detail = explain_piece(piece, tuple(drifts))
    explanation = "; ".join(x for x in (story, detail) if x)
    return PieceDiff(piece, tuple(drifts), explanation, story)


def explain_piece(piece: Piece, drifts: tuple[KindDrift, ...]) -> tuple[str, str]:
    """(why the keys differ, which components differ) for one piece."""
    plain, tupled = piece.variants["plain"], piece.variants["tuple_return"]
    if not drifts:
        if plain.returns_tuple:
            return f"returns {piece.outputs} values as a tuple in both variants: keys agree", ""
        return "keys agree", ""
    parts = []
    details = []
    if plain.normalized and not tupled.normalized:
        parts.append(
            f"split without tuple_return, this piece returns a bare value; compile_fx "
            f"wraps it with make_graph_return_tuple as `{plain.output_code}`, while "
            f"tuple_return=True gives `{tupled.output_code}`"
        )
    if plain.unnormalized_refusal:
        parts.append(
            "torch's standalone autograd_cache_key refuses the piece as split "
            f"({plain.unnormalized_refusal.split(':')[0]}), so code that keys pieces "
            "itself must normalize first or split with tuple_return"
        )
    drifted = {d.kind for d in drifts}
    for d in drifts:
        if d.kind == "graph_hash":
            continue
        if d.changes:
            listed = ", ".join(c.describe(60) for c in d.changes[:4])
            details.append(f"{d.kind} differs in {listed}")
        elif d.note:
            details.append(f"{d.kind}: {d.note}")
    if "inductor_key" not in drifted and plain.inductor_key.key:
        parts.append(
            "inductor_key is unchanged: AOTAutograd hands Inductor the same forward graph"
        )
    return "; ".join(parts), "; ".join(details)


def diff(analysis: Analysis) -> DiffResult:
    return DiffResult(analysis, tuple(diff_piece(p) for p in analysis.pieces))
