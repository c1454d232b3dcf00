"""Load the model inside its profile's session; settle split ops, dynamic dims, sizes.

The first stage of every analysis (``pipeline.run``) and of ``--verify``. The
profile's session (vLLM's current config, where vLLM is importable) is entered
once the model file is imported and before its factory runs, so that a model
built by vLLM's ``@support_torch_compile`` sees it; it lasts until the caller's
``ExitStack`` closes, after the capture and the keys.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from cachekey_cli.analysis import profiles
from cachekey_cli.errors import InputError, UsageError


@dataclass
class Prepared:
    """The model loaded under the profile's session, and what the profile makes of it."""

    profile: Any
    model: Any
    names: tuple[str, ...]  # splitting ops asked for
    origin: str  # where they come from
    ops: tuple[Any, ...]  # resolved (empty when the profile does not split)
    dims: tuple[Any, ...]  # dynamic dims to mark
    compile_sizes: tuple[int, ...]


def prepare(options: Any, stack: contextlib.ExitStack[Any], loaded: Any = None) -> Prepared:
    """Load the model inside the profile's session (entered on ``stack``, so it lasts
    through the capture), then settle the split ops, dynamic dims and compile sizes.

    A model file's factory runs inside the session; a model built already
    (``loaded``, the Python API's objects) or by cachekey (``hf:``) gets the
    session once it is there.
    """
    from cachekey_cli.analysis import dynamic_dims, split_ops
    from cachekey_cli.sources import file as loader

    profile = profiles.get(options.profile, options.vllm_config, serve_spec(options))
    entered: list[bool] = []

    def enter(constants: Any) -> None:
        names, origin = split_op_names(split_ops, options, constants)
        stack.enter_context(profile.session(names, origin, options.compile_sizes))
        entered.append(True)

    if loaded is None:
        model = loader.load(options.model, init=options.init, seq_len=options.seq_len,
                            before_factory=lambda mod: enter(_FileConstants(mod)))
    else:
        model = loaded
    if not entered:
        enter(model)
    chosen = profile.split_ops()
    if chosen is None:
        names, origin = split_op_names(split_ops, options, model)
        ops = resolve_ops(split_ops, options, model) if profile.splits else ()
    else:
        names, origin, ops = chosen
    profile.model_built(model.module)
    dims = resolve_dynamic_dims(dynamic_dims, options, model, profile)
    return Prepared(profile, model, names, origin, ops, dims,
                    profile.compile_sizes(options.compile_sizes))


def serve_spec(options: Any) -> Any:
    """The ``vllm:`` model's deployment (folder, serve arguments, platform), else None."""
    from cachekey_cli.vllm import models as vllm_models
    from cachekey_cli.vllm.config.from_serve import ServeSpec

    if not vllm_models.is_vllm(options.model):
        if options.serve_args:
            raise UsageError(f"serve arguments after -- are for vllm: models, and "
                             f"{options.model} is not one", "drop them, or use vllm:DIR")
        if options.platform != "host":
            raise UsageError("--platform is for vllm: models", "drop it")
        return None
    if options.vllm_config is not None:
        raise UsageError("--vllm-config and a vllm: model both give the deployment's config",
                         "give vllm serve's arguments after -- instead")
    return ServeSpec(vllm_models.folder(options.model), tuple(options.serve_args),
                     options.platform)


class _FileConstants:
    """A model file's SPLIT_OPS before its factory runs (the loader checks it later)."""

    def __init__(self, mod: Any) -> None:
        value = getattr(mod, "SPLIT_OPS", None)
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        self.split_ops: tuple[str, ...] | None = tuple(value) if ok else None  # type: ignore[arg-type]


def resolve_dynamic_dims(
    dynamic_dims: Any, options: Any, model: Any, profile: Any = None
) -> tuple[Any, ...]:
    """--dynamic-dim, else the file's DYNAMIC_DIMS, else what the client marks itself."""
    if options.dynamic_dims:
        return tuple(dynamic_dims.parse(t) for t in options.dynamic_dims)
    if model.dynamic_dims is not None:
        return dynamic_dims.from_model_file(model.dynamic_dims, model.spec.target)
    own = profile.dynamic_dims(model.module, model.args) if profile is not None else None
    return tuple(dynamic_dims.parse(t, "@support_torch_compile") for t in own or ())


def split_op_names(split_ops: Any, options: Any, model: Any) -> tuple[tuple[str, ...], str]:
    """The splitting ops asked for, and where from: --split-op, SPLIT_OPS or the default."""
    if options.split_ops:
        return tuple(options.split_ops), "--split-op"
    if model.split_ops is not None:
        return tuple(model.split_ops), "SPLIT_OPS"
    return tuple(split_ops.DEFAULT_SPLIT_OPS), "default"


def resolve_ops(split_ops: Any, options: Any, model: Any) -> tuple[Any, ...]:
    names, origin = split_op_names(split_ops, options, model)
    if origin != "default":
        return tuple(split_ops.resolve_split_ops(names))
    ops = []
    for name in names:  # some SDPA variants are absent from some builds
        try:
            ops.append(split_ops.resolve_split_op(name))
        except InputError:
            continue
    return tuple(ops)
