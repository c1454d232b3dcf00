"""The model as it is now, piece by piece: keys from the analysis, sizes from its inputs.

The one module of ``cache_hits`` that needs torch (through ``torchapi``): the
guard sizes are the hints of each piece's backed SymInt inputs, read off the
graph Dynamo captured.
"""

from __future__ import annotations

from typing import Any

from cachekey_cli.cache_hits.records import CurrentPiece

VARIANT = "tuple_return"  # vLLM's split; torch.compile's whole graph is filed under it too


def pieces(run: Any) -> tuple[CurrentPiece, ...]:
    """Every compiled piece in order, with vLLM's per-graph position (its ``graph_index``)."""
    from cachekey_cli import torchapi

    out: list[CurrentPiece] = []
    positions: dict[int, int] = {}
    for p in run.analysis.pieces:
        if p.splitting_op:
            continue
        v = p.variants[VARIANT]
        raw = run.raw.get((p.graph, p.name, VARIANT))
        hints = torchapi.symint_hints(raw.gm) if raw is not None else ()
        position = positions.get(p.graph, 0)
        positions[p.graph] = position + 1
        out.append(CurrentPiece(
            id=p.id, position=position, aot_key=v.aot_key.key, fx_key=v.inductor_key.key,
            aot_note=v.aot_key.refusal, fx_note=v.inductor_key.refusal, hints=hints,
        ))
    return tuple(out)


def torch_build_key() -> str:
    """This torch's build key (hex), which standalone artifacts must carry to load."""
    from cachekey_cli import torchapi

    return torchapi.torch_build_key()
