"""Evaluate a cache entry's guard expression without running it.

Torch stores the shape guards an entry was compiled under as Python source
(``ShapeEnv.produce_guards_expression``), e.g.
``L['t1'] != (2*(L['t1'] // 2)) and 2 <= L['t0']``, where ``L['tN']`` is the
N-th backed SymInt input, and on lookup evaluates it with ``eval`` against the
sizes of the current inputs (``ShapeEnv.evaluate_guards_expression``). Here
the expression is parsed with ``ast`` and only a small arithmetic subset is
evaluated, with Python's own integer semantics: numbers, ``L['tN']``,
``+ - * / // % **``, comparisons, ``and``/``or``/``not``, and the calls
``max``, ``min``, ``abs``, ``int``, ``float``, ``math.floor``/``ceil``/``trunc``.
Anything else leaves the guard unchecked and says which name stopped it.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_CHARS = 200_000  # longer expressions are not evaluated
MAX_POWER = 4096  # an exponent beyond this is not evaluated

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_CALLS: dict[str, Callable[..., Any]] = {
    "max": max,
    "min": min,
    "abs": abs,
    "int": int,
    "float": float,
    "math.floor": math.floor,
    "math.ceil": math.ceil,
    "math.trunc": math.trunc,
}


@dataclass(frozen=True)
class GuardResult:
    """``passed`` is True/False when evaluated, None when the guard was left unchecked."""

    passed: bool | None
    detail: str = ""  # why unchecked, or the first clause that failed


class _Unchecked(Exception):
    pass


def evaluate(expr: str, hints: Sequence[int]) -> GuardResult:
    """Whether ``expr`` holds for the inputs' sizes ``hints`` (``L['t0']`` is ``hints[0]``)."""
    if len(expr) > MAX_CHARS:
        return GuardResult(None, f"the guard is {len(expr)} characters long; not evaluated")
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return GuardResult(None, "the guard is not an expression cachekey can read")
    values = {f"t{i}": int(h) for i, h in enumerate(hints)}
    try:
        body = tree.body
        if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And):
            for clause in body.values:  # say which clause fails
                if not _truth(_eval(clause, values)):
                    return GuardResult(False, ast.unparse(clause))
            return GuardResult(True)
        passed = _truth(_eval(body, values))
        return GuardResult(passed, "" if passed else ast.unparse(body))
    except _Unchecked as exc:
        return GuardResult(None, str(exc))
    except (ArithmeticError, ValueError, TypeError, OverflowError, RecursionError):
        return GuardResult(None, "the guard does not evaluate on these sizes")


def _truth(value: Any) -> bool:
    return bool(value)


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    raise _Unchecked(f"the guard calls {ast.unparse(node)}, which cachekey does not evaluate")


def _eval(node: ast.expr, values: dict[str, int]) -> Any:  # noqa: C901
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return node.value
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
            and node.value.id == "L" and isinstance(node.slice, ast.Constant):
        name = node.slice.value
        if name not in values:
            raise _Unchecked(f"the guard reads L[{name!r}], an input this piece does not have")
        return values[name]
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_truth(_eval(v, values)) for v in node.values)
        return any(_truth(_eval(v, values)) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, values)
        if isinstance(node.op, ast.Not):
            return not operand
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return +operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, values), _eval(node.right, values)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_POWER:
            raise _Unchecked("the guard raises to a power too large to evaluate")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, values)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                break
            right = _eval(comparator, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        else:
            return True
    if isinstance(node, ast.Call) and not node.keywords:
        name = _name(node.func)
        if name in _CALLS:
            return _CALLS[name](*(_eval(a, values) for a in node.args))
        raise _Unchecked(f"the guard calls {name}, which cachekey does not evaluate")
    raise _Unchecked(f"the guard uses {type(node).__name__} ({ast.unparse(node)[:60]}), "
                     "which cachekey does not evaluate")
