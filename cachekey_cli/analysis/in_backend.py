"""The work done inside the Dynamo backend call: split each graph, key its pieces.

This is where the client does it, so the pieces see what they see there:
Dynamo's tracing context and fake values, lazy graph modules. The order
matters too. Pieces with symbolic sizes share Dynamo's ShapeEnv, and every
compile leaves state in it (cached expressions), which shifts the node names of
later pieces' post-grad graphs and so their FX keys. So the ``tuple_return``
pieces, vLLM's own split, are keyed first and in vLLM's order; the ``plain``
pieces of a graph with symbolic inputs wait for a fresh trace of their own
(``second_pass``), as a vLLM that split without ``tuple_return`` would compile
them in a fresh process, unless they compile for vLLM's mega artifact, which
has no FX key to shift. Static pieces do not depend on the order.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cachekey_cli.errors import InputError, exception_line

Progress = Callable[[str, int, int], None]


@dataclass
class BackendWork:
    profile: Any
    ops: tuple[Any, ...]
    impl: str
    overrides: dict[str, dict[str, Any]]
    compile_sizes: tuple[int, ...]
    keyer: Any
    progress: Progress
    results: dict[tuple[int, str, str], Any] = field(default_factory=dict)
    raw: dict[tuple[int, str, str], Any] = field(default_factory=dict)
    sizes: dict[tuple[int, str, int], Any] = field(default_factory=dict)
    pieces: dict[int, Any] = field(default_factory=dict)  # graph index -> (capture, variants)
    matched: set[str] = field(default_factory=set)
    devices: set[str] = field(default_factory=set)
    deferred: set[int] = field(default_factory=set)  # graphs whose plain pieces wait
    second_pass: bool = False
    # Dynamo's value-baking settings as in force inside the backend call, where the
    # client's torch.compile arguments apply (vLLM's dynamic=False pins some of them)
    dynamo_config: dict[str, str] = field(default_factory=dict)
    split_seconds: float = 0.0
    key_seconds: float = 0.0

    def reset(self) -> None:
        """Forget a capture that failed part-way (it is about to be retried)."""
        for store in (self.results, self.raw, self.sizes, self.pieces):
            store.clear()
        self.matched.clear()
        self.deferred.clear()
        self.dynamo_config.clear()

    def on_graph(self, cap: Any, example_inputs: list[Any]) -> None:
        if self.second_pass and cap.index not in self.deferred:
            return
        from cachekey_cli import torchapi
        from cachekey_cli.analysis import split

        start = time.perf_counter()
        self.profile.backend_entered()  # where vLLM hashes its folder's factors
        if not self.dynamo_config:
            self.dynamo_config.update(torchapi.dynamo_settings())
        devices = {x.device.type for x in example_inputs if hasattr(x, "device")}
        self.devices |= devices
        setting = self._setting(self.profile.range_setting(sorted(devices), cap.context))
        if self.profile.splits:
            self.matched |= split.matched_ops(cap.gm, self.ops)
            try:
                plain, tupled = split.split_variants(cap.gm, self.ops, self.impl, setting)
            except (AssertionError, RuntimeError, KeyError) as exc:
                raise InputError(
                    f"vLLM's split of graph g{cap.index} fails: {exception_line(exc)}",
                    "vLLM 0.33.0's split_graph fails the same way on this graph; "
                    "--profile torch-compile keys it unsplit",
                ) from exc
        else:
            tupled = split.whole_graph(cap.gm, tuple(example_inputs), setting)
            plain = dataclasses.replace(tupled, variant="plain")
        self.split_seconds += time.perf_counter() - start
        start = time.perf_counter()
        if self.second_pass:
            first, (_, tupled) = self.pieces[cap.index]
            self._key(cap.index, plain)
            self.pieces[cap.index] = (first, (plain, tupled))
        else:
            self._key(cap.index, tupled, sizes=sorted(devices))
            if self.profile.splits and _symbolic(plain) and not _bundled(plain):
                self.deferred.add(cap.index)
            else:
                self._key(cap.index, plain)
            self.pieces[cap.index] = (cap, (plain, tupled))
        self.key_seconds += time.perf_counter() - start

    def _setting(self, setting: Any) -> Any:
        """The user's --inductor-config/--functorch-config win over the profile's settings."""
        return with_overrides(setting, self.overrides)

    def _key(self, graph: int, variant: Any, sizes: list[str] | None = None) -> None:
        from cachekey_cli import torchapi

        todo = variant.pieces
        for i, raw in enumerate(todo):
            self.progress("key", i, len(todo))
            if sizes is not None and not raw.splitting_op and self.profile.splits:
                # PiecewiseBackend compiles a piece's single sizes before its range
                for size in self.compile_sizes:
                    inputs, fake_mode = torchapi.concrete_inputs(raw.gm, size)
                    sized = dataclasses.replace(
                        raw,
                        inputs=tuple(inputs),
                        setting=self._setting(self.profile.size_setting(size, fake_mode, sizes)),
                    )
                    self.sizes[(graph, raw.name, size)] = self.keyer.key_piece(
                        sized, f"size {size}"
                    )
            self.results[(graph, raw.name, variant.variant)] = self.keyer.key_piece(
                raw, variant.variant
            )
            self.raw[(graph, raw.name, variant.variant)] = raw
        self.progress("key", len(todo), len(todo))


def with_overrides(setting: Any, overrides: dict[str, dict[str, Any]]) -> Any:
    return dataclasses.replace(
        setting,
        inductor={**setting.inductor, **overrides["inductor"]},
        functorch={**setting.functorch, **overrides["functorch"]},
    )


def _bundled(variant: Any) -> bool:
    """Every piece compiles for a bundled AOT entry (vLLM's mega artifact): no FX key of its
    own, and the AOT key does not read the ShapeEnv state earlier compiles leave (checked:
    the plain pieces' AOT keys are the same keyed in the first trace or a fresh one), so
    the plain pieces need no second trace."""
    return all(raw.setting is not None and raw.setting.aot for raw in variant.pieces
               if not raw.splitting_op)


def _symbolic(variant: Any) -> bool:
    from cachekey_cli import torchapi

    return any(torchapi.has_symbolic_inputs(raw.inputs) for raw in variant.pieces)
