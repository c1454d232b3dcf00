"""A real ``torch.compile`` against a given Inductor cache, with torch's counters per graph.

No cachekey code: the model file is imported on its own, compiled with
``torch.compile`` and Inductor's own ``compile_fx`` as the backend (what
``backend="inductor"`` calls), and for every Dynamo graph the backend records
how ``torch._dynamo.utils.counters`` moved while that graph compiled:
``aot_autograd`` (``autograd_cache_hit``, ``_miss``, ``_guard_miss``,
``_bypass``) and ``inductor`` (``fxgraph_cache_hit``, ``_miss``).

Also a script, for other environments (e.g. a vLLM venv with transformers)::

    python tests/oracles/warm_run.py MODEL.py[:FACTORY] --cache DIR [--inductor-config K=V]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import torch

COUNTED = {
    "aot_autograd": ("autograd_cache_hit", "autograd_cache_miss", "autograd_cache_guard_miss",
                     "autograd_cache_bypass"),
    "inductor": ("fxgraph_cache_hit", "fxgraph_cache_miss"),
}


def load(spec):
    """(module, args, dynamic marks) from ``PATH.py[:FACTORY]``, imported on its own."""
    path, _, factory = spec.partition(":")
    path = Path(path).resolve()
    sys.path.insert(0, str(path.parent))
    try:
        name = f"warm_{path.stem}_{abs(hash(str(path)))}"
        mod = sys.modules.get(name)
        if mod is None:
            module_spec = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = mod
            module_spec.loader.exec_module(mod)
        module, args = getattr(mod, factory or "build")()[:2]
    finally:
        sys.path.remove(str(path.parent))
    dims = []
    for text in getattr(mod, "DYNAMIC_DIMS", ()) or ():
        arg, dim = text.split(":")
        dims.append((int(arg), int(dim)))
    return module, tuple(args), dims


def _counts():
    from torch._dynamo.utils import counters

    return {name: counters[group][name] for group, names in COUNTED.items() for name in names}


def compile_counting(cache_dir, module, args, dynamic=(), inductor=None, functorch=None):
    """Compile and run ``module(*args)`` against ``cache_dir``: counter deltas per Dynamo graph."""
    from torch._inductor.compile_fx import compile_fx

    per_graph = []

    def backend(gm, example_inputs):
        before = _counts()
        compiled = compile_fx(gm, example_inputs)
        after = _counts()
        per_graph.append({k: after[k] - before[k] for k in after if after[k] != before[k]})
        return compiled

    old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir)
    torch._dynamo.reset()
    try:
        for arg, dim in dynamic:
            torch._dynamo.mark_dynamic(args[arg], dim)
        if isinstance(module, torch.nn.Module):
            module.eval()
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if inductor:
                stack.enter_context(torch._inductor.config.patch(inductor))
            if functorch:
                stack.enter_context(torch._functorch.config.patch(functorch))
            torch.compile(module, backend=backend)(*args)
    finally:
        torch._dynamo.reset()
        if old is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = old
    return per_graph


def _config(items):
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--cache", required=True)
    p.add_argument("--inductor-config", action="append", default=[])
    p.add_argument("--functorch-config", action="append", default=[])
    args = p.parse_args(argv)
    module, inputs, dims = load(args.model)
    counted = compile_counting(args.cache, module, inputs, dims,
                               _config(args.inductor_config), _config(args.functorch_config))
    print(json.dumps({"torch": torch.__version__, "graphs": counted}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
