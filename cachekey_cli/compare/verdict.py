"""Verdicts and summaries for a diff: decided once, here, and shown by every renderer."""

from __future__ import annotations

from dataclasses import dataclass

from cachekey_cli.errors import ExitCode
from cachekey_cli.results import KEY_KINDS, DiffResult, PieceDiff
from cachekey_cli.wording import plural


def piece_verdict(p: PieceDiff) -> str:
    if p.piece.splitting_op:
        return "not compiled"
    if p.drift:
        return "drift"
    return "same"


@dataclass(frozen=True)
class DiffSummary:
    pieces: int
    compiled: int
    drifted: int
    drifted_kinds: tuple[str, ...]
    normalized: int

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.DRIFT if self.drifted else ExitCode.OK

    def sentence(self) -> str:
        split_ops = self.pieces - self.compiled
        verb = "is" if split_ops == 1 else "are"
        counted = plural(split_ops, "splitting-op piece")
        tail = f"; {counted} {verb} not compiled" if split_ops else ""
        if not self.drifted:
            return (
                f"No drift: {plural(self.compiled, 'compiled piece')} "
                f"{'gets' if self.compiled == 1 else 'get'} the same keys with and "
                f"without tuple_return{tail}."
            )
        kinds = ", ".join(self.drifted_kinds)
        return (
            f"{self.drifted} of {plural(self.compiled, 'compiled piece')} "
            f"{'changes' if self.drifted == 1 else 'change'} key without "
            f"tuple_return ({kinds}); {self.normalized} needed make_graph_return_tuple{tail}."
        )


def summarize(result: DiffResult) -> DiffSummary:
    compiled = [p for p in result.pieces if not p.piece.splitting_op]
    drifted = [p for p in compiled if p.drift]
    seen = {d.kind for p in drifted for d in p.drift}
    kinds = [k for k in KEY_KINDS if k in seen]
    normalized = sum(1 for p in compiled if p.piece.variants["plain"].normalized)
    return DiffSummary(len(result.pieces), len(compiled), len(drifted), tuple(kinds), normalized)
