"""Profiles: which client's compile path the keys are taken on.

A profile says whether a Dynamo graph is split, and in which ``KeySetting``
(standalone_compile arguments, Inductor and functorch config) each unit is
keyed, so that the keys are the ones that client files its artifacts under.

- ``vllm`` (the default): vLLM's piecewise path, split and keyed inside the
  Dynamo backend: on the torch side where vLLM is not importable
  (``profiles/vllm.py``, with its cache modes in ``profiles/vllm_mode.py``),
  with vLLM's own settings where it is (``profiles/vllm_installed.py``, which
  reaches vLLM through ``profiles/vllm_live.py`` and ``profiles/vllm_config.py``, the
  modules importing it).
- ``torch-compile``: ``torch.compile(model)`` with the Inductor backend, one
  compiled unit per Dynamo graph (``profiles/torch_compile.py``).
"""

from __future__ import annotations

import os
from typing import Any

from cachekey_cli.analysis.profiles.profile import Profile, ProfileInfo
from cachekey_cli.errors import InputError, UsageError

NAMES = ("vllm", "torch-compile")
DEFAULT = "vllm"
# set to 1, the vllm profile keys on the torch side even where vLLM is importable
TORCH_SIDE_VARIABLE = "CACHEKEY_VLLM_TORCH_SIDE"

__all__ = ["DEFAULT", "NAMES", "Profile", "ProfileInfo", "get"]


def get(name: str, vllm_config: str | None = None, serve: Any = None) -> Profile:
    """The profile called ``name``; a usage error that lists the names otherwise.

    ``vllm`` takes its settings from vLLM itself where ``import vllm`` works
    (``vllm_installed``), and mirrors them on the torch side elsewhere.
    ``vllm_config`` (``--vllm-config``) needs vLLM.
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
    from cachekey_cli.analysis.profiles import vllm_live

    if serve is not None:
        _choose_vllm_platform()
    torch_side = os.environ.get(TORCH_SIDE_VARIABLE) == "1"  # e.g. for a baseline taken
    found = vllm_live.Probe(None) if torch_side else vllm_live.probe()  # where vLLM is absent
    if found.version is not None:
        from cachekey_cli.analysis.profiles.vllm_installed import InstalledVllmProfile

        return InstalledVllmProfile(found.version, vllm_config, serve)
    if serve is not None:
        from cachekey_cli.analysis.vllm_models import NEEDS

        reason = (f"{TORCH_SIDE_VARIABLE}=1 keys on the torch side" if torch_side else
                  f"import vllm fails: {found.error}" if found.error else "it is not installed")
        raise InputError(f"{NEEDS}, and {reason}",
                         "run cachekey where vLLM is installed (pip install vllm==0.33.0)")
    if vllm_config is not None:
        reason = (f"{TORCH_SIDE_VARIABLE}=1 keys on the torch side" if torch_side else
                  f"import vllm fails: {found.error}" if found.error else "vLLM is not installed")
        raise InputError(f"--vllm-config needs vLLM, and {reason}",
                         "run cachekey where vLLM is installed, or drop --vllm-config")
    from cachekey_cli.analysis.profiles.vllm import VllmProfile

    profile = VllmProfile(import_error=found.error)
    profile.torch_side_asked = torch_side
    return profile


def _choose_vllm_platform() -> None:
    """Without an accelerator vLLM finds no platform (``Device string must not be empty``)
    unless told: ``VLLM_TARGET_DEVICE=cpu``, as a CPU-only host is served. Set before vLLM
    is imported, and only where the user left it unset."""
    if os.environ.get("VLLM_TARGET_DEVICE"):
        return
    import torch

    if not torch.cuda.is_available():
        os.environ["VLLM_TARGET_DEVICE"] = "cpu"
