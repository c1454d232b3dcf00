"""Whether vLLM is installed here, and vLLM imported once, on demand, with its logs off stdout.

Nothing imports this module at package import time, and ``probe()`` is the only
way in: it looks for vLLM without importing it, and imports it once, where it is
installed. Every module that calls vLLM (``compile/live``, ``config/``,
``models``) is reached only after ``probe()`` found it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from cachekey_cli.errors import exception_line


@dataclass(frozen=True)
class Probe:
    version: str | None  # vLLM's version when ``import vllm`` works
    error: str | None = None  # why an installed vLLM could not be imported


_PROBED: list[Probe] = []


def probe() -> Probe:
    """Whether vLLM is importable here (looked up once, imported only if installed)."""
    if not _PROBED:
        _PROBED.append(_probe())
    return _PROBED[0]


def missing_kernels() -> str | None:
    """Why vLLM's compile passes cannot run here: its compiled kernels are absent."""
    try:
        spec = importlib.util.find_spec("vllm._C")
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        return None
    return ("this vLLM has no compiled kernels (vllm._C), which its passes call "
            "(e.g. torch.ops._C.rotary_embedding)")


def installed() -> bool:
    """A ``vllm`` package on the path, without importing it.

    A folder named ``vllm`` without ``__init__.py`` (a namespace package, e.g. a
    fixtures folder that happens to be on ``sys.path``) is not vLLM.
    """
    try:
        spec = importlib.util.find_spec("vllm")
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin is not None


def _probe() -> Probe:
    if not installed():
        return Probe(None)
    try:
        import vllm
        import vllm.compilation.backends  # noqa: F401  (vLLM's own set-up runs now)
    except Exception as exc:
        return Probe(None, exception_line(exc))
    logs_to_stderr()
    return Probe(str(vllm.__version__))


def logs_to_stderr() -> None:
    """Keep vLLM's log lines off stdout, which is cachekey's report (JSON, say).

    vLLM logs to stdout by default and sets its handlers up again when it builds
    a config, so this runs after each. The handlers are pointed at stderr rather
    than setting ``VLLM_LOGGING_STREAM``, which is one of vLLM's compile factors
    (it would move the folder's env hash). Its INFO lines are dropped: warnings
    and errors still show.
    """
    import logging
    import sys

    root = logging.getLogger("vllm")
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
    root.setLevel(max(root.level, logging.WARNING))
