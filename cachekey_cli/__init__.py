"""cachekey: explain PyTorch compile-cache keys (AOTAutograd and Inductor FX graph).

The Python API (docs/api.md) is re-exported here lazily, so ``import cachekey_cli``
stays light and imports no torch::

    import cachekey_cli
    result = cachekey_cli.analyze("model.py")          # what `cachekey diff` reports
    cachekey_cli.snapshot("model.py", "cachekeys.json")
    print(cachekey_cli.report(cachekey_cli.check("model.py", "cachekeys.json")))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from cachekey_cli.api import analyze, check, report, snapshot
    from cachekey_cli.errors import CachekeyError, InputError

_API = {
    "analyze": "cachekey_cli.api",
    "snapshot": "cachekey_cli.api",
    "check": "cachekey_cli.api",
    "report": "cachekey_cli.api",
    "CachekeyError": "cachekey_cli.errors",
    "InputError": "cachekey_cli.errors",
}

__all__ = ["CachekeyError", "InputError", "__version__", "analyze", "check", "report", "snapshot"]


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cachekey_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
