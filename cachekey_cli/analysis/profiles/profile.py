"""What every profile answers: whether to split, and the setting each unit is keyed in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


class Profile:
    """A client's compile path. Subclasses fill in the details; instances are stateless."""

    name = ""
    splits = True  # split each Dynamo graph at the splitting ops (vLLM), or keep it whole

    def capture_style(self) -> CaptureStyle:
        return CaptureStyle()

    def range_setting(self, devices: Sequence[str], context: Any) -> Any:
        """The KeySetting of the general-shape compile of one unit."""
        raise NotImplementedError

    def size_setting(self, size: int, fake_mode: Any, devices: Sequence[str]) -> Any:
        """The KeySetting of a single-size compile, for clients that have them."""
        raise NotImplementedError

    def info(self, devices: Sequence[str], compile_sizes: Sequence[int]) -> ProfileInfo:
        raise NotImplementedError


def flat_settings(setting: Any, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    """A KeySetting as ``name -> repr`` pairs, for reports and snapshots."""
    out = {
        "standalone_compile.dynamic_shapes": setting.dynamic_shapes,
        "standalone_compile.aot": repr(setting.aot),
        "standalone_compile.donate_graph_module": repr(setting.donate),
    }
    out.update({f"inductor.{k}": repr(v) for k, v in sorted(setting.inductor.items())})
    out.update({f"functorch.{k}": repr(v) for k, v in sorted(setting.functorch.items())})
    out.update({k: repr(v) for k, v in (extra or {}).items()})
    return dict(sorted(out.items()))
