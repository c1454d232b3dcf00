"""The files Dynamo traces, collected the way vLLM's ``@support_torch_compile`` collects them.

vLLM 0.33.0 (vllm/compilation/decorators.py) adds the file of the compiled
``forward`` and then patches ``InliningInstructionTranslator.inline_call_`` so
that every function Dynamo inlines adds its ``co_filename``. The same two steps
here give the same file list for the same model and environment.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from types import CodeType
from typing import Any
from unittest import mock


def root_code(module: Any) -> CodeType | None:
    """The code object vLLM starts from: the class's ``forward`` (or the function itself)."""
    forward = getattr(type(module), "forward", None)
    target = forward if forward is not None else module
    target = inspect.unwrap(target) if callable(target) else target
    code = getattr(target, "__code__", None)
    return code if isinstance(code, CodeType) else None


@contextlib.contextmanager
def collect_traced_files(module: Any, into: set[str]) -> Iterator[None]:
    """Add to ``into`` every file Dynamo traces while the block runs, plus the root's."""
    from torch._dynamo.symbolic_convert import InliningInstructionTranslator

    code = root_code(module)
    if code is not None:
        into.add(code.co_filename)
    original = InliningInstructionTranslator.inline_call_

    def inline_call_(self_: Any) -> Any:
        into.add(self_.f_code.co_filename)
        return original(self_)

    with mock.patch.object(InliningInstructionTranslator, "inline_call_", inline_call_):
        yield
