"""A small, self-contained Llama-style decoder in plain torch (no transformers, no download).

The architecture follows Llama 3: RMSNorm, rotary position embeddings,
grouped-query attention through ``scaled_dot_product_attention`` (the
splitting op), a SwiGLU MLP and an untied LM head. Shapes come from a
``LlamaConfig``; the factories below give the benchmark sizes.

    cachekey diff examples/llama.py:build_8          # 8 layers, hidden 64
    CACHEKEY_LAYERS=16 cachekey diff examples/llama.py

See ``examples/llama3_8b.py`` for the deployed-size (Llama-3-8B) shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class LlamaConfig:
    hidden: int = 64
    layers: int = 4
    intermediate: int = 176
    heads: int = 4
    kv_heads: int = 2
    vocab: int = 512
    rope_theta: float = 500000.0
    eps: float = 1e-5
    dtype: torch.dtype = torch.float32
    seq: int = 16  # example input length
    batch: int = 1


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.heads, self.kv_heads = cfg.heads, cfg.kv_heads
        self.head_dim = cfg.hidden // cfg.heads
        self.q_proj = nn.Linear(cfg.hidden, cfg.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.hidden, cfg.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.hidden, cfg.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.heads * self.head_dim, cfg.hidden, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = self.heads // self.kv_heads
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(a.transpose(1, 2).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden, cfg.intermediate, bias=False)
        self.up_proj = nn.Linear(cfg.hidden, cfg.intermediate, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate, cfg.hidden, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.hidden, cfg.eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.hidden, cfg.eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab, cfg.hidden)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.layers))
        self.norm = RMSNorm(cfg.hidden, cfg.eps)
        self.lm_head = nn.Linear(cfg.hidden, cfg.vocab, bias=False)
        head_dim = cfg.hidden // cfg.heads
        inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(input_ids)
        pos = torch.arange(input_ids.shape[1], device=input_ids.device).float()
        freqs = torch.outer(pos, self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x)).float()


def build_model(cfg: LlamaConfig) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """The model (in ``cfg.dtype``) and example token ids of shape (batch, seq)."""
    torch.manual_seed(0)
    model = Llama(cfg).to(cfg.dtype)
    ids = torch.zeros(cfg.batch, cfg.seq, dtype=torch.long)
    return model, (ids,)


def build() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    """Benchmark size, with the layer count from CACHEKEY_LAYERS (default 4)."""
    return build_model(LlamaConfig(layers=int(os.environ.get("CACHEKEY_LAYERS", "4"))))


def build_4() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return build_model(LlamaConfig(layers=4))


def build_8() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return build_model(LlamaConfig(layers=8))


def build_16() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return build_model(LlamaConfig(layers=16))


def build_32() -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    return build_model(LlamaConfig(layers=32))
