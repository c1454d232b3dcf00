"""Profiles: which client's compile path the keys are taken on.

A profile says whether a Dynamo graph is split, and in which ``KeySetting``
(standalone_compile arguments, Inductor and functorch config) each unit is
keyed, so that the keys are the ones that client files its artifacts under.

- ``vllm`` (the default): vLLM's piecewise path, split and keyed inside the
  Dynamo backend (``profiles/vllm.py``, with its cache modes in
  ``profiles/vllm_mode.py``).
- ``torch-compile``: ``torch.compile(model)`` with the Inductor backend, one
  compiled unit per Dynamo graph (``profiles/torch_compile.py``).
"""

from __future__ import annotations

from cachekey_cli.analysis.profiles.profile import Profile, ProfileInfo
from cachekey_cli.errors import UsageError

NAMES = ("vllm", "torch-compile")
DEFAULT = "vllm"

__all__ = ["DEFAULT", "NAMES", "Profile", "ProfileInfo", "get"]


def get(name: str) -> Profile:
    """The profile called ``name``; a usage error that lists the names otherwise."""
    if name == "vllm":
        from cachekey_cli.analysis.profiles.vllm import VllmProfile

        return VllmProfile()
    if name == "torch-compile":
        from cachekey_cli.analysis.profiles.torch_compile import TorchCompileProfile

        return TorchCompileProfile()
    raise UsageError(f"unknown profile {name!r}", f"use one of: {', '.join(NAMES)}")
