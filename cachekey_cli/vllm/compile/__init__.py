"""The ``vllm`` profile: vLLM's piecewise compile path, whose keys and folders cachekey mirrors.

``analysis/profiles`` picks it by name and ``profile_for`` says which of the two
it is: with vLLM's own settings where ``import vllm`` works (``installed``,
calling vLLM through ``live``), else on the torch side (``profile``, with the
cache mode from ``mode``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from cachekey_cli.errors import InputError

if TYPE_CHECKING:
    from cachekey_cli.analysis.profiles.profile import Profile

# set to 1, the vllm profile keys on the torch side even where vLLM is importable
TORCH_SIDE_VARIABLE = "CACHEKEY_VLLM_TORCH_SIDE"


def profile_for(vllm_config: str | None = None, serve: Any = None) -> Profile:
    """The ``vllm`` profile: vLLM's own settings where ``import vllm`` works (then
    ``vllm_config``, ``--vllm-config``, and ``serve``, a ``vllm:`` model's deployment, are
    built with vLLM's classes), mirrored on the torch side elsewhere (where both are an
    input error)."""
    from cachekey_cli.vllm import probe

    if serve is not None:
        _choose_platform()
    torch_side = os.environ.get(TORCH_SIDE_VARIABLE) == "1"  # e.g. for a baseline taken
    found = probe.Probe(None) if torch_side else probe.probe()  # where vLLM is absent
    if found.version is not None:
        from cachekey_cli.vllm.compile.installed import InstalledVllmProfile

        return InstalledVllmProfile(found.version, vllm_config, serve)
    if serve is not None:
        from cachekey_cli.vllm.models import NEEDS

        reason = (f"{TORCH_SIDE_VARIABLE}=1 keys on the torch side" if torch_side else
                  f"import vllm fails: {found.error}" if found.error else "it is not installed")
        raise InputError(f"{NEEDS}, and {reason}",
                         "run cachekey where vLLM is installed (pip install vllm==0.33.0)")
    if vllm_config is not None:
        reason = (f"{TORCH_SIDE_VARIABLE}=1 keys on the torch side" if torch_side else
                  f"import vllm fails: {found.error}" if found.error else "vLLM is not installed")
        raise InputError(f"--vllm-config needs vLLM, and {reason}",
                         "run cachekey where vLLM is installed, or drop --vllm-config")
    from cachekey_cli.vllm.compile.profile import VllmProfile

    profile = VllmProfile(import_error=found.error)
    profile.torch_side_asked = torch_side
    return profile


def _choose_platform() -> None:
    """Without an accelerator vLLM finds no platform (``Device string must not be empty``)
    unless told: ``VLLM_TARGET_DEVICE=cpu``, as a CPU-only host is served. Set before vLLM
    is imported, and only where the user left it unset."""
    if os.environ.get("VLLM_TARGET_DEVICE"):
        return
    import torch

    if not torch.cuda.is_available():
        os.environ["VLLM_TARGET_DEVICE"] = "cpu"
