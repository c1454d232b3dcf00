"""vLLM's compile-cache mode, read from the environment variables vLLM reads.

Mirrors vLLM 0.33.0 (``vllm/envs.py``: ``use_aot_compile``,
``use_mega_aot_artifact``, ``disable_compile_cache`` and
``VLLM_USE_STANDALONE_COMPILE``), including its defaults, which depend on the
torch release. Torch-free apart from the release number passed in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

MODE_VARIABLES = (
    "VLLM_USE_AOT_COMPILE",
    "VLLM_USE_MEGA_AOT_ARTIFACT",
    "VLLM_USE_STANDALONE_COMPILE",
    "VLLM_DISABLE_COMPILE_CACHE",
)


@dataclass(frozen=True)
class CacheMode:
    aot_compile: bool  # the whole model goes through torch's aot_compile
    # VLLM_USE_MEGA_AOT_ARTIFACT: each piece is compiled with standalone_compile(aot=True) and
    # its AOT entry bundles Inductor's output. The backend reads it on its own, whatever
    # VLLM_USE_AOT_COMPILE says (``use_mega_artifact`` takes the decorator's flag, not the
    # variable); the one AOT-compiled model that holds every piece needs both.
    mega: bool
    standalone: bool  # InductorStandaloneAdaptor (the only adaptor we mirror)
    cache_disabled: bool

    @property
    def name(self) -> str:
        if self.aot_compile and self.mega:
            return "aot-compile+mega-artifact"
        if self.mega:  # pieces compiled as for the mega artifact, which nothing saves
            return "no aot-compile, mega-artifact pieces"
        if self.aot_compile:
            return "aot-compile, per-piece artifacts"
        return "no aot-compile, per-piece artifacts"


def read_mode(
    torch_release: tuple[int, int], environ: Mapping[str, str] | None = None
) -> CacheMode:
    env = os.environ if environ is None else environ
    cache_disabled = _int_flag(env.get("VLLM_DISABLE_COMPILE_CACHE", "0"))
    aot_default = "1" if torch_release >= (2, 10) and not cache_disabled else "0"
    aot = env.get("VLLM_USE_AOT_COMPILE", aot_default) == "1"
    mega_default = "1" if torch_release >= (2, 12) and aot else "0"
    mega = env.get("VLLM_USE_MEGA_AOT_ARTIFACT", mega_default) == "1"
    standalone = env.get("VLLM_USE_STANDALONE_COMPILE", "1") == "1"
    return CacheMode(aot, mega, standalone, cache_disabled)


def _int_flag(text: str) -> bool:
    try:
        return bool(int(text))
    except ValueError:
        return False


def single_size_tuning(environ: Mapping[str, str] | None = None) -> dict[str, bool]:
    """The Inductor tuning flags vLLM sets for a single-size compile (``set_inductor_config``)."""
    env = os.environ if environ is None else environ
    return {
        "max_autotune": bool(int(env.get("VLLM_ENABLE_INDUCTOR_MAX_AUTOTUNE", "1"))),
        "coordinate_descent_tuning": bool(
            int(env.get("VLLM_ENABLE_INDUCTOR_COORDINATE_DESCENT_TUNING", "1"))
        ),
    }
