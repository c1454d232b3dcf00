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
it: ``input_ids`` (int32) and ``positions`` (int64) of ``tokens`` tokens (by default
``max_num_batched_tokens``, as vLLM's profiling run), no intermediate tensors,
under ``set_forward_context(None, config)`` (attention without metadata; the
installed profile's capture scope puts it around the trace).
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

from cachekey_cli.errors import InputError, exception_line

NEEDS = "the vllm: model source needs vLLM 0.33.0 installed"


def build(tokens: int | None = None) -> tuple[Any, tuple[Any, ...], dict[str, Any], str]:
    """(the compiled module, args, kwargs, architecture) of vLLM's own model class, under
    vLLM's current config; ``tokens`` defaults to what vLLM's profiling run passes
    (``max_num_batched_tokens``)."""
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
    try:
        # on the CPU, as vLLM's loader builds it (its own parameter classes stay: Dynamo
        # traces vllm/model_executor/parameter.py through them, a file of the code hash);
        # the weights are torch.empty storage that nothing writes, so no resident memory
        with set_current_vllm_config(config), set_default_torch_dtype(
                config.model_config.dtype), torch.device("cpu"):
            model = initialize_model(vllm_config=config)
        with set_current_vllm_config(config):
            process_weights_after_loading(model, config.model_config, torch.device("cpu"))
    except InputError:
        raise
    except Exception as exc:
        name = type(config.model_config.hf_config).__name__
        kernel = _missing_kernel(exc)
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
    # the model runner's dummy-run buffers: int32 ids and int64 positions, both zeros
    # (gpu_model_runner.py); positions past max_position_embeddings would index the rotary
    # cache out of range where the forward runs (VLLM_USE_AOT_COMPILE=0 runs it)
    ids = torch.zeros(tokens, dtype=torch.int32)
    positions = torch.zeros(tokens, dtype=torch.long)
    return compiled[0], (ids, positions, None), {}, arch


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
