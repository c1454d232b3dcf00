"""A zoo of eight Llama-shaped models for ``benchmarks/plugin.py``: layers 2-8, hidden 64 or 128.

Each factory is a model spec of its own, e.g. ``benchmarks/model_suite.py:build_6_128``
(6 layers, hidden 128). The architecture is fixtures/llama.py's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
from llama import LlamaConfig, build_model  # noqa: E402

SIZES = [(layers, hidden) for layers in (2, 4, 6, 8) for hidden in (64, 128)]


def _factory(layers: int, hidden: int) -> Callable[[], Any]:
    def build() -> Any:
        return build_model(LlamaConfig(layers=layers, hidden=hidden, intermediate=hidden * 11 // 4))

    build.__name__ = f"build_{layers}_{hidden}"
    return build


for _layers, _hidden in SIZES:
    globals()[f"build_{_layers}_{_hidden}"] = _factory(_layers, _hidden)

FACTORIES = [f"build_{layers}_{hidden}" for layers, hidden in SIZES]
