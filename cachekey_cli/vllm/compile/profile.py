"""The ``vllm`` profile: vLLM 0.33.0's piecewise compile path, on the torch side.

What vLLM does, and where (all under ``vllm/compilation/`` of v0.33.0):

- ``backends.py``, ``VllmBackend.__call__``: inside the Dynamo backend,
  ``split_graph`` splits the graph (``split_module(..., keep_original_order=True,
  tuple_return=True)`` under ``_use_lazy_graph_module(True)``), and
  ``PiecewiseCompileInterpreter`` hands every piece that is not a splitting op
  to ``PiecewiseBackend`` with Dynamo's fake example values.
- ``piecewise_backend.py``: the general-shape range is compiled with the fake
  values of the piece's placeholders; a single size with concrete fake inputs.
- ``backends.py``, ``CompilerManager.compile``: under the range's pass context
  and ``autograd_cache_normalize_inputs=True``.
- ``compiler_interface.py``, ``InductorStandaloneAdaptor.compile``:
  ``standalone_compile(piece, inputs, dynamic_shapes="from_graph"`` for a range
  or ``"from_example_inputs"`` for one size, ``options={"config_patches": ...},
  donate_graph_module=True`` on torch >= 2.13, ``aot=True`` in the mega mode),
  under the mode's functorch flags.
- ``config/compilation.py`` and ``backends.py`` (``configure_post_pass``): the
  config patches. ``enable_auto_functionalized_v2=False`` and
  ``_cache_config_ignore_prefix`` are reproduced here; the ``PostGradPassManager``
  in ``post_grad_custom_post_pass`` needs vLLM itself (``compile/installed.py``,
  used instead of this profile wherever ``import vllm`` works).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cachekey_cli.analysis.profiles.profile import CaptureStyle, Profile, flat_settings
from cachekey_cli.results import ProfileInfo
from cachekey_cli.vllm.compile.mode import CacheMode, read_mode, single_size_tuning

VLLM_MIRRORED = "0.33.0"
COMPILE_RANGE = "[1, max_num_batched_tokens]"
NOT_REPRODUCED = (
    "post_grad_custom_post_pass: vLLM's PostGradPassManager (its uuid hashes vLLM's pass "
    "classes, pass config and compile range)",
)
PRE_GRAD_PASS_KEY = "pre_grad_custom_pass"  # vLLM's pre-grad pass, kept out of the AOT key

# The functorch flags torch's aot_compile sets around the backend call
# (torch/_dynamo/aot_compile.py), which vLLM's AOT-compile modes go through.
AOT_COMPILE_FLAGS = {
    "strict_autograd_cache": True,
    "bypass_autograd_cache_key": True,
    "bundled_autograd_cache": True,
    "force_non_lazy_backward_lowering": True,
    "force_autograd_cache": True,
}


class VllmProfile(Profile):
    name = "vllm"
    splits = True

    def __init__(self, import_error: str | None = None) -> None:
        from cachekey_cli import torchapi

        self.release = torchapi.torch_release()
        self.mode: CacheMode = read_mode(self.release)
        self.import_error = import_error  # vLLM installed, but ``import vllm`` failed
        self.torch_side_asked = False  # CACHEKEY_VLLM_TORCH_SIDE=1, whether vLLM is there or not

    def capture_style(self) -> CaptureStyle:
        """``torch.compile(forward, fullgraph=True, dynamic=False)`` (``compilation/wrapper.py``),
        captured through ``aot_compile`` in the AOT-compile modes (``decorators.py``).

        The capture path matters beyond the graph: ``aot_compile`` leaves Dynamo's
        ShapeEnv in another state, and with symbolic sizes that shifts the node names
        in later pieces' post-grad graphs, so their FX keys.
        """
        return CaptureStyle(fullgraph=True, dynamic=False, aot_compile=self.mode.aot_compile)

    def _functorch(self) -> dict[str, Any]:
        """aot_compile's flags in the AOT-compile modes, then ``set_functorch_config``'s."""
        from cachekey_cli import torchapi

        flags: dict[str, Any] = dict(AOT_COMPILE_FLAGS) if self.mode.aot_compile else {}
        flags.update(self._set_functorch_config())
        flags["autograd_cache_normalize_inputs"] = True  # CompilerManager.compile
        return torchapi.known_functorch_flags(flags)

    def _set_functorch_config(self) -> dict[str, Any]:
        """vLLM's ``_get_vllm_functorch_config``, mirrored: the bundled cache is off outside the
        mega artifact."""
        return {} if self.mode.mega else {"bundled_autograd_cache": False}

    def _inductor(self, devices: Sequence[str], single_size: bool) -> dict[str, Any]:
        from cachekey_cli import torchapi

        patches: dict[str, Any] = {"enable_auto_functionalized_v2": False}
        ignore = list(torchapi.inductor_config_value("_cache_config_ignore_prefix"))
        patches["_cache_config_ignore_prefix"] = ignore + [PRE_GRAD_PASS_KEY]
        if any(d != "cpu" for d in devices):  # CompilationConfig.__post_init__, off on CPU
            deterministic = bool(torchapi.inductor_config_value("deterministic"))
            patches["combo_kernels"] = True
            patches["benchmark_combo_kernel"] = not deterministic
        if single_size:  # set_inductor_config
            patches.update(single_size_tuning())
        return patches

    def _setting(self, devices: Sequence[str], single: bool, fake_mode: Any, label: str) -> Any:
        return self._key_setting(single, self._inductor(devices, single), fake_mode, label)

    def _key_setting(self, single: bool, inductor: dict[str, Any], fake_mode: Any, label: str,
                     client_scope: Any = None) -> Any:
        """``standalone_compile``'s arguments as vLLM's adaptor passes them."""
        from cachekey_cli import torchapi

        return torchapi.KeySetting(
            dynamic_shapes="from_example_inputs" if single else "from_graph",
            aot=self.mode.mega,  # InductorStandaloneAdaptor: use_aot_compile and the variable
            donate=self.release >= (2, 13),
            inductor=inductor,
            functorch=self._functorch(),
            fake_mode=fake_mode,
            label=label,
            client_scope=client_scope,
        )

    def range_setting(self, devices: Sequence[str], context: Any) -> Any:
        return self._setting(devices, False, None, f"range {COMPILE_RANGE}")

    def size_setting(self, size: int, fake_mode: Any, devices: Sequence[str]) -> Any:
        return self._setting(devices, True, fake_mode, f"size {size}")

    def info(self, devices: Sequence[str], compile_sizes: Sequence[int],
             traced: set[str] | None = None) -> ProfileInfo:
        notes = []
        if not self.mode.standalone:
            notes.append(
                "VLLM_USE_STANDALONE_COMPILE=0 selects vLLM's older InductorAdaptor, which this "
                "profile does not mirror: keys are those of InductorStandaloneAdaptor"
            )
        if self.mode.cache_disabled:
            notes.append("VLLM_DISABLE_COMPILE_CACHE=1: vLLM files no artifact under these keys")
        if self.import_error:
            notes.append(f"vLLM is installed but import vllm fails ({self.import_error}): "
                         "keys are taken on the torch side")
        if self.torch_side_asked:
            notes.append("CACHEKEY_VLLM_TORCH_SIDE=1: keys are taken on the torch side, "
                         "whether vLLM is importable or not")
        return ProfileInfo(
            name=self.name,
            client=f"vLLM {VLLM_MIRRORED} (torch side; vLLM not importable)",
            cache_mode=self.mode.name,
            compile_range=COMPILE_RANGE,
            compile_sizes=tuple(compile_sizes),
            settings=flat_settings(self.range_setting(devices, None)),
            not_reproduced=NOT_REPRODUCED,
            notes=tuple(notes),
        )
