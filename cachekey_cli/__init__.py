"""cachekey: explain PyTorch compile-cache keys (AOTAutograd and Inductor FX graph)."""

from __future__ import annotations

__version__ = "0.1.0"
