"""Readable values for key components that torch hashes but does not print in words.

Torch's debug lines show the ``gm`` component as the graph's code, yet the
graph module torch pickles also carries its tensor constants (``get_attr``
targets such as ``_tensor_constant0`` or, under freezing, ``_frozen_param0``),
and shows ``autograd_config`` (functorch's config) only as pickled bytes. These
helpers render what torch hashes there, using torch's own reducers, so a
changed constant or functorch flag can be named. They change display text
only, never a hash or a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import re
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch._functorch.config
import torch.fx

DIGEST = 8  # hex characters of a constant's value digest
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _pickler(gm: torch.fx.GraphModule) -> Any:
    from torch._inductor.codecache import FxGraphCachePickler

    return FxGraphCachePickler(gm)


def _aot_pickler(gm: torch.fx.GraphModule) -> Any:
    from torch._functorch._aot_autograd.autograd_cache import AOTAutogradCachePickler

    return AOTAutogradCachePickler(gm)


@contextlib.contextmanager
def saved_configs() -> Iterator[list[bytes]]:
    """Every config blob torch saves meanwhile (``autograd_config`` is functorch's
    ``save_config()`` taken inside the key function, under its own patches)."""
    cls: Any = type(torch._functorch.config)  # ConfigModule
    real = cls.save_config
    blobs: list[bytes] = []

    def spy(self: Any) -> bytes:
        blob: bytes = real(self)
        if self is torch._functorch.config:
            blobs.append(blob)
        return blob

    cls.save_config = spy
    try:
        yield blobs
    finally:
        cls.save_config = real


def functorch_config_value(component_hash: str, blobs: list[bytes]) -> str | None:
    """functorch's config as ``functorch_config(name=value, ...)``: the saved blob whose
    hash, as torch computes it, is the component's hash; None if none is."""
    empty = torch.fx.GraphModule({}, torch.fx.Graph())
    pickler = _pickler(empty)
    for blob in blobs:
        if pickler.get_hash(blob) == component_hash:
            entries = pickle.loads(blob)
            shown = ", ".join(
                f"{k}={_ADDRESS.sub('', repr(v))}" for k, v in sorted(entries.items())
            )
            return f"functorch_config({shown})"
    return None


def pretty_input(name: str) -> str:
    """Dynamo's placeholder name in source terms: ``l_self_modules_fc_parameters_weight_``
    → ``self.fc.weight``, ``l_x_`` → ``x``; other names (``s0``, ``add_2``) unchanged."""
    if not (name.startswith("l_") and name.endswith("_") and len(name) > 3):
        return name
    return re.sub(r"_(modules|parameters|buffers)_", ".", name[2:-1])


def input_names(gm: torch.fx.GraphModule) -> tuple[str, ...]:
    """The graph's placeholders, in order, named as in the user's source where possible."""
    return tuple(pretty_input(n.name) for n in gm.graph.find_nodes(op="placeholder"))


def constant_lines(
    gm: torch.fx.GraphModule, originals: Mapping[str, torch.Tensor] | None = None,
    key: str = "inductor_key",
) -> list[str]:
    """One line per tensor constant the graph reads with ``get_attr``, as torch hashes it
    for ``key``: Inductor's FX-graph pickler, or AOTAutograd's (``key="aot_key"``), which
    hashes every tensor attribute by shape and dtype only.

    ``# constant _tensor_constant0: float32[4] values 1a2b3c4d`` when torch's
    reducer puts the values in the key (with a digest of those values), or
    ``(metadata only)`` when it hashes shape and dtype alone (fake tensors,
    frozen parameters too large to inline). ``originals`` (name → tensor, e.g.
    the parameters of the graph before AOTAutograd) names a frozen parameter
    by the value it was made from.
    """
    from torch._inductor.codecache import TensorMetadataAndValues

    pickler = _pickler(gm) if key == "inductor_key" else _aot_pickler(gm)
    lines = []
    for node in gm.graph.find_nodes(op="get_attr"):
        value = _attr(gm, str(node.target))
        if not isinstance(value, torch.Tensor):
            continue
        reducer = pickler.dispatch_table.get(type(value))
        if reducer is None:
            continue
        try:
            _fn, (reduced,) = reducer(value)
        except Exception:  # torch refuses it (e.g. mkldnn): its key says so elsewhere
            continue
        dims = ", ".join(str(s) for s in value.shape)
        what = f"{str(value.dtype).removeprefix('torch.')}[{dims}]"
        origin = _origin(value, originals or {})
        label = f"{node.target} ({origin})" if origin else str(node.target)
        if isinstance(reduced, TensorMetadataAndValues):
            digest = hashlib.sha256(repr(reduced.values).encode()).hexdigest()[:DIGEST]
            lines.append(f"# constant {label}: {what} values {digest}")
        else:
            lines.append(f"# constant {label}: {what} (metadata only)")
    return lines


def _attr(gm: torch.fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _origin(value: torch.Tensor, originals: Mapping[str, torch.Tensor]) -> str | None:
    from torch._subclasses.fake_tensor import FakeTensor

    if isinstance(value, FakeTensor):
        return None
    for name, orig in originals.items():
        if isinstance(orig, FakeTensor) or orig.shape != value.shape or orig.dtype != value.dtype:
            continue
        try:
            if torch.equal(orig.detach(), value.detach()):
                if name.startswith("L__self___"):  # an attribute Dynamo installed (freezing)
                    return "self." + name[len("L__self___"):]
                return pretty_input(name)
        except Exception:
            continue
    return None


def with_constants(value: str | None, lines: list[str]) -> str | None:
    """A ``gm`` value with its constant lines appended (unchanged when there are none)."""
    if not lines or value is None:
        return value
    return value.rstrip() + "\n" + "\n".join(lines)


def graph_tensors(gm: torch.fx.GraphModule) -> dict[str, torch.Tensor]:
    """The real tensors a graph module holds (parameters, buffers, constants), by name."""
    out: dict[str, torch.Tensor] = {}
    for name, t in (*gm.named_parameters(), *gm.named_buffers()):
        out[name] = t
    for node in gm.graph.find_nodes(op="get_attr"):
        value = _attr(gm, str(node.target))
        if isinstance(value, torch.Tensor):
            out.setdefault(str(node.target), value)
    return out
