"""Dynamo: reset, graph-break reasons, and keeping torch's logs off the terminal."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import torch
import torch.fx


def reset_dynamo() -> None:
    torch._dynamo.reset()


def compile_reason(gm: torch.fx.GraphModule) -> tuple[str | None, str | None]:
    """Why Dynamo ended this graph, if it was a graph break: (reason, 'file:line in fn')."""
    reason = getattr(gm, "compile_subgraph_reason", None)
    if reason is None or not getattr(reason, "graph_break", False):
        return None, None
    where = None
    stack = list(getattr(reason, "user_stack", None) or [])
    if stack:
        frame = stack[-1]
        where = f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}"
    text = " ".join(str(getattr(reason, "reason", "")).split())
    # Dynamo appends an explanation, hints and a docs link; keep the headline.
    for marker in (" Explanation:", " Hint:", " Developer debug context:"):
        text = text.split(marker, 1)[0]
    return (text if len(text) <= 160 else text[:159] + "…"), where


@contextlib.contextmanager
def quiet_torch_logs() -> Iterator[None]:
    """Keep torch's own error logging (e.g. a failed fake-tensor op) off the terminal.

    The failure still reaches the user as one line, and with --traceback in full.
    """
    names = (
        "torch._subclasses.fake_tensor",
        "torch._dynamo",
        "torch._inductor",
        "torch.fx.experimental.symbolic_shapes",
    )
    # A level on these parents also silences their children (e.g.
    # torch._inductor.standalone_compile), whose own level is unset.
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, old in zip(loggers, before, strict=True):
            lg.setLevel(old)


def torch_git_version() -> str | None:
    return getattr(getattr(torch, "version", None), "git_version", None)
