"""Name the cause of a moved key component in words a user can act on.

Torch-free helpers for drift.py. A config flag is named with its config object
and both values (``inductor_config.max_autotune False → True``,
``functorch_config.debug_assert False → True``); an input by name and, for a
shape, by dimension (``input x: dim 2 static 3 → symbolic s77``); a constant
by name, dtype, shape and a digest of its values; code by the lines that
moved. When nothing can be named, the text says which component moved and
what it covers, never a placeholder pair.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cachekey_cli.compare.components import NO_ADDED, NO_REMOVED
from cachekey_cli.compare.drift_values import (
    VALUE_WIDTH,
    changed_fields,
    clip,
    code_delta,
    display_name,
    parse_fields,
    version,
)
from cachekey_cli.results import ComponentChange, KeyResult

# What a component covers, for the honest sentence when its values say nothing.
COVERS = {
    "gm": "the graph module torch pickles: its code and the tensors attached to it",
    "autograd_config": "functorch's config (torch._functorch.config)",
    "aot_config": "AOTAutograd's settings for this compile",
    "torch_version": "torch's version and the hash of its source files",
    "system_info": "the device, compiler and driver versions",
    "cache_key_tag": "torch.compiler.config.cache_key_tag",
    "post_grad_custom_pre_pass": "the uuid() of inductor_config.post_grad_custom_pre_pass",
    "post_grad_custom_post_pass": "the uuid() of inductor_config.post_grad_custom_post_pass",
    "autocast_state": "the autocast dtype per device when the key was taken",
    "grad_enabled": "whether autograd was on",
}
# Components whose name alone reads badly: shown under the config object that holds them.
SHOWN_AS = {
    "autograd_config": "functorch_config",
    "cache_key_tag": "torch.compiler.config.cache_key_tag",
    "post_grad_custom_pre_pass": "inductor_config.post_grad_custom_pre_pass (uuid)",
    "post_grad_custom_post_pass": "inductor_config.post_grad_custom_post_pass (uuid)",
}
_INPUT = re.compile(r"^example_inputs\[(\d+)\]$")
_SYMBOL = re.compile(r"^\('([^']+)',\)$")  # how torch prints a SymInt input: ('s77',)
# TensorMetadata fields that follow from the shape: not repeated when the shape moved
_DERIVED = ("stride", "memory_format", "storage_bytes")


def covers(name: str) -> str:
    base = name.split("[", 1)[0].split("#", 1)[0]
    if base == "inductor_config":
        return f"Inductor's config entry {display_name(name)}"
    if base == "fx_kwargs":
        return f"compile_fx's argument {name[len('fx_kwargs['):-1]}"
    return COVERS.get(base, "a part of the key torch records only as a hash")


def _quote(value: str) -> str:
    return "''" if value == "" else value


def describe(
    c: ComponentChange, raw: tuple[str | None, str | None], env: tuple[Mapping[str, Any], ...],
    names: tuple[Sequence[str], Sequence[str]] = ((), ()),
) -> str:
    """``name before → after``, narrowed to the fields or lines that differ."""
    name = SHOWN_AS.get(c.name, display_name(c.name))
    before, after = c.before, c.after
    if c.name == "torch_version" and c.before_hash and c.after_hash and None in (before, after):
        before, after = version(env[0]), version(env[1])
    if c.before_hash is None:
        return f"{name} (absent) → {clip(_quote(after or ''))}"
    if c.after_hash is None:
        return f"{name} {clip(_quote(before or ''))} → (absent)"
    if before is None or after is None:
        return (
            f"{name} moved ([{c.before_hash[:8]}] → [{c.after_hash[:8]}]): it covers "
            f"{covers(c.name)}, which torch records only as a hash, so nothing more can be named"
        )
    if raw[0] is not None and raw[1] is not None and ("\n" in raw[0] or "\n" in raw[1]):
        return f"{name} {_code(raw[0], raw[1], names, covers(c.name))}"
    keys = changed_fields(before, after)
    a, b = parse_fields(before), parse_fields(after)
    if keys and a is not None and b is not None:
        if len(keys) == 1:
            return f"{name}.{keys[0]} {clip(_quote(a[keys[0]]))} → {clip(_quote(b[keys[0]]))}"
        return f"{name}: " + ", ".join(f"{k} {clip(a[k], 40)} → {clip(b[k], 40)}" for k in keys)
    before, after = _from_difference(before, after)
    return f"{name} {clip(_quote(before))} → {clip(_quote(after))}"


def _from_difference(before: str, after: str) -> tuple[str, str]:
    """Long one-line values (reprs of tuples, say) that share a long start: both cut to
    begin where they start to differ, so that the clipped text shows what moved."""
    one_a, one_b = " ".join(before.split()), " ".join(after.split())
    if max(len(one_a), len(one_b)) <= VALUE_WIDTH:
        return before, after
    same = next((i for i, (x, y) in enumerate(zip(one_a, one_b, strict=False)) if x != y),
                min(len(one_a), len(one_b)))
    start = max(one_a.rfind(sep, 0, same) for sep in (" ", "[", "(")) + 1
    if start < 16:
        return before, after
    return "…" + one_a[start:], "…" + one_b[start:]


_CONSTANT = re.compile(r"^# constant (\S+(?: \([^)]*\))?): (\S+) (.*)$")
_ARG = re.compile(r"\b(?:arg\d+_\d+|p_\d+)\b")  # Inductor's and the normalized AOT names
_SIGNATURE = re.compile(r"^\s*def forward\(self,?(.*)\):\s*$", re.M)


def _named(code: str, names: Sequence[str]) -> str:
    """Numbered placeholders (``arg3_1``, ``p_2``) renamed after the inputs they hold,
    so a shifted input list (a SymInt put first, say) does not read as every line
    changing. The signature gives each placeholder's position."""
    m = _SIGNATURE.search(code)
    if not names or m is None:
        return code
    params = [p.split(":")[0].strip() for p in m.group(1).split(",") if p.strip()]
    if len(params) != len(names):
        return code
    rename = {p: n for p, n in zip(params, names, strict=False) if _ARG.fullmatch(p)}
    return _ARG.sub(lambda x: rename.get(x.group(0), x.group(0)), code)


def _code(
    before: str, after: str, names: tuple[Sequence[str], Sequence[str]], what: str
) -> str:
    """A graph's change: its constants by name, then the code lines that moved."""
    consts: list[dict[str, tuple[str, str]]] = [{}, {}]
    code: list[list[str]] = [[], []]
    for side, text in enumerate((before, after)):
        for line in text.splitlines():
            m = _CONSTANT.match(line.strip())
            if m:
                consts[side][m.group(1)] = (m.group(2), m.group(3))
            else:
                code[side].append(line)
    parts = []
    for label in [*consts[1], *(k for k in consts[0] if k not in consts[1])]:
        a, b = consts[0].get(label), consts[1].get(label)
        if a == b:
            continue
        if a is None or b is None:
            shape, how = b or a or ("", "")
            parts.append(f"constant {label} {'added' if a is None else 'removed'}: {shape} {how}")
        elif a[0] == b[0]:
            parts.append(f"constant {label} {a[0]}: {a[1]} → {b[1]}")
        else:
            parts.append(f"constant {label}: {a[0]} {a[1]} → {b[0]} {b[1]}")
    old = _named("\n".join(code[0]), names[0] if len(names[0]) else ())
    new = _named("\n".join(code[1]), names[1] if len(names[1]) else ())
    removed, added = code_delta(old, new)
    if removed != NO_REMOVED and added != NO_ADDED:
        parts.append(f"{removed} → {added}")
    elif removed != NO_REMOVED:
        parts.append(f"lines removed: {removed}")
    elif added != NO_ADDED:
        parts.append(f"lines added: {added}")
    if not parts:
        return (
            f"moved though its printed code and constants read the same: what moved is "
            f"elsewhere in {what} (e.g. a module attribute)"
        )
    return "; ".join(parts)


def input_values(key: KeyResult) -> list[str | None]:
    """The readable values of ``example_inputs[i]``, in input order."""
    found: dict[int, str | None] = {}
    for c in key.components:
        m = _INPUT.match(c.name)
        if m:
            found[int(m.group(1))] = c.value
    return [found.get(i) for i in range(max(found) + 1)] if found else []


def input_findings(
    left: KeyResult, right: KeyResult, names: tuple[Sequence[str], Sequence[str]]
) -> list[str]:
    """What changed in a key's inputs, aligned by input name when both sides record names."""
    old, new = input_values(left), input_values(right)
    old_names = list(names[0]) if len(names[0]) == len(old) else [f"#{i}" for i in range(len(old))]
    new_names = list(names[1]) if len(names[1]) == len(new) else [f"#{i}" for i in range(len(new))]
    before = dict(zip(old_names, old, strict=False))
    after = dict(zip(new_names, new, strict=False))
    out = []
    for name in new_names:
        if name in before and before[name] != after[name]:
            out.append(f"input {name}: {_input_delta(before[name], after[name])}")
        elif name not in before:
            out.append(f"input {name} added: {_input_kind(after[name], name, after)}")
    for name in old_names:
        if name not in after:
            out.append(f"input {name} removed: {_input_kind(before[name], name, before)}")
    kept_old = [n for n in old_names if n in after]
    kept_new = [n for n in new_names if n in before]
    if not out and kept_old != kept_new:
        out.append(f"inputs reordered: {', '.join(kept_old)} → {', '.join(kept_new)}")
    return out


def _symbol(value: str | None) -> str | None:
    m = _SYMBOL.match(value or "")
    return m.group(1) if m else None


def _dims(shape: str) -> list[str] | None:
    m = re.match(r"^torch\.Size\(\[(.*)\]\)$", shape)
    if m is None:
        return None
    return [d.strip() for d in m.group(1).split(",") if d.strip()]


def _tensor(fields: Mapping[str, str]) -> str:
    dims = _dims(fields.get("shape", "")) or []
    return f"{fields.get('dtype', '?').removeprefix('torch.')}[{', '.join(dims)}]"


def _input_kind(value: str | None, name: str, side: Mapping[str, str | None]) -> str:
    symbol = _symbol(value)
    if symbol is not None:
        for other, v in side.items():
            f = parse_fields(v or "")
            dims = _dims(f.get("shape", "")) if f else None
            if dims and symbol in dims:
                return f"SymInt {symbol}, the size of {other} dim {dims.index(symbol)}"
        return f"SymInt {symbol}"
    f = parse_fields(value or "")
    return _tensor(f) if f else clip(value)


def _input_delta(before: str | None, after: str | None) -> str:
    a, b = parse_fields(before or ""), parse_fields(after or "")
    if a is None or b is None or list(a) != list(b):
        sa, sb = _symbol(before), _symbol(after)
        if sa or sb:
            return f"{sa or clip(before)} → {sb or clip(after)}"
        return f"{clip(before)} → {clip(after)}"
    parts = []
    shape_moved = a.get("shape") != b.get("shape")
    if shape_moved:
        parts.extend(_shape_delta(a.get("shape", ""), b.get("shape", "")))
    for k in a:
        if k == "shape" or a[k] == b[k] or (shape_moved and k in _DERIVED):
            continue
        parts.append(f"{k} {a[k].removeprefix('torch.')} → {b[k].removeprefix('torch.')}")
        if k == "memory_format" and not shape_moved and "None" in (a[k], b[k]):
            parts[-1] += SPECIALIZED
    return "; ".join(parts)


# torch leaves memory_format out (None) for a tensor with symbolic sizes; with the
# shape unchanged and static, the size is symbolic in the traced value only
SPECIALIZED = (
    " (same static shape: a dimension marked maybe-dynamic that the trace specialized "
    "still has a symbolic size in Dynamo's recorded value; vLLM compiles each piece with "
    "that value, so its key moves, while torch.compile re-fakes the input and keeps its key)"
)


def _shape_delta(before: str, after: str) -> list[str]:
    da, db = _dims(before), _dims(after)
    if da is None or db is None or len(da) != len(db):
        return [f"shape {before} → {after}"]
    out = []
    for i, (x, y) in enumerate(zip(da, db, strict=False)):
        if x == y:
            continue
        if x.isdigit() and not y.isdigit():
            out.append(f"dim {i} static {x} → symbolic {y}")
        elif y.isdigit() and not x.isdigit():
            out.append(f"dim {i} symbolic {x} → static {y}")
        else:
            out.append(f"dim {i} {x} → {y}")
    return out
