"""vLLM's code factor for a model as it is now: trace it, collect the files, hash them.

The one part of ``cachekey vllm-cache`` that imports torch, and only with
``--model``. The model is loaded like every other command's MODEL
(docs/model-files.md) and captured once with Dynamo, while the traced files are
collected the way vLLM 0.33.0's ``@support_torch_compile`` collects them
(cachekey_cli/torchapi/traced.py). Nothing is split, keyed or compiled.
"""

from __future__ import annotations

from cachekey_cli.vllm.identity.code_check import ModelCode, model_file
from cachekey_cli.vllm.identity.code_factor import code_hash


def model_code(model: str, init: str = "real", inference: bool = True) -> ModelCode:
    from cachekey_cli import sources
    from cachekey_cli.analysis import capture
    from cachekey_cli.analysis.traced import traced_files

    loaded = sources.load(model, init=init)
    paths: set[str] = set()
    capture.capture(loaded, inference=inference, traced_files=paths)
    return ModelCode(model, traced_files(paths), code_hash(paths), model_file(model))
