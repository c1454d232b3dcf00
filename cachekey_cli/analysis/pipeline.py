"""Orchestrate one analysis: load, capture, split, key. Pure: no printing, no exits.

The split and the keys happen inside the Dynamo backend call, where the
profile's client does them (capture's ``on_graph``). Progress reaches the
caller through ``progress(stage, done, total)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cachekey_cli.errors import InputError
from cachekey_cli.results import Analysis, CapturedGraph, Environment, ModelInfo, Piece
from cachekey_cli.wording import freezing_line

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
    # --init: "real" runs the factory as is; "meta" never materializes weights; "auto" is
    # "meta" for hf: configs and "real" for everything else
    init: str = "auto"
    profile: str = "vllm"  # whose compile path: "vllm" or "torch-compile" (analysis/profiles)
    dynamic_dims: tuple[str, ...] = ()  # "ARG:DIM" from --dynamic-dim; empty: the file's or none
    compile_sizes: tuple[int, ...] = ()  # vLLM single-size compiles keyed besides the range
    seq_len: int | None = None  # --seq-len: input length of hf: models (None: 16)
    vllm_config: str | None = None  # --vllm-config: a JSON file of VllmConfig fields (needs vLLM)
    serve_args: tuple[str, ...] = ()  # vllm: models: vllm serve's arguments (after --)
    platform: str = "host"  # vllm: models: "host" (what vLLM does here) or "cuda" (piecewise)


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


def run(options: Options, progress: Progress = _silent, loaded: Any = None) -> Run:
    """Analyse ``options.model``; ``loaded`` (a sources.LoadedModel) skips loading it."""
    with contextlib.ExitStack() as stack:
        return _run(options, progress, stack, loaded)


def _run(
    options: Options, progress: Progress, stack: contextlib.ExitStack[Any], loaded: Any
) -> Run:
    timings: dict[str, float] = {}
    with _timed(timings, "import_torch"):
        import torch

        from cachekey_cli import torchapi
        from cachekey_cli.analysis import capture, dynamic_dims, in_backend, keys, prepare, split
        from cachekey_cli.analysis.traced import traced_files

    overrides = parse_overrides(options)
    with _timed(timings, "load"):
        progress("load", 0, 1)
        prep = prepare.prepare(options, stack, loaded)
        profile, model, names, origin, ops = (
            prep.profile, prep.model, prep.names, prep.origin, prep.ops)
        impl = split.tuple_return_impl(options.tuple_return_impl)
        dims = prep.dims
        progress("load", 1, 1)

    warnings: list[str] = []
    keyer = keys.Keyer()
    work = in_backend.BackendWork(
        profile, ops, impl, overrides, prep.compile_sizes, keyer, progress
    )

    style = [profile.capture_style()]
    traced: set[str] = set()  # the files Dynamo traced (vLLM's code factor hashes them)

    def trace() -> list[Any]:
        try:
            return capture.capture(
                model,
                inference=options.inference,
                on_graph=work.on_graph,
                dynamic=lambda: dynamic_dims.mark(dims, model.args, model.kwargs),
                style=style[0],
                traced_files=traced,
            )
        except capture.GraphBreak:
            # vLLM compiles with fullgraph=True and would stop here; key each graph anyway
            warnings.append(
                "vLLM compiles with fullgraph=True and refuses a model with a graph break; "
                "each Dynamo graph is keyed as if it were compiled on its own"
            )
            style[0] = dataclasses.replace(style[0], fullgraph=False, aot_compile=False)
            work.reset()
            return trace()

    with torchapi.config_patched(overrides["inductor"], overrides["functorch"]):
        with _timed(timings, "trace"), torch.inference_mode(options.inference):
            progress("trace", 0, 1)
            freezing = bool(torchapi.inductor_config_value("freezing"))
            captured = trace()
            if work.deferred:  # plain pieces with symbolic sizes: a fresh trace of their own
                work.second_pass = True
                trace()
            progress("trace", 1, 1)
    # the split and the keys ran inside the trace: report them apart
    timings["trace"] = round(timings["trace"] - work.split_seconds - work.key_seconds, 4)
    timings["split"] = round(work.split_seconds, 4)
    timings["key"] = round(work.key_seconds, 4)
    if profile.splits:
        warnings.extend(_split_warnings(ops, work.matched, origin))
    warnings.extend(profile.warnings())

    pieces = []
    for _, (cap, variants) in sorted(work.pieces.items()):
        for raw in variants[0].pieces:
            pieces.append(
                Piece(
                    graph=cap.index,
                    name=raw.name,
                    splitting_op=raw.splitting_op,
                    outputs=split.output_count(raw.gm),
                    op=raw.op,
                    variants={
                        v: work.results[(cap.index, raw.name, v)] for v in ("plain", "tuple_return")
                    },
                    dynamic_shapes=raw.dynamic_shapes,
                    sizes={
                        size: work.sizes[(cap.index, raw.name, size)]
                        for size in prep.compile_sizes
                        if (cap.index, raw.name, size) in work.sizes
                    },
                    inputs=torchapi.input_names(raw.gm),
                )
            )

    timings["inductor_keys_computed"] = float(keyer.inductor_computed)
    timings["inductor_keys_reused"] = float(keyer.inductor_reused)
    timings["pieces_keyed_once_for_both_variants"] = float(keyer.pieces_shared)
    timings.update(_key_cost(keyer))
    devices = tuple(sorted(work.devices) or ("cpu",))
    env = Environment(
        torch=torch.__version__,
        python=platform.python_version(),
        platform=f"{sys.platform}-{platform.machine()}",
        tuple_return=impl,
        torch_git=torchapi.torch_git_version(),
        devices=devices,
    )
    info = ModelInfo(
        source=model.spec.target,
        factory=model.spec.factory,
        split_ops=tuple(names) if profile.splits else (),
        split_ops_origin=origin if profile.splits else "none (no split)",
        matched_ops=tuple(sorted(work.matched)),
        dynamic_dims=tuple(d.text for d in dims),
    )
    graphs = tuple(
        CapturedGraph(
            index=cap.index,
            nodes=sum(1 for n in cap.gm.graph.nodes if n.op not in ("placeholder", "output")),
            placeholders=sum(1 for n in cap.gm.graph.nodes if n.op == "placeholder"),
            break_reason=cap.break_reason,
            break_location=cap.break_location,
            symbolic=torchapi.has_symbolic_inputs(
                [n.meta.get("example_value") for n in cap.gm.graph.find_nodes(op="placeholder")]
            ),
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
        profile=_with_freezing(profile.info(devices, prep.compile_sizes, traced), freezing),
        traced_files=traced_files(traced),
        dynamo_config=work.dynamo_config,
    )
    return Run(analysis, work.raw, overrides)



def _with_freezing(info: Any, freezing: bool) -> Any:
    """A profile note on what Inductor's freezing does to weights on this path, when it is on."""
    if not freezing:
        return info
    return dataclasses.replace(info, notes=(*info.notes, freezing_line(info.name)))


def _split_warnings(ops: tuple[Any, ...], matched: set[str], origin: str) -> list[str]:
    if origin == "default":
        if not matched:
            return ["no scaled-dot-product-attention call found: each graph is a single piece"]
        return []
    if origin == "compilation_config.splitting_ops" and matched:
        return []  # vLLM's list covers every architecture's attention; one matched is enough
    return [f"split op {op.name} never matched a node in the graph" for op in ops
            if op.name not in matched]


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
