"""Profiles: which client's compile path the keys are taken on.

A profile says whether a Dynamo graph is split, and in which ``KeySetting``
(standalone_compile arguments, Inductor and functorch config) each unit is
keyed, so that the keys are the ones that client files its artifacts under.

- ``vllm`` (the default): vLLM's piecewise path, split and keyed inside the
  Dynamo backend, in vLLM's room (``cachekey_cli/vllm/compile/``): on the torch
  side where vLLM is not importable, with vLLM's own settings where it is.
- ``torch-compile``: ``torch.compile(model)`` with the Inductor backend, one
  compiled unit per Dynamo graph (``profiles/torch_compile.py``).

Every profile is a ``profile.Profile``; ``session.Session`` chooses one for an analysis
and enters its session while the model is built.
"""

from __future__ import annotations

from typing import Any

from cachekey_cli.analysis.profiles.profile import Profile, ProfileInfo
from cachekey_cli.errors import UsageError

NAMES = ("vllm", "torch-compile")
DEFAULT = "vllm"

__all__ = ["DEFAULT", "NAMES", "Profile", "ProfileInfo", "get"]


def get(name: str, vllm_config: str | None = None, serve: Any = None) -> Profile:
    """The profile called ``name``; a usage error that lists the names otherwise.

    ``vllm`` takes its settings from vLLM itself where ``import vllm`` works, and
    mirrors them on the torch side elsewhere (``vllm.compile.profile_for``);
    ``vllm_config`` (``--vllm-config``) and ``serve`` (a ``vllm:`` model's deployment)
    are for it alone, and need vLLM.
    """
    if name not in NAMES:
        raise UsageError(f"unknown profile {name!r}", f"use one of: {', '.join(NAMES)}")
    if vllm_config is not None and name != "vllm":
        raise UsageError("--vllm-config is for --profile vllm", "drop it, or use --profile vllm")
    if serve is not None and name != "vllm":
        raise UsageError(f"a vllm: model is keyed by vLLM's own path, not --profile {name}",
                         "drop --profile")
    if name == "torch-compile":
        from cachekey_cli.analysis.profiles.torch_compile import TorchCompileProfile

        return TorchCompileProfile()
    from cachekey_cli.vllm.compile import profile_for

    return profile_for(vllm_config, serve)
