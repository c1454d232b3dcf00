"""A fixture model built on its own, as the oracles need it: no cachekey code involved."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def build(path: Path):
    """``build()`` of the model file at ``path``: its (module, args), imported afresh."""
    sys.path.insert(0, str(path.parent))
    try:
        name = "oracle_" + "_".join(path.with_suffix("").parts[-3:])
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        module, args = mod.build()[:2]
    finally:
        sys.path.remove(str(path.parent))
    return module, tuple(args)
