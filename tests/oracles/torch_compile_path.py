"""A plain ``torch.compile(model)`` into a fresh Inductor cache: what it files, read off disk."""

from __future__ import annotations

import os
import shutil
import tempfile

import torch


def model_keys(module, args, *, dynamic=(), inference=True):
    """{"aot_key": [...], "inductor_key": [...]}: every key the compile filed."""
    path = tempfile.mkdtemp(prefix="oracle-tc-")
    old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
    torch._dynamo.reset()
    try:
        for arg, dim in dynamic:
            torch._dynamo.mark_dynamic(args[arg], dim)
        module.eval()
        with torch.inference_mode(inference):
            torch.compile(module)(*args)
        out = {}
        aot = os.path.join(path, "aotautograd")
        fx = os.path.join(path, "fxgraph")
        out["aot_key"] = sorted(os.listdir(aot)) if os.path.isdir(aot) else []
        out["inductor_key"] = sorted(
            k for p in (os.listdir(fx) if os.path.isdir(fx) else [])
            for k in os.listdir(os.path.join(fx, p))
        )
        return out
    finally:
        torch._dynamo.reset()
        if old is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = old
        shutil.rmtree(path, ignore_errors=True)
