"""Narrow a changed component's values to the part that changed, in a line a reviewer can scan.

Torch-free helpers for drift.py: ``Name(field=value, ...)`` values keep only
the fields that differ, graph code keeps only the lines that differ (the body
first, the ``def forward(...)`` signature last), and anything still too long
is cut at a token boundary, never in the middle of a name or number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cachekey_cli.compare.components import line_delta

VALUE_WIDTH = 80  # per side of "before → after"
CODE_WIDTH = 96  # graph code: a little more room, cut between statements
CODE_LINES = 3
_MORE = re.compile(r" \(\+\d+ more lines\)$")
# the module header ("GraphModule()", "<lambda>()") and the signature: they change
# whenever an input is added or renamed, which the example_inputs findings already say
_HEADER = re.compile(r"^(def forward\(|[\w<>.]+\(\)$)")


def display_name(component: str) -> str:
    """``inductor_config[fallback_random]`` → ``inductor_config.fallback_random``."""
    base, sep, rest = component.partition("[")
    if sep and rest.endswith("]") and not rest[:-1].isdigit():
        return f"{base}.{rest[:-1]}"
    return component


def clip(text: str | None, width: int = VALUE_WIDTH) -> str:
    """One line of at most ``width`` characters, cut between statements or words, then ``…``."""
    if text is None:
        return "(binary)"
    one = " ".join(text.split())
    if len(one) <= width:
        return one
    more = _MORE.search(one)
    tail = more.group(0) if more else ""
    body = one[: len(one) - len(tail)]
    room = max(width - len(tail) - 2, 8)
    cut = body[:room]
    for sep in ("; ", " "):
        at = cut.rfind(sep)
        if at >= room // 3:
            cut = cut[:at]
            break
    return f"{cut.rstrip(' ;,')} …{tail}"


def code_delta(before: str, after: str) -> tuple[str, str]:
    """The lines of two graph codes that differ, body lines first, each side clipped."""
    a, b = _body_first(before), _body_first(after)
    removed, added = line_delta(a, b, limit=CODE_LINES)
    return clip(removed, CODE_WIDTH), clip(added, CODE_WIDTH)


def _body_first(code: str) -> str:
    lines = [ln for ln in code.splitlines() if ln.strip()]
    head = [ln for ln in lines if _HEADER.match(ln.strip())]
    return "\n".join([ln for ln in lines if not _HEADER.match(ln.strip())] + head)


def parse_fields(text: str) -> dict[str, str] | None:
    """``Name(a=1, b=(2, 3))`` → {"a": "1", "b": "(2, 3)"}; None for anything else."""
    head, sep, body = text.partition("(")
    if not sep or not body.endswith(")") or not head.replace("_", "").isalnum():
        return None
    parts, depth, start = [], 0, 0
    body = body[:-1]
    for i, ch in enumerate(body):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    out = {}
    for part in parts:
        k, eq, v = part.strip().partition("=")
        if not eq or not k.isidentifier():
            return None
        out[k] = v
    return out


def changed_fields(before: str, after: str) -> list[str] | None:
    """Names of the fields that differ, when both values are ``Name(field=value, ...)`` alike."""
    a, b = parse_fields(before), parse_fields(after)
    if a is None or b is None or list(a) != list(b):
        return None
    return [k for k in a if a[k] != b[k]] or None


def field_delta(before: str, after: str) -> tuple[str, str] | None:
    """Only the fields that differ, when both values are ``Name(field=value, ...)`` alike."""
    keys = changed_fields(before, after)
    a, b = parse_fields(before), parse_fields(after)
    if keys is None or a is None or b is None:
        return None
    return ", ".join(f"{k}={a[k]}" for k in keys), ", ".join(f"{k}={b[k]}" for k in keys)


def version(env: Mapping[str, Any]) -> str:
    """``2.13.0+cpu (cf30153c4c)``: the torch version with the start of its git hash."""
    git = env.get("torch_git")
    return f"{env.get('torch')} ({git[:10]})" if git else str(env.get("torch"))


def fmt(value: Any) -> str:
    """An environment value for a context line."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return "(none)" if value is None else str(value)
