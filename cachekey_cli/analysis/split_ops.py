"""Splitting ops: the names a user gives, resolved to the torch objects a graph calls.

Resolution imports torch lazily, so naming the defaults costs nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cachekey_cli.errors import InputError

# The scaled-dot-product-attention family: the public function Dynamo records,
# and the aten ops it can appear as after decomposition or export.
DEFAULT_SPLIT_OPS = (
    "torch.nn.functional.scaled_dot_product_attention",
    "aten::scaled_dot_product_attention",
    "aten::_scaled_dot_product_flash_attention",
    "aten::_scaled_dot_product_flash_attention_for_cpu",
    "aten::_scaled_dot_product_efficient_attention",
    "aten::_scaled_dot_product_cudnn_attention",
)


@dataclass(frozen=True)
class SplitOp:
    name: str
    target: Any  # OpOverloadPacket, OpOverload or a Python callable
    # a client's own test of a graph node (vLLM's should_split, where vLLM is
    # installed: it matches op names, registered or not); None: match ``target``
    node_test: Callable[[Any], bool] | None = None

    def matches_node(self, node: Any) -> bool:
        if self.node_test is not None:
            return self.node_test(node)
        return node.op == "call_function" and self.matches(node.target)

    def matches(self, node_target: Any) -> bool:
        if node_target is self.target:
            return True
        # An overload spec also matches a call through its packet, and vice versa.
        packet = getattr(self.target, "overloadpacket", None)
        if packet is not None and node_target is packet:
            return True
        return getattr(node_target, "overloadpacket", None) is self.target


def resolve_split_op(name: str) -> SplitOp:
    import torch

    text = name.strip()
    if "::" in text:
        namespace, _, rest = text.partition("::")
        opname, _, overload = rest.partition(".")
        if not namespace or not opname:
            raise InputError(
                f"bad split op {name!r}", "use namespace::op or namespace::op.overload"
            )
        try:
            target: Any = getattr(getattr(torch.ops, namespace), opname)
            if overload:
                target = getattr(target, overload)
        except (AttributeError, RuntimeError) as exc:
            raise InputError(
                f"unknown split op {name!r}",
                "register it with torch.library before build() returns, or check the spelling",
            ) from exc
        return SplitOp(text, target)
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        raise InputError(
            f"bad split op {name!r}",
            "use namespace::op[.overload] or a dotted path such as "
            "torch.nn.functional.scaled_dot_product_attention",
        )
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            break
        return SplitOp(text, obj)
    raise InputError(f"unknown split op {name!r}", "the dotted path does not resolve to an object")


def resolve_split_ops(names: tuple[str, ...]) -> tuple[SplitOp, ...]:
    return tuple(resolve_split_op(n) for n in names)


def asked(option: Sequence[str], from_file: Sequence[str] | None) -> tuple[tuple[str, ...], str]:
    """The splitting ops asked for, and where from: --split-op, the model file's SPLIT_OPS,
    or the default."""
    if option:
        return tuple(option), "--split-op"
    if from_file is not None:
        return tuple(from_file), "SPLIT_OPS"
    return tuple(DEFAULT_SPLIT_OPS), "default"


def resolve_asked(names: tuple[str, ...], origin: str) -> tuple[SplitOp, ...]:
    """The ops ``asked`` names; of the default's, those this torch build has."""
    if origin != "default":
        return resolve_split_ops(names)
    ops = []
    for name in names:  # some SDPA variants are absent from some builds
        try:
            ops.append(resolve_split_op(name))
        except InputError:
            continue
    return tuple(ops)
