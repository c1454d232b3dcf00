"""Read a pickle's structure with ``pickletools``, never with ``pickle``: nothing in it runs.

Torch files every AOTAutograd and FX-graph cache entry as a pickle, and each
entry carries the guard expression it was compiled under (``guards_expr``).
``pickle.loads`` would import and call whatever the file names. Here
``pickletools.genops`` only decodes the opcodes, and a small stack machine
builds an inert skeleton of the value: strings, numbers, bytes, tuples, lists
and dicts as themselves, and every object as an ``Obj`` that records the
dotted name of its class, its constructor arguments and its state. No class
is imported, no ``__reduce__``, ``__setstate__`` or constructor is called.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass, field
from typing import Any

_MARK = object()


@dataclass(eq=False)
class Obj:
    """An object the pickle would build: its class's dotted name and what it was given."""

    qualname: str
    args: Any = ()
    state: Any = None
    items: dict[Any, Any] = field(default_factory=dict)  # SETITEM(S) on a dict subclass
    values: list[Any] = field(default_factory=list)  # APPEND(S) on a list subclass

    def attr(self, name: str, default: Any = None) -> Any:
        """A field of the object's state (a dict, or the dict half of a (dict, slots) pair)."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2:
            merged: dict[Any, Any] = {}
            for part in state:
                if isinstance(part, dict):
                    merged.update(part)
            state = merged
        return state.get(name, default) if isinstance(state, dict) else default


@dataclass(frozen=True)
class Global:
    """A class or function the pickle names (``module.name``); never imported."""

    qualname: str


class NotAPickle(ValueError):
    """The bytes are not a complete pickle (truncated, another format, an unknown opcode)."""


_LITERALS = {
    "NONE": None,
    "NEWTRUE": True,
    "NEWFALSE": False,
}
_EMPTY = {"EMPTY_TUPLE": tuple, "EMPTY_LIST": list, "EMPTY_DICT": dict, "EMPTY_SET": set}
_SKIP = {"PROTO", "FRAME"}


def skeleton(data: bytes) -> Any:
    """The inert value a pickle describes; NotAPickle when the bytes are not one."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name in _SKIP:
                continue
            if name == "STOP":
                if len(stack) != 1:
                    raise NotAPickle("the pickle's stack is unbalanced at STOP")
                return stack[0]
            _step(name, arg, stack, memo)
    except NotAPickle:
        raise
    except (ValueError, IndexError, KeyError, TypeError, EOFError) as exc:
        raise NotAPickle(_short(exc)) from None
    raise NotAPickle("the pickle ends before its STOP opcode (truncated)")


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if any(w in text for w in ("exhausted", "truncated", "not enough data", "remain")):
        return "the pickle is truncated"
    return text if len(text) <= 120 else text[:119] + "…"


def _pop_mark(stack: list[Any]) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise NotAPickle("a MARK is missing")


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _step(name: str, arg: Any, stack: list[Any], memo: dict[int, Any]) -> None:  # noqa: C901
    if name in _LITERALS:
        stack.append(_LITERALS[name])
    elif name in _EMPTY:
        stack.append(_EMPTY[name]())
    elif name.endswith(("INT", "INT1", "INT2", "LONG", "LONG1", "LONG4", "FLOAT")):
        stack.append(arg)
    elif "UNICODE" in name or "STRING" in name or "BYTES" in name or name == "BYTEARRAY8":
        stack.append(arg)
    elif name == "MARK":
        stack.append(_MARK)
    elif name == "POP":
        stack.pop()
    elif name == "POP_MARK":
        _pop_mark(stack)
    elif name == "DUP":
        stack.append(stack[-1])
    elif name in ("MEMOIZE",):
        memo[len(memo)] = stack[-1]
    elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
        memo[int(arg)] = stack[-1]
    elif name in ("GET", "BINGET", "LONG_BINGET"):
        stack.append(memo[int(arg)])
    elif name == "TUPLE":
        stack.append(tuple(_pop_mark(stack)))
    elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
        n = int(name[-1])
        items = stack[-n:]
        del stack[-n:]
        stack.append(tuple(items))
    elif name == "LIST":
        stack.append(_pop_mark(stack))
    elif name == "DICT":
        items = _pop_mark(stack)
        stack.append({_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)})
    elif name in ("APPEND", "APPENDS"):
        values = [stack.pop()] if name == "APPEND" else _pop_mark(stack)
        target = stack[-1]
        (target.values if isinstance(target, Obj) else target).extend(values)
    elif name in ("SETITEM", "SETITEMS"):
        if name == "SETITEM":
            value, key = stack.pop(), stack.pop()
            pairs = [key, value]
        else:
            pairs = _pop_mark(stack)
        target = stack[-1]
        mapping = target.items if isinstance(target, Obj) else target
        for i in range(0, len(pairs), 2):
            mapping[_hashable(pairs[i])] = pairs[i + 1]
    elif name in ("ADDITEMS", "FROZENSET"):
        items = _pop_mark(stack)
        if name == "FROZENSET":
            stack.append(frozenset(_hashable(i) for i in items))
        else:
            stack[-1].update(_hashable(i) for i in items)
    elif name == "GLOBAL":
        module, _, qual = str(arg).partition(" ")
        stack.append(Global(f"{module}.{qual}"))
    elif name == "STACK_GLOBAL":
        qual, module = stack.pop(), stack.pop()
        stack.append(Global(f"{module}.{qual}"))
    elif name in ("REDUCE", "NEWOBJ"):
        args, callee = stack.pop(), stack.pop()
        stack.append(Obj(_qualname(callee), args))
    elif name == "NEWOBJ_EX":
        _kwargs, args, callee = stack.pop(), stack.pop(), stack.pop()
        stack.append(Obj(_qualname(callee), args))
    elif name == "BUILD":
        state = stack.pop()
        target = stack[-1]
        if isinstance(target, Obj):
            target.state = state
    elif name in ("OBJ", "INST"):
        items = _pop_mark(stack)
        callee = items[0] if name == "OBJ" and items else Global(str(arg).replace(" ", "."))
        stack.append(Obj(_qualname(callee), tuple(items[1:] if name == "OBJ" else items)))
    elif name in ("PERSID", "BINPERSID"):
        if name == "BINPERSID":
            stack.pop()
        stack.append(Obj("persistent id"))
    elif name in ("EXT1", "EXT2", "EXT4"):
        stack.append(Global(f"extension {arg}"))
    elif name in ("NEXT_BUFFER", "READONLY_BUFFER"):
        if name == "NEXT_BUFFER":
            stack.append(Obj("out-of-band buffer"))
    else:
        raise NotAPickle(f"unsupported pickle opcode {name}")


def _qualname(callee: Any) -> str:
    if isinstance(callee, Global):
        return callee.qualname
    if isinstance(callee, Obj):
        return callee.qualname
    return type(callee).__name__
