"""The reference workloads the benchmark times, each run in a fresh process by ``run.py``.

    python benchmarks/workloads.py trace   MODEL   # Dynamo trace alone (graphs run eagerly)
    python benchmarks/workloads.py compile MODEL   # torch.compile with Inductor, one call

Both run under ``torch.inference_mode()``, as ``cachekey diff`` keys the
inference graphs. ``compile`` uses whatever TORCHINDUCTOR_CACHE_DIR the caller
sets: a fresh empty directory for a cold compile, the same one again for a warm
compile. A line ``graphs=N`` on stdout says how many graphs Dynamo produced.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    kind, model_spec = argv[0], argv[1]
    import torch

    from cachekey_cli.sources import load

    model = load(model_spec)
    module = model.module
    if isinstance(module, torch.nn.Module):
        module.eval()
    graphs: list[Any] = []
    if kind == "trace":

        def backend(gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
            graphs.append(gm)
            return gm.forward

        compiled = torch.compile(module, backend=backend)
    elif kind == "compile":
        compiled = torch.compile(module, backend="inductor")
    else:
        raise SystemExit(f"unknown workload {kind!r}")
    with torch.inference_mode():
        compiled(*model.args, **model.kwargs)
    print(f"graphs={len(graphs) if kind == 'trace' else '?'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
