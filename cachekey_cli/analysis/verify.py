"""--verify: compile the model for real on the profile's path and check our keys.

The model is loaded and traced again, and compiled the way the client does:
for ``vllm``, each piece is split inside the Dynamo backend and handed to
``standalone_compile`` with the profile's arguments (donated, as vLLM does);
for ``torch-compile``, the model goes through ``torch.compile`` itself. Each
compile writes into a fresh cache directory, and the keys are read off disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachekey_cli.errors import InputError
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


Progress = Callable[[str, int, int], None]


def verify(options: Any, analysis: Analysis, progress: Progress | None = None) -> list[Check]:
    from cachekey_cli import torchapi
    from cachekey_cli.analysis import pipeline, prepare

    overrides = pipeline.parse_overrides(options)
    with contextlib.ExitStack() as stack:
        prep = prepare.prepare(options, stack)
        blocker = prep.profile.verify_blocker()
        if blocker:
            raise InputError(f"--verify compiles on the client's path, and {blocker}",
                             "run --verify where the client's kernels are installed; the keys "
                             "themselves do not need them")
        with torchapi.config_patched(overrides["inductor"], overrides["functorch"]):
            if prep.profile.splits:
                return _verify_pieces(options, analysis, prep, overrides, progress)
            return _verify_torch_compile(options, analysis, prep.model, prep.dims)


def _verify_pieces(
    options: Any, analysis: Analysis, prep: Any, overrides: Any, progress: Progress | None,
) -> list[Check]:
    """Split inside a fresh backend call and standalone_compile every piece for real.

    One trace per variant, each piece compiled in order, as a client that split
    that way would (pieces with symbolic sizes share a ShapeEnv, see in_backend).
    """
    import torch

    from cachekey_cli import torchapi
    from cachekey_cli.analysis import capture, dynamic_dims, in_backend, split

    profile, model, dims, ops = prep.profile, prep.model, prep.dims, prep.ops
    impl = split.tuple_return_impl(options.tuple_return_impl)
    by_id = {p.id: p for p in analysis.pieces}
    todo = sum(1 for p in analysis.pieces if not p.splitting_op) * 2
    checks: list[Check] = []
    wanted = ["tuple_return"]

    def on_graph(cap: Any, example_inputs: list[Any]) -> None:
        profile.backend_entered()
        devices = sorted({x.device.type for x in example_inputs if isinstance(x, torch.Tensor)})
        setting = in_backend.with_overrides(
            profile.range_setting(devices, cap.context), overrides
        )
        setting = dataclasses.replace(setting, donate=True)
        for variant in split.split_variants(cap.gm, ops, impl, setting):
            if variant.variant != wanted[0]:
                continue
            for raw in variant.pieces:
                piece = by_id.get(f"g{cap.index}/{raw.name}")
                if raw.splitting_op or piece is None:
                    continue
                if progress:
                    progress("verify", len(checks) // 2, todo)
                with torchapi.quiet_torch_logs():
                    real = torchapi.compile_for_real(raw.gm, raw.inputs, setting)
                keys = piece.variants[variant.variant]
                for kind in ("aot_key", "inductor_key"):
                    exact = options.inference or kind == "aot_key"
                    ours = keys.key(kind).key
                    checks.append(
                        Check(piece.id, variant.variant, kind, ours, tuple(real[kind]), exact)
                    )

    style = profile.capture_style()
    for variant_name in ("tuple_return", "plain"):
        wanted[0] = variant_name
        try:
            capture.capture(
                model, inference=options.inference, on_graph=on_graph, style=style,
                dynamic=lambda: dynamic_dims.mark(dims, model.args, model.kwargs),
            )
        except capture.GraphBreak:  # as the analysis did: each graph on its own
            style = dataclasses.replace(style, fullgraph=False, aot_compile=False)
            capture.capture(
                model, inference=options.inference, on_graph=on_graph, style=style,
                dynamic=lambda: dynamic_dims.mark(dims, model.args, model.kwargs),
            )
    if progress:
        progress("verify", todo, todo)
    return checks


def _verify_torch_compile(
    options: Any, analysis: Analysis, model: Any, dims: Any
) -> list[Check]:
    """A plain torch.compile of the model into a fresh cache; every graph's keys must be on disk."""
    import torch

    from cachekey_cli import torchapi
    from cachekey_cli.analysis import dynamic_dims

    torchapi.reset_dynamo()
    mode = torch.inference_mode() if options.inference else contextlib.nullcontext()
    try:
        with torchapi.private_cache_dir() as path:
            dynamic_dims.mark(dims, model.args, model.kwargs)
            compiled = torch.compile(model.module)
            with mode, torchapi.quiet_torch_logs(), contextlib.redirect_stdout(sys.stderr):
                compiled(*model.args, **model.kwargs)
            real = torchapi.cache_dir_keys(path)
    finally:
        torchapi.reset_dynamo()
    # Each graph's key must be on disk, and (but for a training compile's backward
    # graphs) nothing else may be: a key we did not predict fails as "(unpredicted)".
    checks = []
    for kind in ("aot_key", "inductor_key"):
        ours = set()
        for piece in analysis.pieces:
            key = piece.variants["tuple_return"].key(kind).key
            found = (key,) if key in real[kind] else ()
            checks.append(Check(piece.id, "tuple_return", kind, key, found if key else ()))
            ours.add(key)
        extra = tuple(sorted(set(real[kind]) - ours))
        if extra and (options.inference or kind == "aot_key"):
            checks.append(Check("(unpredicted)", "tuple_return", kind, None, extra))
    return checks
