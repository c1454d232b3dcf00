"""Per-architecture table for docs/model-files.md: pieces and unique keys of each tiny hf: config.

    python benchmarks/hf_architectures.py [--layers 2,4]

Writes the tiny configs of tests/hf_configs.py to a temporary folder, analyses
each as ``hf:FOLDER`` in this one process (the vllm profile, meta init, 16
tokens, default split ops) and prints a markdown table: captured graphs,
pieces, compiled pieces, unique AOT and Inductor keys (tuple_return variant)
and AOT cache refusals. Like the test suite it keys vLLM's per-piece cache mode
(``VLLM_USE_MEGA_AOT_ARTIFACT=0`` unless set), where Inductor files an FX-graph
key per piece; in vLLM's default mega-artifact mode there is none.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("VLLM_USE_MEGA_AOT_ARTIFACT", "0")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default="2,4", help="comma-separated num_hidden_layers")
    args = ap.parse_args(argv)
    import torch
    import transformers

    import cachekey_cli
    from tests.hf_configs import CONFIGS, write

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"VLLM_USE_MEGA_AOT_ARTIFACT={os.environ['VLLM_USE_MEGA_AOT_ARTIFACT']}\n")
    print("| architecture | class | layers | graphs | pieces | compiled | unique AOT "
          "| unique Inductor | AOT refusals | seconds |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="cachekey-hf-") as tmp:
        for arch in CONFIGS:
            for layers in [int(x) for x in args.layers.split(",")]:
                field = "n_layer" if arch == "gpt2" else "num_hidden_layers"
                folder = write(arch, Path(tmp) / f"{arch}-{layers}", **{field: layers})
                start = time.perf_counter()
                result = cachekey_cli.analyze(f"hf:{folder}")
                seconds = time.perf_counter() - start
                a = result.analysis
                compiled = [p for p in a.pieces if not p.splitting_op]
                keys = [p.variants["tuple_return"] for p in compiled]
                aot = {k.aot_key.key for k in keys} - {None}
                ind = {k.inductor_key.key for k in keys} - {None}
                refused = sum(1 for k in keys if k.aot_key.refusal)
                print(f"| {arch} | {a.model.factory} | {layers} | {len(a.graphs)} "
                      f"| {len(a.pieces)} | {len(compiled)} | {len(aot)} | {len(ind)} "
                      f"| {refused} | {seconds:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
