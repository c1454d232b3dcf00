"""Orchestrate one analysis: load, capture, split, key. Pure: no printing, no exits.

Progress reaches the caller through ``progress(stage, done, total)``.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cachekey_cli.errors import InputError
from cachekey_cli.results import Analysis, CapturedGraph, Environment, ModelInfo, Piece

Progress = Callable[[str, int, int], None]


def _silent(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class Options:
    model: str
    split_ops: tuple[str, ...] = ()  # from --split-op; empty means "file or default"
    tuple_return_impl: str = "auto"
    inductor_config: tuple[str, ...] = ()  # raw KEY=VALUE strings
    functorch_config: tuple[str, ...] = ()
    normalize_inputs: bool | None = None  # functorch autograd_cache_normalize_inputs
    inference: bool = True
    init: str = "real"  # --init: "real" runs the factory as is; "meta" never materializes weights


@dataclass
class Run:
    """What an analysis leaves behind: the frozen Analysis plus the live pieces.

    ``raw`` maps (graph, name, variant) to the split piece, for --verify and
    for analyses (dedup) that need to look at the graphs themselves.
    """

    analysis: Analysis
    raw: dict[tuple[int, str, str], Any] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


@contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - start, 4)


def parse_overrides(options: Options) -> dict[str, dict[str, Any]]:
    from cachekey_cli import torchapi

    inductor = dict(torchapi.parse_override("inductor", t) for t in options.inductor_config)
    functorch = dict(torchapi.parse_override("functorch", t) for t in options.functorch_config)
    if options.normalize_inputs is not None:
        if torchapi.functorch_normalize_inputs_default() is None:
            raise InputError(
                "this torch has no functorch autograd_cache_normalize_inputs",
                "drop --normalize-inputs/--no-normalize-inputs",
            )
        functorch["autograd_cache_normalize_inputs"] = options.normalize_inputs
    return {"inductor": inductor, "functorch": functorch}


def run(options: Options, progress: Progress = _silent) -> Run:
    timings: dict[str, float] = {}
    with _timed(timings, "import_torch"):
        import torch

        from cachekey_cli import torchapi
        from cachekey_cli.analysis import capture, keys, loader, split, split_ops

    overrides = parse_overrides(options)
    with _timed(timings, "load"):
        progress("load", 0, 1)
        model = loader.load(options.model, init=options.init)
        if options.split_ops:
            names, origin = options.split_ops, "--split-op"
        elif model.split_ops is not None:
            names, origin = model.split_ops, "SPLIT_OPS"
        else:
            names, origin = split_ops.DEFAULT_SPLIT_OPS, "default"
        ops = _resolve_ops(split_ops, names, origin)
        impl = split.tuple_return_impl(options.tuple_return_impl)
        progress("load", 1, 1)

    warnings: list[str] = []
    with torchapi.config_patched(overrides["inductor"], overrides["functorch"]):
        with _timed(timings, "trace"):
            progress("trace", 0, 1)
            captured = capture.capture(model, inference=options.inference)
            progress("trace", 1, 1)

        with _timed(timings, "split"):
            matched: set[str] = set()
            splits = []
            for i, cap in enumerate(captured):
                progress("split", i, len(captured))
                matched |= split.matched_ops(cap.gm, ops)
                splits.append((cap, split.split_variants(cap.gm, ops, impl, cap.context)))
            progress("split", len(captured), len(captured))
        if origin == "default":
            if not matched:
                warnings.append(
                    "no scaled-dot-product-attention call found: each graph is a single piece"
                )
        else:
            for op in ops:
                if op.name not in matched:
                    warnings.append(f"split op {op.name} never matched a node in the graph")

        work = [
            (cap.index, raw, variant.variant)
            for cap, variants in splits
            for variant in variants
            for raw in variant.pieces
        ]
        keyer = keys.Keyer()
        results: dict[tuple[int, str, str], Any] = {}
        with _timed(timings, "key"), torch.inference_mode(options.inference):
            for i, (gi, raw, variant_name) in enumerate(work):
                progress("key", i, len(work))
                results[(gi, raw.name, variant_name)] = keyer.key_piece(raw, variant_name)
            progress("key", len(work), len(work))

    pieces = []
    raw_by_id: dict[tuple[int, str, str], Any] = {}
    for cap, (plain, _tupled) in splits:
        for raw in plain.pieces:
            variants = {v: results[(cap.index, raw.name, v)] for v in ("plain", "tuple_return")}
            pieces.append(
                Piece(
                    graph=cap.index,
                    name=raw.name,
                    splitting_op=raw.splitting_op,
                    outputs=split.output_count(raw.gm),
                    op=raw.op,
                    variants=variants,
                    dynamic_shapes=raw.dynamic_shapes,
                )
            )
    for gi, raw, variant_name in work:
        raw_by_id[(gi, raw.name, variant_name)] = raw

    timings["inductor_keys_computed"] = float(keyer.inductor_computed)
    timings["inductor_keys_reused"] = float(keyer.inductor_reused)
    timings["pieces_keyed_once_for_both_variants"] = float(keyer.pieces_shared)
    timings.update(_key_cost(keyer))
    env = Environment(
        torch=torch.__version__,
        python=platform.python_version(),
        platform=f"{sys.platform}-{platform.machine()}",
        tuple_return=impl,
        torch_git=torchapi.torch_git_version(),
        devices=tuple(
            sorted(
                {
                    x.device.type
                    for _gi, raw, _variant in work
                    for x in raw.inputs
                    if isinstance(x, torch.Tensor)
                }
            )
            or ("cpu",)
        ),
    )
    info = ModelInfo(
        source=model.spec.target,
        factory=model.spec.factory,
        split_ops=tuple(names),  # as requested: stable across builds that lack an SDPA variant
        split_ops_origin=origin,
        matched_ops=tuple(sorted(matched)),
    )
    graphs = tuple(
        CapturedGraph(
            index=cap.index,
            nodes=sum(1 for n in cap.gm.graph.nodes if n.op not in ("placeholder", "output")),
            placeholders=sum(1 for n in cap.gm.graph.nodes if n.op == "placeholder"),
            break_reason=cap.break_reason,
            break_location=cap.break_location,
        )
        for cap in captured
    )
    flat_overrides = {
        **{f"inductor.{k}": repr(v) for k, v in sorted(overrides["inductor"].items())},
        **{f"functorch.{k}": repr(v) for k, v in sorted(overrides["functorch"].items())},
    }
    analysis = Analysis(
        environment=env,
        model=info,
        graphs=graphs,
        pieces=tuple(pieces),
        config_overrides=flat_overrides,
        warnings=tuple(warnings),
        normalize_inputs=options.normalize_inputs,
        timings=timings,
        mode="inference" if options.inference else "training",
    )
    return Run(analysis, raw_by_id, overrides)


def _key_cost(keyer: Any) -> dict[str, float]:
    """Milliseconds per key; the first of each kind pays torch's warm-up, so medians skip it."""
    import statistics

    out: dict[str, float] = {}
    for name, seconds in (("aot_key", keyer.aot_seconds), ("inductor_key", keyer.inductor_seconds)):
        warm = seconds[1:]
        if warm:
            out[f"{name}_ms_median"] = round(1000 * statistics.median(warm), 2)
            out[f"{name}_ms_max"] = round(1000 * max(warm), 2)
        if seconds:
            out[f"{name}_ms_first"] = round(1000 * seconds[0], 2)
    return out


def _resolve_ops(split_ops: Any, names: tuple[str, ...], origin: str) -> tuple[Any, ...]:
    if origin != "default":
        return tuple(split_ops.resolve_split_ops(names))
    ops = []
    for name in names:  # some SDPA variants are absent from some builds
        try:
            ops.append(split_ops.resolve_split_op(name))
        except InputError:
            continue
    return tuple(ops)
