"""What every profile answers: whether to split, and the setting each unit is keyed in."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from cachekey_cli.results import ProfileInfo

__all__ = ["CaptureStyle", "Profile", "ProfileInfo"]


@dataclass(frozen=True)
class CaptureStyle:
    """How the client hands the model to Dynamo: ``torch.compile``'s arguments, and whether
    the graph is captured by ``aot_compile`` (which compiles without running the model)."""

    fullgraph: bool = False
    dynamic: bool | None = None
    aot_compile: bool = False
    # the client's own context around torch.compile, given the function compiled
    scope: Callable[[Any], AbstractContextManager[Any]] | None = None


class Profile:
    """A client's compile path. Subclasses fill in the details; instances are stateless."""

    name = ""
    splits = True  # split each Dynamo graph at the splitting ops (vLLM), or keep it whole

    def capture_style(self) -> CaptureStyle:
        return CaptureStyle()

    def session(self, split_ops: Sequence[str], origin: str,
                compile_sizes: Sequence[int]) -> AbstractContextManager[None]:
        """The client's context while the model is built, traced and keyed (given the split
        ops asked for, where from, and the compile sizes)."""
        return contextlib.nullcontext()

    def split_ops(self) -> tuple[tuple[str, ...], str, tuple[Any, ...]] | None:
        """(names, origin, ops) when the client decides the splitting ops; None: cachekey's."""
        return None

    def compile_sizes(self, asked: Sequence[int]) -> tuple[int, ...]:
        return tuple(asked)

    def dynamic_dims(self, module: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any] | None = None) -> tuple[str, ...] | None:
        """``ARG:DIM`` the client marks on its own, when the user names none."""
        return None

    def model_built(self, module: Any) -> None:
        """The model as the factory built it, before capture (what it asks of the client)."""
        return None

    def built_as(self, changes: tuple[str, ...], differs: tuple[str, ...] = ()) -> None:
        """What building the model for the keyed platform changed (``vllm:`` models under
        ``--platform cuda``), and what that platform's graph would still have otherwise,
        for the report."""
        return None

    def verify_blocker(self) -> str | None:
        """Why a real compile on this path (``--verify``) cannot run here, if it cannot."""
        return None

    def backend_entered(self) -> None:
        """Called at each graph, inside the Dynamo backend call, before the split."""

    def warnings(self) -> list[str]:
        return []

    def range_setting(self, devices: Sequence[str], context: Any) -> Any:
        """The KeySetting of the general-shape compile of one unit."""
        raise NotImplementedError

    def size_setting(self, size: int, fake_mode: Any, devices: Sequence[str]) -> Any:
        """The KeySetting of a single-size compile, for clients that have them."""
        raise NotImplementedError

    def info(self, devices: Sequence[str], compile_sizes: Sequence[int],
             traced: set[str] | None = None) -> ProfileInfo:
        """What the keys were taken on; ``traced`` are the files Dynamo traced."""
        raise NotImplementedError


def flat_settings(setting: Any) -> dict[str, str]:
    """A KeySetting as ``name -> repr`` pairs, for reports and snapshots."""
    out = {
        "standalone_compile.dynamic_shapes": setting.dynamic_shapes,
        "standalone_compile.aot": repr(setting.aot),
        "standalone_compile.donate_graph_module": repr(setting.donate),
    }
    out.update({f"inductor.{k}": repr(v) for k, v in sorted(setting.inductor.items())})
    out.update({f"functorch.{k}": repr(v) for k, v in sorted(setting.functorch.items())})
    return dict(sorted(out.items()))
