"""What every model source hands back, and what the sources share.

``LoadedModel`` is the one shape the analysis takes, whichever way the model was
named (``ModelSpec`` records how). ``from_object`` takes a model the caller built
(the Python API) and checks it as a factory's result is checked
(``check_contract``); ``materialize`` gives meta tensors uninitialized CPU storage
(``--init meta``, ``hf:``). Torch is imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cachekey_cli.errors import InputError

# "auto": "real" for model files and objects, "meta" for hf: configs
INIT_MODES = ("auto", "real", "meta")


@dataclass(frozen=True)
class ModelSpec:
    target: str  # a file path or a dotted module name
    factory: str
    is_file: bool

    @property
    def display(self) -> str:
        return f"{self.target}:{self.factory}"


@dataclass(frozen=True)
class LoadedModel:
    spec: ModelSpec
    module: Any  # torch.nn.Module (or any callable Dynamo can trace)
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    split_ops: tuple[str, ...] | None  # SPLIT_OPS from the file, if any
    dynamic_dims: Any = None  # DYNAMIC_DIMS from the file, if any (raw; checked by dynamic_dims)
    # what building it for the keyed platform changed (vllm: models under --platform cuda)
    built_as: tuple[str, ...] = ()
    # what that platform's graph would still have otherwise (CUDA-only kernels in bf16/fp16)
    built_differs: tuple[str, ...] = ()


def from_object(
    built: Any, name: str, init: str = "auto", split_ops: tuple[str, ...] | None = None
) -> LoadedModel:
    """A ``(module, args[, kwargs])`` tuple built by the caller, checked like a factory's result.

    ``init="meta"`` gives meta tensors uninitialized CPU storage (``materialize``).
    """
    spec = ModelSpec(target=name, factory="object", is_file=False)
    module, args, kwargs = check_contract(built, spec)
    if init == "meta":
        module, args, kwargs = materialize(module, args, kwargs)
    return LoadedModel(spec, module, args, kwargs, split_ops)


def materialize(
    module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """Give every meta tensor CPU storage of the same metadata, without computing anything.

    Parameters and buffers get ``to_empty``: storage that is allocated but never
    written, so it costs address space, not resident memory. Input tensors get
    the same treatment, except that integer and bool inputs (token ids, masks)
    are zero-filled so that any eager code between graph breaks indexes safely.
    Keys depend only on tensor metadata, which is unchanged.
    """
    import torch
    from torch.utils._pytree import tree_map

    if isinstance(module, torch.nn.Module):
        module = module.to_empty(device="cpu", recurse=True)
        for sub in module.modules():  # plain tensor attributes to_empty does not see
            for name, value in list(vars(sub).items()):
                if isinstance(value, torch.Tensor) and value.is_meta:
                    setattr(sub, name, _empty_like(value))

    def fill(value: Any) -> Any:
        if not isinstance(value, torch.Tensor) or not value.is_meta:
            return value
        out = _empty_like(value)
        if not (out.is_floating_point() or out.is_complex()):
            out.zero_()
        return out.requires_grad_(value.requires_grad)

    return module, tuple(tree_map(fill, list(args))), dict(tree_map(fill, kwargs))


def _empty_like(t: Any) -> Any:
    import torch

    return torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=t.dtype, device="cpu")


def check_contract(built: Any, spec: ModelSpec) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    import torch

    hint = f"{spec.factory}() must return (module, args) or (module, args, kwargs)"
    if not isinstance(built, tuple) or len(built) not in (2, 3):
        raise InputError(f"{spec.factory}() returned {type(built).__name__}", hint)
    module, args = built[0], built[1]
    kwargs = built[2] if len(built) == 3 else {}
    if not isinstance(module, torch.nn.Module) and not callable(module):
        raise InputError(f"{spec.factory}() returned a non-callable {type(module).__name__}", hint)
    if isinstance(args, torch.Tensor):
        args = (args,)
    if not isinstance(args, (tuple, list)):
        raise InputError(f"args from {spec.factory}() is a {type(args).__name__}", hint)
    if not isinstance(kwargs, dict):
        raise InputError(f"kwargs from {spec.factory}() is a {type(kwargs).__name__}", hint)
    return module, tuple(args), dict(kwargs)
