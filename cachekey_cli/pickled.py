"""Read a pickle's structure with ``pickletools``, never with ``pickle``: nothing in it runs.

Torch files every AOTAutograd and FX-graph cache entry as a pickle (each carries
the guard expression it was compiled under, ``guards_expr``), and vLLM's
AOT-compiled model file is one too. ``pickle.loads`` would import and call
whatever the file names. Here ``pickletools.genops`` only decodes the opcodes,
and a small stack machine builds an inert skeleton of the value: strings,
numbers, bytes, tuples, lists, sets and dicts as themselves, and every object
as an ``Obj`` that records the dotted name of its class, its constructor
arguments and its state. No class is imported, no ``__reduce__``,
``__setstate__`` or constructor is called.

The machine checks what ``pickle`` itself would refuse (an item appended to a
number, a dict key that cannot be one, a stack that underflows its mark) and
never nests values deeper than ``MAX_DEPTH``: every malformed input, however
built, is a ``NotAPickle`` error, never another exception and never a crash.
"""

from __future__ import annotations

import pickletools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 1000  # values nested deeper are refused (torch's entries nest a few dozen)

_MARK = object()


@dataclass(eq=False)
class Obj:
    """An object the pickle would build: its class's dotted name and what it was given."""

    qualname: str
    args: Any = ()
    state: Any = None
    items: dict[Any, Any] = field(default_factory=dict)  # SETITEM(S) on a dict subclass
    values: list[Any] = field(default_factory=list)  # APPEND(S)/ADDITEMS on a list/set subclass

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
    """The bytes are not a complete, well-formed pickle (truncated, damaged, another format)."""


def skeleton(data: bytes) -> Any:
    """The inert value a pickle describes; NotAPickle when the bytes are not one."""
    return _Machine().run(data)


_SCALARS = frozenset({
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
    "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
})
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_SKIP = frozenset({"PROTO", "FRAME"})
_UNHASHABLE = (list, dict, set, bytearray)


class _Machine:
    """The stack, the memo and the nesting depth of every container built so far."""

    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.depths: dict[int, tuple[int, Any]] = {}  # id -> (depth, the value, kept alive)
        self.ops: dict[str, Callable[[Any], object]] = {
            "EMPTY_TUPLE": lambda _: self._new((), ()),
            "EMPTY_LIST": lambda _: self._new([], ()),
            "EMPTY_DICT": lambda _: self._new({}, ()),
            "EMPTY_SET": lambda _: self._new(set(), ()),
            "MARK": lambda _: self.stack.append(_MARK),
            "POP": lambda _: self.stack.pop(),
            "POP_MARK": lambda _: self._pop_mark(),
            "DUP": lambda _: self.stack.append(self._top()),
            "MEMOIZE": lambda _: self.memo.__setitem__(len(self.memo), self._top()),
            "PUT": self._put, "BINPUT": self._put, "LONG_BINPUT": self._put,
            "GET": self._get, "BINGET": self._get, "LONG_BINGET": self._get,
            "TUPLE": lambda _: self._new(tuple(self._pop_mark()), None),
            "TUPLE1": lambda _: self._tuple(1), "TUPLE2": lambda _: self._tuple(2),
            "TUPLE3": lambda _: self._tuple(3),
            "LIST": lambda _: self._new(self._pop_mark(), None),
            "DICT": lambda _: self._dict_op(self._pop_mark()),
            "FROZENSET": lambda _: self._new(frozenset(map(_key, self._pop_mark())), None),
            "APPEND": lambda _: self._append([self._pop()]),
            "APPENDS": lambda _: self._append(self._pop_mark()),
            "SETITEM": self._setitem, "SETITEMS": lambda _: self._setitems(self._pop_mark()),
            "ADDITEMS": self._additems,
            "GLOBAL": lambda arg: self.stack.append(Global(str(arg).replace(" ", ".", 1))),
            "STACK_GLOBAL": self._stack_global,
            "REDUCE": self._reduce, "NEWOBJ": self._reduce, "NEWOBJ_EX": self._newobj_ex,
            "OBJ": self._obj, "INST": self._inst, "BUILD": self._build,
            "PERSID": lambda _: self.stack.append(Obj("persistent id")),
            "BINPERSID": self._binpersid,
            "EXT1": self._ext, "EXT2": self._ext, "EXT4": self._ext,
            "NEXT_BUFFER": lambda _: self.stack.append(Obj("out-of-band buffer")),
            "READONLY_BUFFER": lambda _: self._top(),
        }

    def run(self, data: bytes) -> Any:
        ops, stack = self.ops, self.stack
        try:
            for op, arg, _pos in pickletools.genops(data):
                name = op.name
                if name in _SCALARS:
                    stack.append(arg)
                elif name in _CONSTANTS:
                    stack.append(_CONSTANTS[name])
                elif name == "STOP":
                    if len(stack) != 1 or stack[0] is _MARK:
                        raise NotAPickle("the pickle's stack is unbalanced at STOP")
                    return stack[0]
                elif name not in _SKIP:
                    step = ops.get(name)
                    if step is None:
                        raise NotAPickle(f"unsupported pickle opcode {name}")
                    step(arg)
        except NotAPickle:
            raise
        except IndexError:  # only pop() from an empty stack can raise it here
            raise NotAPickle("the pickle's stack underflows") from None
        except (ValueError, EOFError) as exc:  # pickletools: a bad opcode, a short read
            raise NotAPickle(_short(exc)) from None
        raise NotAPickle("the pickle ends before its STOP opcode (truncated)")

    # the stack
    def _top(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise NotAPickle("the pickle's stack underflows")
        return self.stack[-1]

    def _pop(self) -> Any:
        value = self._top()
        del self.stack[-1]
        return value

    def _pop_mark(self) -> list[Any]:
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1:]
                del stack[i:]
                return items
        raise NotAPickle("a MARK is missing")

    def _put(self, arg: Any) -> None:
        self.memo[int(arg)] = self._top()

    def _get(self, arg: Any) -> None:
        if int(arg) not in self.memo:
            raise NotAPickle(f"the pickle reads memo entry {int(arg)}, which it never stored")
        self.stack.append(self.memo[int(arg)])

    # depth: a container is one deeper than the deepest value it holds
    def _depth(self, value: Any) -> int:
        entry = self.depths.get(id(value))
        return entry[0] if entry is not None else 0

    def _deepen(self, value: Any, children: Any, current: int = 0) -> None:
        depth = max(current, 1 + max(map(self._depth, children), default=0))
        if depth > MAX_DEPTH:
            raise NotAPickle(f"the pickle nests values more than {MAX_DEPTH} levels deep")
        self.depths[id(value)] = (depth, value)

    def _new(self, value: Any, children: Any) -> None:
        self._deepen(value, value if children is None else children)
        self.stack.append(value)

    def _tuple(self, n: int) -> None:
        items = [self._pop() for _ in range(n)]
        self._new(tuple(reversed(items)), None)

    # filling containers: the target must be what pickle itself would accept
    def _dict(self, items: list[Any]) -> dict[Any, Any]:
        if len(items) % 2:
            raise NotAPickle("a dict in the pickle has a key without a value")
        return {_key(items[i]): items[i + 1] for i in range(0, len(items), 2)}

    def _dict_op(self, items: list[Any]) -> None:
        self._new(self._dict(items), items)

    def _target(self, kinds: tuple[type, ...], what: str) -> Any:
        target = self._top()
        if not isinstance(target, (*kinds, Obj)):
            raise NotAPickle(f"the pickle {what} a value of type {type(target).__name__}")
        return target

    def _append(self, values: list[Any]) -> None:
        target = self._target((list,), "appends to")
        (target.values if isinstance(target, Obj) else target).extend(values)
        self._deepen(target, values, self._depth(target))

    def _setitem(self, _arg: Any) -> None:
        value = self._pop()
        self._setitems([self._pop(), value])

    def _setitems(self, pairs: list[Any]) -> None:
        target = self._target((dict,), "sets an item of")
        mapping = target.items if isinstance(target, Obj) else target
        mapping.update(self._dict(pairs))
        self._deepen(target, pairs, self._depth(target))

    def _additems(self, _arg: Any) -> None:
        items = self._pop_mark()
        target = self._target((set,), "adds set items to")
        if isinstance(target, Obj):
            target.values.extend(items)
        else:
            target.update(map(_key, items))
        self._deepen(target, items, self._depth(target))

    # objects: recorded, never built
    def _stack_global(self, _arg: Any) -> None:
        qual, module = self._pop(), self._pop()
        if not isinstance(qual, str) or not isinstance(module, str):
            raise NotAPickle("STACK_GLOBAL names a class with something other than text")
        self.stack.append(Global(f"{module}.{qual}"))

    def _reduce(self, _arg: Any) -> None:
        args = self._pop()
        self._call(self._pop(), args)

    def _newobj_ex(self, _arg: Any) -> None:
        kwargs, args = self._pop(), self._pop()
        if not isinstance(kwargs, dict):
            raise NotAPickle("NEWOBJ_EX's keyword arguments are not a dict")
        self._call(self._pop(), args)

    def _obj(self, _arg: Any) -> None:
        items = self._pop_mark()
        if not items:
            raise NotAPickle("OBJ names no class")
        self._call(items[0], tuple(items[1:]))

    def _inst(self, arg: Any) -> None:
        self._call(Global(str(arg).replace(" ", ".", 1)), tuple(self._pop_mark()))

    def _call(self, callee: Any, args: Any) -> None:
        if not isinstance(callee, (Global, Obj)):
            raise NotAPickle(f"the pickle calls a {type(callee).__name__}")
        if not isinstance(args, tuple):
            raise NotAPickle(f"the pickle calls {callee.qualname} with a "
                             f"{type(args).__name__}, not an argument tuple")
        self._new(Obj(callee.qualname, args), (args,))

    def _build(self, _arg: Any) -> None:
        state = self._pop()
        target = self._target((), "sets the state of")
        target.state = state
        self._deepen(target, (state,), self._depth(target))

    def _binpersid(self, _arg: Any) -> None:
        self._pop()
        self.stack.append(Obj("persistent id"))

    def _ext(self, arg: Any) -> None:
        self.stack.append(Global(f"extension {arg}"))


def _key(value: Any) -> Any:
    """A dict key or set item as pickle would hash it; a nested tuple is at most MAX_DEPTH deep."""
    if isinstance(value, _UNHASHABLE):
        raise NotAPickle(f"a dict key or set item in the pickle is a {type(value).__name__}")
    if isinstance(value, tuple):
        try:
            hash(value)
        except TypeError:
            raise NotAPickle("a dict key or set item in the pickle holds a list, dict or set") \
                from None
    return value


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if any(w in text for w in ("exhausted", "truncated", "not enough data", "remain")):
        return "the pickle is truncated"
    return text if len(text) <= 120 else text[:119] + "…"
