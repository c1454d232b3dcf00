"""The ``vllm`` profile where vLLM is importable: every setting taken from vLLM itself.

Same path as ``compile/profile.py`` (split and key inside the Dynamo backend, on
lazy pieces, in vLLM's order), but nothing is mirrored that vLLM can say for
itself (``compile/live.py`` makes the calls):

- the ``VllmConfig`` from ``--vllm-config`` (vLLM's defaults otherwise), built
  before the model so that a ``@support_torch_compile`` model sees it, as it
  does under ``set_current_vllm_config`` in vLLM;
- ``config_patches``: ``VllmBackend.inductor_config`` after
  ``configure_post_pass()``, with ``set_inductor_config`` for single sizes;
- around each compile: ``CompilerManager.compile_context(range)`` (its
  ``pass_context``), the functorch flags of the mode (``vllm.envs``), and
  ``autograd_cache_normalize_inputs``;
- splitting ops, compile ranges and sizes from the config; dims marked dynamic
  as the model's ``@support_torch_compile`` marks them;
- the hash folder and the AOT-compile folder, from vLLM's factor functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from cachekey_cli.analysis.profiles.profile import CaptureStyle, flat_settings
from cachekey_cli.errors import InputError, UsageError
from cachekey_cli.results import ProfileInfo
from cachekey_cli.vllm import probe
from cachekey_cli.vllm.compile.live import Live
from cachekey_cli.vllm.compile.mode import CacheMode
from cachekey_cli.vllm.compile.profile import VllmProfile
from cachekey_cli.vllm.config import from_file, from_serve
from cachekey_cli.vllm.records import INDEX_SETTING, NO_INDEX


class InstalledVllmProfile(VllmProfile):
    """Keys as the installed vLLM computes them; ready once ``session()`` has run."""

    def __init__(self, version: str, config_path: str | None, serve: Any = None) -> None:
        super().__init__()
        self.version = version
        self.config_path = config_path
        self.serve = serve  # a from_serve.ServeSpec for vllm: models
        self.served: Any = None  # the from_serve.Serve built from it
        self.build_changes: tuple[str, ...] = ()  # what the model build changed (models.py)
        # the model is decorated use_aot_compile=False: vLLM files no index and no artifacts
        self.files_no_index = False
        self.live: Any = None
        self.notes: tuple[str, ...] = ()
        self.unmirrored: list[str] = []  # set-ups vLLM supports that these keys do not follow
        self.origin = "vLLM config"

    # --- set-up, before the model is built ---------------------------------------------

    def session(self, split_ops: Sequence[str], origin: str,
                compile_sizes: Sequence[int]) -> AbstractContextManager[None]:
        """Build the config (the model's SPLIT_OPS/--split-op and --compile-size fill in what
        the file leaves unset) and make it vLLM's current config.

        Building a ``VllmConfig`` sets environment variables (platform defaults, e.g. on
        vLLM's CPU platform), which are compile factors: they stay for the session, as in
        the server's process, and the environment is put back when it ends, so that a
        second analysis in the same process starts from the same environment."""
        saved = dict(os.environ)
        try:
            inner = self._session(split_ops, origin, compile_sizes)
        except BaseException:
            _restore(saved)
            raise
        return _environ_restored(saved, inner)

    def _session(self, split_ops: Sequence[str], origin: str,
                 compile_sizes: Sequence[int]) -> AbstractContextManager[None]:
        fill: dict[str, Any] = {}
        if origin != "default":
            fill["splitting_ops"] = list(split_ops)
        if compile_sizes:
            fill["compile_sizes"] = list(compile_sizes)
        notes: tuple[str, ...] = ()
        if self.serve is not None:
            if compile_sizes:  # a vllm: model has no SPLIT_OPS; sizes belong to vLLM's config
                raise UsageError("--compile-size on a vllm: model",
                                 "give vllm serve's own -cc.compile_sizes (or "
                                 "--compilation-config) after --")
            self.served = from_serve.build_config(self.serve)
            config = self.served.config
        else:
            config, notes = from_file.build_config(self.config_path, fill)
        for key, value in fill.items():
            have = getattr(config.compilation_config, key)
            if key == "compile_sizes" and sorted(have or ()) != sorted(value):
                raise UsageError(f"--compile-size {value} and compilation_config.compile_sizes "
                                 f"{have} disagree", "give the sizes in one place")
            if key == "splitting_ops" and list(have or ()) != value:
                error = UsageError if origin.startswith("--") else InputError  # option or file
                raise error(f"{origin} {value} and compilation_config.splitting_ops "
                            f"{have} disagree", "give the splitting ops in one place")
        self.live = Live(config, own_model=self.serve is not None,
                                   platform=self.served.platform if self.served else None)
        self.origin = f"{origin}, as compilation_config.splitting_ops" if "splitting_ops" in fill \
            else "compilation_config.splitting_ops"
        self.mode = CacheMode(self.live.aot_compile, self.live.mega, self.live.standalone,
                              self.live.cache_disabled)
        ranges = self.live.ranges()
        if len(ranges) != 1:
            raise InputError(
                f"this config compiles {len(ranges)} ranges {ranges}; cachekey keys one",
                "drop compilation_config.compile_ranges_endpoints, or turn off the pass_config "
                "fusion that adds range endpoints (vLLM adds them for fuse_allreduce_rms and "
                "fuse_rope_kvcache)")
        self.range = ranges[0]
        if self.live.dynamic_shapes_type() != "backed":
            self.unmirrored.append(
                f"dynamic_shapes_config.type={self.live.dynamic_shapes_type()} (dims are "
                "marked backed here, vLLM's default)")
        if not self.mode.standalone:
            self.unmirrored.append("VLLM_USE_STANDALONE_COMPILE=0: vLLM's older "
                                   "InductorAdaptor (keys here are InductorStandaloneAdaptor's)")
        self.notes = notes
        return self.live.session()  # type: ignore[no-any-return]

    def split_ops(self) -> tuple[tuple[str, ...], str, tuple[Any, ...]] | None:
        """vLLM's splitting ops, matched by vLLM's ``should_split`` (names, registered or not)."""
        from cachekey_cli.analysis.split_ops import SplitOp

        names = tuple(self.live.splitting_ops())
        ops = tuple(SplitOp(n, None, self.live.should_split(n)) for n in names)
        return names, self.origin, ops

    def verify_blocker(self) -> str | None:
        return probe.missing_kernels()

    def compile_sizes(self, asked: Sequence[int]) -> tuple[int, ...]:
        return tuple(sorted(set(self.live.sizes())))

    def model_built(self, module: Any) -> None:
        if getattr(module, "_allow_aot_compile", True) is not False:  # the decorator's flag
            return
        if self.serve is None or not self.live.release.backend_aot_flag:
            self.unmirrored.append(
                "@support_torch_compile(use_aot_compile=False) on the model (keys here "
                "assume the decorator's default, use_aot_compile=True)")
            return
        # vLLM's own model decorated use_aot_compile=False (its Transformers backend):
        # vLLM's backend, mode and functorch flags for that flag
        self.live.allow_aot(False)
        self.files_no_index = True
        self.mode = CacheMode(self.live.aot_compile, self.live.mega, self.live.standalone,
                              self.live.cache_disabled)
        self.notes = (*self.notes, f"{type(module).__name__} is decorated "
                      "@support_torch_compile(use_aot_compile=False) (vLLM's Transformers "
                      "backend): no AOT-compiled model, no index and no artifacts; the pieces "
                      "are in the hash folder's inductor_cache")

    def built_as(self, changes: tuple[str, ...], differs: tuple[str, ...] = ()) -> None:
        self.build_changes = tuple(changes)
        self.unmirrored.extend(differs)

    def dynamic_dims(self, module: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any] | None = None) -> tuple[str, ...] | None:
        """``ARG:DIM`` for the dims the model's ``@support_torch_compile`` marks, if decorated,
        bound to the call as ``_mark_dynamic_inputs`` binds it (keywords included; a negative
        dim counts from the end). Dims the decorator marks unbacked (``mark_unbacked_dims``)
        are marked backed here."""
        import inspect

        import torch

        dims = getattr(module, "_dynamic_arg_dims", None)  # set by the decorator's __init__
        forward = getattr(type(module), "forward", None)
        if not dims or forward is None:
            return None
        bound = inspect.signature(forward).bind(module, *args, **(kwargs or {}))
        positional = list(bound.arguments)[1:1 + len(args)]  # the names given positionally
        out = []
        for name, value in dims.items():
            arg = bound.arguments.get(name)
            if value is None or not isinstance(arg, torch.Tensor):
                continue  # vLLM marks only the tensors the call passes
            where: int | str = positional.index(name) if name in positional else name
            for dim in ([value] if isinstance(value, int) else list(value)):  # dict: its dims
                out.append(f"{where}:{dim % arg.ndim}")
        return tuple(out)

    # --- the compile path ----------------------------------------------------------------

    def capture_style(self) -> CaptureStyle:
        style = super().capture_style()
        return CaptureStyle(style.fullgraph, style.dynamic, style.aot_compile,
                            scope=self.live.capture_scope)

    def backend_entered(self) -> None:
        self.live.backend_entered()

    def _set_functorch_config(self) -> dict[str, Any]:
        return self.live.functorch_overrides()  # vLLM's own _get_vllm_functorch_config

    def _live_setting(self, start: int, end: int, fake_mode: Any, label: str) -> Any:
        return self._key_setting(start == end, self.live.inductor_patches(start, end), fake_mode,
                                 label, self.live.compile_scope(start, end))

    def range_setting(self, devices: Sequence[str], context: Any) -> Any:
        start, end = self.range
        return self._live_setting(start, end, None, f"range [{start}, {end}]")

    def size_setting(self, size: int, fake_mode: Any, devices: Sequence[str]) -> Any:
        return self._live_setting(size, size, fake_mode, f"size {size}")

    def info(self, devices: Sequence[str], compile_sizes: Sequence[int],
             traced: set[str] | None = None) -> ProfileInfo:
        start, end = self.range
        setting = self.range_setting(devices, None)
        shown = {k: self._describe(v, start, end) for k, v in setting.inductor.items()}
        settings = flat_settings(setting)
        settings.update({f"inductor.{k}": v for k, v in shown.items()})
        hash_folder, aot_folder, factors = self.live.folders(traced or set())
        notes = list(self.notes)
        settings.update(self._served_settings())
        if self.mode.cache_disabled:
            notes.append("VLLM_DISABLE_COMPILE_CACHE=1: vLLM files no artifact under these keys")
        if self.files_no_index:
            settings[INDEX_SETTING] = NO_INDEX
        return ProfileInfo(
            name=self.name,
            client=f"vLLM {self.version} (importable)",
            cache_mode=self.mode.name,
            compile_range=f"[{start}, {end}]",
            compile_sizes=tuple(compile_sizes),
            settings=dict(sorted(settings.items())),
            not_reproduced=tuple(self.unmirrored),
            notes=tuple(notes),
            vllm_version=self.version,
            hash_folder=hash_folder,
            aot_compile_folder=aot_folder if self.mode.aot_compile else None,
            folder_factors=factors,
            raw_factors=dict(self.live.raw_factors),
        )

    def _served_settings(self) -> dict[str, str]:
        """For a vllm: model: the platform keyed, and what was changed to key it."""
        served = self.served
        if served is None:
            return {}
        out = {"platform": served.platform if served.platform == served.host else
               f"{served.platform} (keyed on this {served.host} host)"}
        for i, change in enumerate((*served.overrides, *self.build_changes)):
            out[f"platform.override.{i}"] = change
        if served.platform != served.host:
            out["platform.differs"] = (
                "the inputs are on the CPU here, and the device is part of every AOT key; "
                "Inductor's device-specific config (Triton, CUDA graphs) is not applied: a "
                "real GPU run files other keys, this run shows which pieces and factors move")
        return out

    def _describe(self, value: Any, start: int, end: int) -> str:
        """A config value for reports: vLLM's pass manager by its uuid, which reads the
        range's pass context; an object without a repr of its own by its class name."""
        if type(value).__name__ == "PostGradPassManager":
            with self.live.compile_scope(start, end)():
                return f"PostGradPassManager(uuid={value.uuid()})"
        if type(value).__repr__ is object.__repr__:
            return type(value).__name__
        return repr(value)

    def warnings(self) -> list[str]:
        from cachekey_cli.vllm import releases

        assumed = releases.resolve(self.version).assumed
        return [assumed] if assumed else []


def _restore(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


@contextmanager
def _environ_restored(saved: dict[str, str], inner: AbstractContextManager[None]) -> Iterator[None]:
    try:
        with inner:
            yield
    finally:
        _restore(saved)
