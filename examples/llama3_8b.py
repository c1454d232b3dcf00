"""A Llama-3-8B-shaped model: the real deployed shape, with no download.

hidden 4096, 32 layers, intermediate 14336, 32 heads, 8 KV heads, vocab
128256, bfloat16 (about 8.0e9 parameters, 16 GB of weights). Its weights are
meant never to exist:

    cachekey diff examples/llama3_8b.py --init meta

builds it on the meta device and gives every parameter uninitialized CPU
storage that is never written or read, so the analysis stays within a few GB
of memory. Without ``--init meta`` the factory would allocate and initialize
all 16 GB.
"""

from __future__ import annotations

# examples/llama.py: the loader puts the model file's folder on sys.path.
import torch
from llama import LlamaConfig, build_model
from torch import nn

LLAMA3_8B = LlamaConfig(
    hidden=4096,
    layers=32,
    intermediate=14336,
    heads=32,
    kv_heads=8,
    vocab=128256,
    rope_theta=500000.0,
    eps=1e-5,
    dtype=torch.bfloat16,
    seq=16,
)


def build() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return build_model(LLAMA3_8B)
