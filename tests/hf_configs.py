"""Tiny Hugging Face configs (hidden 32-64, 2 layers) for the hf: tests, written as config.json.

Each is a plain dict, as a config.json on the Hub would read, with the sizes
cut down so that building, tracing and keying takes a second or two.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_DECODER = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 256,
    "max_position_embeddings": 128,
    "torch_dtype": "float32",
}

CONFIGS: dict[str, dict[str, Any]] = {
    "llama": {**_DECODER, "model_type": "llama", "architectures": ["LlamaForCausalLM"]},
    "qwen2": {**_DECODER, "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"]},
    "mistral": {**_DECODER, "model_type": "mistral", "architectures": ["MistralForCausalLM"],
                "sliding_window": None},
    "gemma": {**_DECODER, "model_type": "gemma", "architectures": ["GemmaForCausalLM"],
              "head_dim": 16},
    "phi3": {**_DECODER, "model_type": "phi3", "architectures": ["Phi3ForCausalLM"],
             "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2},
    "gpt2": {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 64,
             "n_layer": 2, "n_head": 4, "n_positions": 128, "vocab_size": 256,
             "torch_dtype": "float32"},
    "mixtral": {**_DECODER, "model_type": "mixtral", "architectures": ["MixtralForCausalLM"],
                "num_local_experts": 4, "num_experts_per_tok": 2, "sliding_window": None},
    "qwen2_moe": {**_DECODER, "model_type": "qwen2_moe",
                  "architectures": ["Qwen2MoeForCausalLM"], "num_experts": 4,
                  "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                  "shared_expert_intermediate_size": 64, "decoder_sparse_step": 1},
}


def write(name: str, folder: Path, **overrides: Any) -> Path:
    """Write CONFIGS[name] (with overrides) as folder/config.json; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**CONFIGS[name], **overrides}, indent=2))
    return folder


if __name__ == "__main__":  # python tests/hf_configs.py DIR: one folder per architecture
    import sys

    root = Path(sys.argv[1])
    for arch in CONFIGS:
        print(write(arch, root / arch))
