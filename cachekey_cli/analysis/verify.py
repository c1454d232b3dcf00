"""--verify: really compile every piece and check our keys against the ones torch used."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachekey_cli.results import Analysis


@dataclass(frozen=True)
class Check:
    piece: str
    variant: str
    kind: str
    ours: str | None
    real: tuple[str, ...]

    exact: bool = True  # inference: exactly one artifact; training also files a backward graph

    @property
    def ok(self) -> bool:
        if self.ours is None:  # we report no key: right only if the compile filed none
            return not self.real
        return self.real == (self.ours,) if self.exact else self.ours in self.real


def verify(
    analysis: Analysis,
    raw: dict[tuple[int, str, str], Any],
    progress: Callable[[str, int, int], None] | None = None,
    inference: bool = True,
) -> list[Check]:
    import torch

    from cachekey_cli import torchapi

    todo = [
        (p, v) for p in analysis.pieces if not p.splitting_op for v in ("plain", "tuple_return")
    ]
    checks: list[Check] = []
    for i, (piece, variant) in enumerate(todo):
        if progress:
            progress("verify", i, len(todo))
        rp = raw[(piece.graph, piece.name, variant)]
        with torch.inference_mode(inference):
            with torchapi.quiet_torch_logs():
                real = torchapi.compile_for_real(rp.gm, rp.inputs, rp.context)
        keys = piece.variants[variant]
        for kind in ("aot_key", "inductor_key"):
            exact = inference or kind == "aot_key"
            checks.append(
                Check(piece.id, variant, kind, keys.key(kind).key, tuple(real[kind]), exact)
            )
    if progress:
        progress("verify", len(todo), len(todo))
    return checks
