"""vLLM's own implementation of a model, as a server builds it (the ``vllm:`` source's model).

The model folder and the serve arguments (``sources/vllm.py``) give the
``VllmConfig`` (``config/from_serve.py``). The model is then what vLLM's
loader makes of it: the class vLLM's registry picks for the architecture
(``initialize_model``), built on the CPU under vLLM's current config as vLLM's
loader builds it, without loading weights: vLLM allocates them with ``torch.empty``
and nothing writes them, so an 8B or 70B shape costs address space, not memory;
then ``process_weights_after_loading`` as vLLM's loader runs it. Tensor-parallel
state is vLLM's single-rank set-up (``init_distributed_environment`` over gloo,
``initialize_model_parallel(1, 1)``).

What is compiled is the module vLLM's ``@support_torch_compile`` decorates
(``LlamaModel`` inside ``LlamaForCausalLM``), called as vLLM's profiling run calls
it: the model's own ``forward(input_ids=int32[T], positions=int64[T])`` (``T`` =
``tokens``, by default ``max_num_batched_tokens``, as vLLM's profiling run) runs up to
the decorated module's ``__call__``, and that call (``(ids, positions, None, None)`` for a
native class; keywords with ``[1, T]`` tensors for the Transformers backend) is what is
traced, under ``set_forward_context(None, config)`` (attention without metadata; the
installed profile's capture scope puts it around the trace).

Under ``--platform cuda`` on a host that is not CUDA, vLLM's layers would still take the
host's forward paths and weight steps, which a CUDA host does not take. The build puts
back, for its own calls only, the choices a CUDA host makes (``cuda_forward_paths``,
``skip_cpu_weight_steps``); where each choice lives is a field of the release's row
(``releases.CudaBuild``), and each change made is reported with the platform overrides:

- the MoE runner's forward: CUDA's opaque ``torch.ops.vllm.moe_forward[_shared]``, not the
  Python ``_moe_forward`` Dynamo would inline on the CPU (``is_cpu()`` False for the call);
- the check that refuses non-gated experts off CUDA (``is_cuda_alike()`` True for it), and
  where the CPU has no unquantized MoE kernel, the one a CUDA host takes (Triton; it runs
  inside the opaque op, invisible to the graph);
- the Qwen GDN layer's ``forward_cuda`` (the splitting op ``vllm::qwen_gdn_attention_core``)
  instead of the ``forward_cpu`` its ``__init__`` binds on the CPU;
- the CPU-only kernels' weight steps (MoE prepack, AMX MLA packing) skipped in
  ``process_weights_after_loading``: they write parameters read only inside vLLM's opaque
  MoE and attention ops, whose fakes are shape functions of their inputs;
- the dense linears' GEMM: the function CUDA binds (``F.linear`` in the graph), not the
  CPU's ``cpu_unquantized_gemm``, and their weight step (and the embedding's) takes CUDA's
  branch instead of packing weights for ``vllm._C`` (on an AMX host the CPU's small-``N``
  bf16 GEMMs, such as an MoE router, would trace ``weight_packed_linear`` instead).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import tempfile
from collections.abc import Iterator
from typing import Any

from cachekey_cli.errors import InputError, exception_line

NEEDS = "the vllm: model source needs vLLM 0.33.0 installed"


def build(tokens: int | None = None, platform: str = "host",
          changes: list[str] | None = None, differs: list[str] | None = None
          ) -> tuple[Any, tuple[Any, ...], dict[str, Any], str]:
    """(the compiled module, args, kwargs, architecture) of vLLM's own model class, under
    vLLM's current config; ``tokens`` defaults to what vLLM's profiling run passes
    (``max_num_batched_tokens``). ``platform="cuda"`` on a host that is not CUDA builds it
    as a CUDA host does; what that changed is appended to ``changes``, and what a CUDA
    host's graph would still have otherwise (kernels picked by capability, Triton ops) to
    ``differs``."""
    import torch
    from vllm.config import get_current_vllm_config, set_current_vllm_config
    from vllm.model_executor.model_loader.utils import (
        initialize_model,
        process_weights_after_loading,
    )
    from vllm.utils.torch_utils import set_default_torch_dtype

    config = get_current_vllm_config()
    tokens = tokens or config.scheduler_config.max_num_batched_tokens
    _single_rank(config)
    seen: dict[str, int] = {}
    as_cuda = platform == "cuda" and _host_is_not_cuda()
    release = _release() if as_cuda else None
    try:
        # on the CPU, as vLLM's loader builds it (its own parameter classes stay: Dynamo
        # traces vllm/model_executor/parameter.py through them, a file of the code hash);
        # the weights are torch.empty storage that nothing writes, so no resident memory
        with set_current_vllm_config(config), set_default_torch_dtype(
                config.model_config.dtype), torch.device("cpu"), \
                cuda_forward_paths(release, seen):
            model = initialize_model(vllm_config=config)
        with set_current_vllm_config(config), skip_cpu_weight_steps(release, seen):
            process_weights_after_loading(model, config.model_config, torch.device("cpu"))
    except InputError:
        raise
    except Exception as exc:
        name = type(config.model_config.hf_config).__name__
        kernel = _missing_kernel(exc)
        if kernel and as_cuda:
            raise InputError(
                f"vLLM cannot build {name}'s model here as a CUDA host builds it: a step "
                f"cachekey does not yet put back calls torch.ops._C.{kernel}, a CPU kernel "
                "of vLLM's compiled extension (vllm._C) that this install does not load",
                "a CPU-only step not in the release's CudaBuild row (vllm/releases.py); "
                "run where vLLM's kernels load") from exc
        if kernel:
            raise InputError(
                f"vLLM cannot build {name}'s model here: its code for this platform calls "
                f"torch.ops._C.{kernel}, a kernel of vLLM's compiled extension (vllm._C), "
                "which this vLLM install does not load",
                "run where vLLM's kernels load (the serving image); models whose layers run "
                "vLLM's native torch code (Llama, Qwen, Mistral, Gemma) key without them") from exc
        raise InputError(f"vLLM cannot build {name}'s model here: {exception_line(exc)}",
                         "try --traceback; vLLM's own loader stops the same way") from exc
    model.eval()
    compiled = [m for m in model.modules()
                if isinstance(getattr(m, "_dynamic_arg_dims", None), dict)]
    if not compiled:
        raise InputError(f"vLLM does not torch.compile {type(model).__name__} in this config",
                         "its class has no @support_torch_compile module, or the config "
                         "turns compilation off")
    arch = type(model).__name__
    if changes is not None:
        changes.extend(_described(seen))
    if differs is not None and release is not None:
        differs.extend(_half_cuda_branches(model, release, config.model_config.dtype))
    with set_current_vllm_config(config):
        args, kwargs = _recorded_call(model, compiled[0], config, tokens)
    return compiled[0], args, kwargs, arch


class _Stop(Exception):
    """Raised at the compiled module's call: the outer forward stops there."""


def _recorded_call(model: Any, compiled: Any, config: Any, tokens: int
                   ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(args, kwargs) the model's own forward passes its compiled module in vLLM's profiling
    run, ``model(input_ids=int32[T], positions=int64[T])``, stopped at the decorated
    ``__call__`` (where vLLM's decorator marks dims and compiles): ``(ids, positions, None,
    None)`` for a native ``*ForCausalLM``; keywords, ``[1, T]`` shapes, for the Transformers
    backend."""
    from unittest import mock

    import torch
    from vllm.forward_context import set_forward_context

    cls = type(compiled)
    seen: dict[str, Any] = {}
    original = cls.__call__

    def stop(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self is compiled:
            seen["args"], seen["kwargs"] = tuple(args), dict(kwargs)
            raise _Stop
        return original(self, *args, **kwargs)

    # the model runner's dummy-run buffers: int32 ids and int64 positions, both zeros
    # (gpu_model_runner.py); positions past max_position_embeddings would index the rotary
    # cache out of range where the forward runs (VLLM_USE_AOT_COMPILE=0 runs it)
    ids = torch.zeros(tokens, dtype=torch.int32)
    positions = torch.zeros(tokens, dtype=torch.long)
    with mock.patch.object(cls, "__call__", stop), set_forward_context(None, config), \
            torch.inference_mode():
        try:
            model(input_ids=ids, positions=positions)
        except _Stop:
            pass
    if "args" not in seen:
        raise InputError(f"{type(model).__name__}.forward never called its compiled module "
                         f"{cls.__name__}", "try --traceback")
    return seen["args"], seen["kwargs"]


def _host_is_not_cuda() -> bool:
    from vllm.platforms import current_platform

    return not current_platform.is_cuda()


def _release() -> Any:
    import vllm

    from cachekey_cli.vllm import releases

    return releases.resolve(str(vllm.__version__)).release.cuda_build


def _attr(name: str) -> tuple[Any, str]:
    """(the owner, the attribute) ``module:Owner.attr`` or ``module:attr`` names."""
    module, _, path = name.partition(":")
    owner: Any = importlib.import_module(module)
    *outer, attr = path.split(".")
    for part in outer:
        owner = getattr(owner, part)
    return owner, attr


DESCRIBED = {
    "moe_forward": "MoERunner._select_forward → CUDA's torch.ops.vllm.moe_forward[_shared] "
                   "(not the CPU's inlined _moe_forward)",
    "moe_check": "FusedMoEConfig's non-gated-experts check passed as on CUDA "
                 "(is_act_and_mul=False)",
    "moe_backend": "unquantized MoE kernel: Triton, CUDA's (no CPU kernel; it runs inside "
                   "the opaque MoE op)",
    "gdn": "QwenGatedDeltaNetAttention.forward_cpu → forward_cuda (the splitting op "
           "vllm::qwen_gdn_attention_core)",
    "gemm": "unquantized linear GEMM: CUDA's (F.linear), not the CPU's cpu_unquantized_gemm",
}


def _described(seen: dict[str, int]) -> list[str]:
    out = []
    for what, count in seen.items():
        if what.startswith("skip:"):
            out.append(f"{what[5:]}.process_weights_after_loading skipped (a CPU-only "
                       f"kernel's weight step; {count}×)")
        elif what.startswith("as_cuda:"):
            out.append(f"{what[8:]}.process_weights_after_loading: CUDA's branch, not the "
                       f"CPU's weight packing ({count}×)")
        else:
            out.append(f"{DESCRIBED[what]} ({count}×)")
    return out


@contextlib.contextmanager
def _platform_answering(**answers: bool) -> Iterator[None]:
    """vLLM's current platform answering ``is_cpu()``, ``is_cuda()``, … as given, meanwhile."""
    from unittest import mock

    from vllm.platforms import current_platform

    with contextlib.ExitStack() as stack:
        for name, answer in answers.items():
            stack.enter_context(mock.patch.object(
                type(current_platform), name, lambda *a, _answer=answer: _answer))
        yield


def _count(seen: dict[str, int], what: str) -> None:
    seen[what] = seen.get(what, 0) + 1


def _as_cuda(fn: Any, what: str, seen: dict[str, int], **answers: bool) -> Any:
    """``fn`` run with the platform answering as a CUDA host's does (``answers``), each call
    counted in ``seen`` under ``what``."""
    def on_cuda(*args: Any, **kwargs: Any) -> Any:
        with _platform_answering(**answers):
            chosen = fn(*args, **kwargs)
        _count(seen, what)
        return chosen

    return on_cuda


@contextlib.contextmanager
def cuda_forward_paths(row: Any, seen: dict[str, int]) -> Iterator[None]:
    """While vLLM builds the model: the forward paths a CUDA host's layers take (the
    release's ``CudaBuild`` row; None: nothing changed). Counts what changed in ``seen``."""
    if row is None:
        yield
        return
    from unittest import mock

    with contextlib.ExitStack() as stack:
        owner, attr = _attr(row.moe_selector)
        stack.enter_context(mock.patch.object(
            owner, attr, _as_cuda(getattr(owner, attr), "moe_forward", seen, is_cpu=False)))

        owner, attr = _attr(row.moe_config_check)
        check = getattr(owner, attr)
        refusing = _as_cuda(check, "moe_check", seen, is_cuda_alike=True)

        def cuda_check(self: Any) -> None:
            # only the refusal of non-gated experts reads the platform
            return (refusing if getattr(self, "is_act_and_mul", True) is False else check)(self)

        stack.enter_context(mock.patch.object(owner, attr, cuda_check))

        owner, attr = _attr(row.moe_backend_oracle)
        oracle = importlib.import_module(row.moe_oracle_module)
        select_backend = getattr(owner, attr)

        def cuda_backend(*args: Any, **kwargs: Any) -> Any:
            try:
                return select_backend(*args, **kwargs)
            except NotImplementedError:
                _count(seen, "moe_backend")
                triton = oracle.UnquantizedMoeBackend.TRITON
                return triton, oracle.backend_to_kernel_cls(triton)[0]

        stack.enter_context(mock.patch.object(owner, attr, cuda_backend))

        gdn, _ = _attr(row.gdn_layer + ".__init__")
        init = gdn.__init__

        def cuda_init(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            chosen = getattr(self, "_forward_method", None)
            if getattr(chosen, "__func__", None) is gdn.forward_cpu:
                self._forward_method = self.forward_cuda
                _count(seen, "gdn")

        stack.enter_context(mock.patch.object(gdn, "__init__", cuda_init))

        if row.gemm_selector:
            owner, attr = _attr(row.gemm_selector)
            stack.enter_context(mock.patch.object(owner, attr, _as_cuda(
                getattr(owner, attr), "gemm", seen, is_cpu=False, is_cuda=True)))
        yield


@contextlib.contextmanager
def skip_cpu_weight_steps(row: Any, seen: dict[str, int]) -> Iterator[None]:
    """While vLLM's ``process_weights_after_loading`` runs: the weight steps of the CPU-only
    kernels' classes (the release's ``cpu_weight_steps`` modules) do nothing, and those that
    branch on the platform (``platform_weight_steps``) take CUDA's branch."""
    if row is None:
        yield
        return
    import inspect
    from unittest import mock

    with contextlib.ExitStack() as stack:
        for name in row.cpu_weight_steps:
            mod = importlib.import_module(name)
            for _, cls in inspect.getmembers(mod, inspect.isclass):
                if cls.__module__ != mod.__name__ or \
                        "process_weights_after_loading" not in vars(cls):
                    continue

                def skipped(self: Any, *a: Any, _name: str = cls.__name__, **k: Any) -> None:
                    _count(seen, f"skip:{_name}")

                stack.enter_context(mock.patch.object(
                    cls, "process_weights_after_loading", skipped))
        for name in row.platform_weight_steps:
            cls, _ = _attr(name + ".process_weights_after_loading")
            stack.enter_context(mock.patch.object(
                cls, "process_weights_after_loading", _as_cuda(
                    cls.process_weights_after_loading, f"as_cuda:{cls.__name__}", seen,
                    is_cpu=False)))
        yield


def _half_cuda_branches(model: Any, row: Any, dtype: Any) -> list[str]:
    """In bf16 or fp16: the release's layers in this model that take a CUDA-only fused
    kernel (by device capability, or a Triton op this host cannot trace), with counts."""
    import torch

    if dtype not in (torch.bfloat16, torch.float16):
        return []
    out = []
    for name, attribute, what in row.half_cuda_branches:
        try:
            cls, _ = _attr(name + ".__init__")
        except (ImportError, AttributeError):
            continue
        found = sum(1 for m in model.modules()
                    if isinstance(m, cls) and (not attribute or getattr(m, attribute, False)))
        if found:
            out.append(f"{cls.__name__} ({found}× in {str(dtype).removeprefix('torch.')}): "
                       f"{what}")
    return out


def _missing_kernel(exc: BaseException) -> str | None:
    """The ``torch.ops._C`` kernel a failure looked up and did not find, if that is the failure."""
    found = re.search(r"'_C' object has no attribute '(\w+)'", str(exc))
    return found.group(1) if found else None


def _single_rank(config: Any) -> None:
    """vLLM's distributed state for one rank (a no-op once it exists)."""
    from vllm.config import set_current_vllm_config
    from vllm.distributed import parallel_state

    if parallel_state.model_parallel_is_initialized():
        return
    path = os.path.join(tempfile.mkdtemp(prefix="cachekey-dist-"), "init")
    with set_current_vllm_config(config):
        parallel_state.init_distributed_environment(
            world_size=1, rank=0, local_rank=0, distributed_init_method=f"file://{path}",
            backend="gloo")
        parallel_state.initialize_model_parallel(1, 1)
