"""The exit-code enum and the exception family that maps onto it.

This is the one place exit codes are defined; docs/usage.md mirrors it.
"""

from __future__ import annotations

import enum
from typing import TypeVar

E = TypeVar("E", bound=BaseException)


class ExitCode(enum.IntEnum):
    OK = 0  # no drift, everything stable
    DRIFT = 1  # drift or instability found (the finding a CI gate acts on)
    USAGE = 2  # bad command line (click's own code for usage errors)
    INPUT = 3  # bad model file, factory, split op, config key or baseline
    INTERNAL = 4  # the tool or torch broke, or --verify found a mismatch


class CachekeyError(Exception):
    """Base class. ``message`` says what went wrong, ``hint`` how to fix it."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message if not self.hint else f"{self.message} — {self.hint}"
        return " ".join(text.split())


class UsageError(CachekeyError):
    exit_code = ExitCode.USAGE


class InputError(CachekeyError):
    """The model file, its factory, a split op, a config override or a baseline is bad."""

    exit_code = ExitCode.INPUT


class OutputError(CachekeyError):
    """The report or baseline cannot be written where the user asked."""

    exit_code = ExitCode.INPUT


class InternalError(CachekeyError):
    exit_code = ExitCode.INTERNAL


def exception_line(exc: BaseException) -> str:
    """An exception as one short line, for error messages: ``Type: text``."""
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:199] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def in_chain(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of type ``kind`` in ``exc``'s cause/context chain, if any."""
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, kind):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None
