"""Dynamic dimensions: ``--dynamic-dim ARG:DIM`` and a model file's ``DYNAMIC_DIMS``.

ARG is a positional index into the factory's args (``0``) or a keyword name
(``input_ids``); DIM is a dimension of that tensor, negative counting from the
end. Each one is marked with ``torch._dynamo.mark_dynamic`` before capture, as
vLLM's ``@support_torch_compile`` marks the token dimension of its inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cachekey_cli.errors import InputError, UsageError


@dataclass(frozen=True)
class DynamicDim:
    arg: int | str  # positional index or keyword name
    dim: int

    @property
    def text(self) -> str:
        return f"{self.arg}:{self.dim}"


def parse(text: str, origin: str = "--dynamic-dim") -> DynamicDim:
    """``ARG:DIM`` -> DynamicDim; a usage error (exit 2) for bad syntax on the command line."""
    error = UsageError if origin == "--dynamic-dim" else InputError
    arg, sep, dim = text.strip().rpartition(":")
    if not sep or not arg or not _is_int(dim):
        raise error(
            f"{origin} {text!r} is not ARG:DIM",
            "e.g. --dynamic-dim 0:1 (positional arg 0, dimension 1) or input_ids:0",
        )
    if _is_int(arg):
        return DynamicDim(int(arg), int(dim))
    if not arg.isidentifier():
        raise error(f"{origin} {text!r}: {arg!r} is neither an index nor a keyword name",
                    "use a positional index or the keyword argument's name")
    return DynamicDim(arg, int(dim))


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def resolve(asked: Sequence[str], model: Any, profile: Any = None) -> tuple[DynamicDim, ...]:
    """--dynamic-dim (``asked``), else the model file's DYNAMIC_DIMS, else what the client
    marks itself (the profile's ``dynamic_dims``)."""
    if asked:
        return tuple(parse(t) for t in asked)
    if model.dynamic_dims is not None:
        return from_model_file(model.dynamic_dims, model.spec.target)
    own = profile.dynamic_dims(model.module, model.args, model.kwargs) \
        if profile is not None else None
    return tuple(parse(t, "@support_torch_compile") for t in own or ())


def from_model_file(value: Any, source: str) -> tuple[DynamicDim, ...]:
    """A model file's ``DYNAMIC_DIMS``: a list of ``"ARG:DIM"`` strings."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InputError(f"DYNAMIC_DIMS in {source} must be a list of 'ARG:DIM' strings",
                         'e.g. DYNAMIC_DIMS = ["0:1"]')
    items = list(value)
    if not all(isinstance(v, str) for v in items):
        raise InputError(f"DYNAMIC_DIMS in {source} must be a list of 'ARG:DIM' strings",
                         'e.g. DYNAMIC_DIMS = ["0:1"]')
    return tuple(parse(v, f"DYNAMIC_DIMS in {source}:") for v in items)


def mark(dims: Iterable[DynamicDim], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Mark each dimension dynamic on the example inputs; input errors name the culprit."""
    import torch

    for d in dims:
        if isinstance(d.arg, int):
            if not -len(args) <= d.arg < len(args):
                raise InputError(f"dynamic dim {d.text}: the factory returns {len(args)} "
                                 "positional args", "pick an index that exists")
            value = args[d.arg]
        else:
            if d.arg not in kwargs:
                names = ", ".join(sorted(kwargs)) or "none"
                raise InputError(f"dynamic dim {d.text}: no keyword argument {d.arg!r}",
                                 f"keyword args: {names}")
            value = kwargs[d.arg]
        if not isinstance(value, torch.Tensor):
            raise InputError(f"dynamic dim {d.text}: argument is a {type(value).__name__}, "
                             "not a tensor", "mark a tensor argument")
        if not -value.dim() <= d.dim < value.dim():
            raise InputError(f"dynamic dim {d.text}: the tensor has {value.dim()} dimensions",
                             "pick a dimension that exists")
        torch._dynamo.mark_dynamic(value, d.dim % value.dim())
