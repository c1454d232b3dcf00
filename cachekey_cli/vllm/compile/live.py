"""vLLM's own compile set-up for one deployment, where vLLM is installed (``Live``).

Reached only once ``vllm/probe.py`` found vLLM; it imports vLLM inside its
functions. Where ``import vllm`` works, the ``vllm`` profile takes from vLLM's own
code everything that enters a piece's keys and the cache folder's name
(``compile/installed.py`` says which call does what):

- the ``VllmConfig``, built from ``--vllm-config`` with vLLM's config classes
  (``config/from_file.py``) or from ``vllm serve``'s arguments (``config/from_serve.py``);
- ``VllmBackend(vllm_config).configure_post_pass()``: the ``config_patches``,
  with the ``PostGradPassManager`` whose ``uuid()`` enters both keys;
- ``CompilerManager.compile_context(range)`` (``pass_context``) around each compile,
  ``set_inductor_config`` for single sizes, ``_get_vllm_functorch_config``;
- ``should_split`` to match splitting ops, and the mode from ``vllm.envs``;
- the folder factors: ``envs.compile_factors``, the config's and the compiler's
  factors (``compute_hash`` up to vLLM 0.33.0, ``compile_factors`` from 0.34.0),
  the code factor (0.34.0: ``get_code_factors(read_code_files(...))``),
  ``aot_compile_hash_factors``, ``_model_hash_key``.

Where the releases differ in how vLLM is called (a keyword the backend takes, a
factor function's name), the installed release's row in
``vllm/releases.py`` says which; a release newer than the newest row is
called like it, and the report says so.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from cachekey_cli.errors import InputError, exception_line
from cachekey_cli.vllm import releases


class Live:
    """One vLLM deployment's compile set-up: its config, backend and cache mode."""

    def __init__(self, config: Any, own_model: bool = False, platform: str | None = None
                 ) -> None:
        import vllm
        import vllm.envs as envs
        from vllm.compilation.compiler_interface import _get_vllm_functorch_config
        from vllm.config import CompilationMode, set_current_vllm_config

        self.version = str(vllm.__version__)
        self.release = releases.resolve(self.version).release
        self.config = config
        self.own_model = own_model  # vLLM's own model class: its forward needs the context
        self.compilation = config.compilation_config
        if self.compilation.mode != CompilationMode.VLLM_COMPILE and platform is not None:
            raise InputError(
                f"on this {platform} host vLLM compiles this deployment with "
                f"compilation_config.mode {self.compilation.mode.name} (its platform's "
                "choice): no piecewise split and no vLLM compile cache",
                "--platform cuda keys the piecewise path a CUDA deployment takes")
        if self.compilation.mode != CompilationMode.VLLM_COMPILE:
            raise InputError(
                f"compilation_config.mode is {self.compilation.mode.name}: vLLM compiles "
                "no pieces", "the vllm profile is VLLM_COMPILE (mode 3); plain torch.compile "
                "is --profile torch-compile")
        # @support_torch_compile(use_aot_compile=True), the decorator's default: the backend
        # files an index and per-piece artifacts even where VLLM_USE_AOT_COMPILE=0, which
        # only decides whether the model is captured through torch's aot_compile. A model
        # decorated use_aot_compile=False (the Transformers backend) files neither: its
        # backend is made again for that flag once the model is built (allow_aot)
        allowed = True
        self.aot_compile = allowed and bool(envs.VLLM_USE_AOT_COMPILE)
        self.standalone = bool(envs.VLLM_USE_STANDALONE_COMPILE)
        self.cache_disabled = bool(envs.VLLM_DISABLE_COMPILE_CACHE)
        self.factors: dict[str, str] = {}
        self.raw_factors: dict[str, Any] = {}  # a RAW release's env, config and compiler factors
        self.aot_folder: str | None = None
        # releases before the decorator's per-model opt-out take no use_aot_compile
        flag = {"use_aot_compile": allowed} if self.release.backend_aot_flag else {}
        with set_current_vllm_config(config):
            try:
                self.backend = self.compilation.init_backend(config, **flag)
            except Exception as exc:  # e.g. its assertion on the VLLM_USE_* combination
                raise InputError(f"vLLM refuses this set-up: {exception_line(exc)}",
                                 "fix the config or the VLLM_* variable vLLM names") from exc
            self.mega = bool(self.backend.use_mega_artifact if self.release.backend_aot_flag
                             else envs.VLLM_USE_MEGA_AOT_ARTIFACT)
            self.functorch = dict(_get_vllm_functorch_config(*flag.values()))
            try:
                self.backend.configure_post_pass()
            except Exception as exc:
                raise InputError(
                    f"vLLM's post-grad pass manager cannot be set up here: {exception_line(exc)}",
                    "turn the passes it names off in pass_config (--vllm-config)") from exc

    def allow_aot(self, allowed: bool) -> None:
        """The backend, mode and functorch flags for a model decorated
        ``@support_torch_compile(use_aot_compile=allowed)`` (a release whose backend takes
        the flag, ``release.backend_aot_flag``)."""
        import vllm.envs as envs
        from vllm.compilation.compiler_interface import _get_vllm_functorch_config
        from vllm.config import set_current_vllm_config

        with set_current_vllm_config(self.config):
            self.backend = self.compilation.init_backend(self.config, use_aot_compile=allowed)
            self.aot_compile = allowed and bool(envs.VLLM_USE_AOT_COMPILE)
            self.mega = bool(self.backend.use_mega_artifact)
            self.functorch = dict(_get_vllm_functorch_config(allowed))
            self.backend.configure_post_pass()

    # --- what vLLM compiles, and how -------------------------------------------------

    def ranges(self) -> list[tuple[int, int]]:
        return [(r.start, r.end) for r in self.compilation.get_compile_ranges()]

    def sizes(self) -> list[int]:
        return [int(s) for s in self.compilation.compile_sizes or ()]

    def splitting_ops(self) -> list[str]:
        return list(self.compilation.splitting_ops or ())

    def should_split(self, name: str) -> Any:
        from vllm.compilation.partition_rules import should_split

        return lambda node: bool(should_split(node, [name]))

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """vLLM's current config, as while it builds and runs the model."""
        from vllm.config import set_current_vllm_config

        with set_current_vllm_config(self.config):
            yield

    @contextlib.contextmanager
    def capture_scope(self, forward: Any) -> Iterator[None]:
        """What ``@support_torch_compile``'s first call puts around ``torch.compile``
        (decorators.py), after naming the AOT-compile folder as it does."""
        import torch
        import torch.fx.experimental._config as fx_config
        from vllm.compilation.caching import aot_compile_hash_factors
        from vllm.compilation.decorators import _model_hash_key
        from vllm.config.compilation import DynamicShapesType

        if self.aot_compile:
            factors = aot_compile_hash_factors(self.config)
            factors.append(_model_hash_key(forward))
            self.aot_folder = hashlib.sha256(str(factors).encode()).hexdigest()
        shapes = self.compilation.dynamic_shapes_config
        dynamo: dict[str, Any] = {}
        if hasattr(torch._dynamo.config, "enable_cpp_symbolic_shape_guards"):
            dynamo["enable_cpp_symbolic_shape_guards"] = False
        fx: dict[str, Any] = {}
        if shapes.type == DynamicShapesType.BACKED_SIZE_OBLIVIOUS:
            fx["backed_size_oblivious"] = True
        with contextlib.ExitStack() as stack:
            if self.own_model:  # vLLM's profiling run: attention without metadata
                from vllm.forward_context import set_forward_context

                stack.enter_context(set_forward_context(None, self.config))
            stack.enter_context(torch._dynamo.config.patch(dynamo))
            stack.enter_context(fx_config.patch(fx))  # type: ignore[attr-defined]
            if hasattr(torch._inductor.config, "assume_32bit_indexing"):
                stack.enter_context(torch._inductor.config.patch(
                    assume_32bit_indexing=shapes.assume_32_bit_indexing))
            yield

    def dynamic_shapes_type(self) -> str:
        return str(self.compilation.dynamic_shapes_config.type.value)

    def inductor_patches(self, start: int, end: int) -> dict[str, Any]:
        """``config_patches`` of one compile (``InductorStandaloneAdaptor.compile``)."""
        from vllm.compilation.compiler_interface import set_inductor_config
        from vllm.config.utils import Range

        patches = copy.copy(self.backend.inductor_config)
        set_inductor_config(patches, Range(start=start, end=end))
        return patches

    def functorch_overrides(self) -> dict[str, Any]:
        """``set_functorch_config``'s flags around every ``standalone_compile``."""
        return dict(self.functorch)

    def compile_scope(self, start: int, end: int) -> Any:
        """``CompilerManager.compile_context(range)``: vLLM's pass context for the range."""
        from vllm.config.utils import Range

        manager = self.backend.compiler_manager
        return lambda: manager.compile_context(Range(start=start, end=end))

    # --- the folders this deployment files under ---------------------------------------

    def backend_entered(self) -> None:
        """The factors ``VllmBackend.__call__`` hashes, taken where it takes them."""
        if self.factors:
            return
        import vllm.envs as envs
        from vllm.config.utils import hash_factors

        manager = self.backend.compiler_manager
        if self.release.factor_api == "compile_factors":  # 0.34.0: raw factors, all hashed
            from vllm.compilation.caching import compute_env_and_config_hashes

            env_hash, config_hash, env, config = compute_env_and_config_hashes(self.config)
            compiler = manager.compile_factors(self.config)
            # as cache_key_factors.json holds them (JSON: tuples become lists)
            self.raw_factors = json.loads(json.dumps(
                {"env": env, "config": config, "compiler": compiler}))
            self.factors = {"env_hash": env_hash, "config_hash": config_hash,
                            "compiler_hash": hash_factors(compiler)}
            return
        self.factors = {
            "env_hash": hash_factors(envs.compile_factors()),
            "config_hash": str(self.config.compute_hash()),
            "compiler_hash": str(manager.compute_hash(self.config)),
        }

    def code_factor(self, traced: set[str]) -> tuple[str, dict[str, Any]]:
        """(code hash, raw code factor) of the traced files, with vLLM's own functions where
        the release has them (0.34.0's ``get_code_factors``), else its recipe."""
        if self.release.code_factor != "files":
            return self.release.code_factor_of(traced)
        from pathlib import Path

        from vllm.compilation.caching import get_code_factors, read_code_files
        from vllm.config.utils import hash_factors

        entries = get_code_factors(read_code_files({Path(p) for p in traced}))
        return hash_factors({"files": entries}), {"files": entries}

    def folders(self, traced: set[str]) -> tuple[str | None, str | None, dict[str, str]]:
        """(hash folder, AOT-compile folder, factors and sub-folders) as vLLM names them."""
        if not self.factors:
            return None, self.aot_folder, {}
        factors = dict(self.factors)
        factors["code_hash"], code = self.code_factor(traced)
        raw = {**self.raw_factors, "code": code} if self.raw_factors else None
        folder = self.release.names_folder(  # backends.py's recipe for this release
            factors["env_hash"], factors["config_hash"], factors["code_hash"],
            factors["compiler_hash"], raw)
        parallel = self.config.parallel_config
        factors["rank_folder"] = f"rank_{parallel.rank}_{parallel.data_parallel_index}"
        factors["prefix"] = str(self.backend.prefix)
        if self.compilation.cache_dir:
            factors["cache_dir"] = str(self.compilation.cache_dir)  # given: no hash folder
            return None, self.aot_folder, factors
        return folder, self.aot_folder, factors
