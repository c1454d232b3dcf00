"""Torch's per-component debug lines, refusal texts and readable values."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Sequence

from cachekey_cli.results import Component

_AOT_CACHE_LOGGER = "torch._functorch._aot_autograd.autograd_cache"
_DEBUG_LINE = re.compile(r"^\[([a-z0-9]+)\] (.+?): (.*)\Z", re.DOTALL)
_MAX_VALUE = 6000  # readable values longer than this are cut (the hash still covers all)




def parse_debug_lines(lines: Sequence[str]) -> tuple[Component, ...]:
    """Turn torch's ``[<hash>] <component>: <value>`` lines into Components."""
    seen: dict[str, int] = {}
    out: list[Component] = []
    for line in lines:
        m = _DEBUG_LINE.match(line)
        if not m:
            continue
        digest, name, value = m.group(1), m.group(2), m.group(3)
        if name in seen:
            seen[name] += 1
            name = f"{name}#{seen[name]}"
        else:
            seen[name] = 1
        out.append(Component(name=name, hash=digest, value=_readable(value)))
    return tuple(out)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def refusal_text(text: str) -> str:
    """A refusal reason as one stable line: no per-process addresses, no line breaks."""
    return " ".join(_ADDRESS.sub("", text).split())


def _readable(value: str) -> str | None:
    if any((ord(ch) < 32 and ch not in "\n\t") or ch == "\ufffd" for ch in value):
        return None  # pickled bytes rendered as text: not readable
    # reprs such as "<function f at 0x7f...>" carry a per-process address that
    # torch's hash does not depend on; drop it so values compare across runs
    value = _ADDRESS.sub("", value.rstrip())
    return value if len(value) <= _MAX_VALUE else value[:_MAX_VALUE] + "…"


@contextlib.contextmanager
def aot_debug_lines_enabled() -> Iterator[None]:
    """Make torch build the AOT key's debug lines without printing them anywhere."""
    logger = logging.getLogger(_AOT_CACHE_LOGGER)
    old_level = logger.level

    def drop(record: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.setLevel(old_level)
        logger.removeFilter(drop)
