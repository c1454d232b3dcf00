"""The ``cachekey`` fixture: ``cachekey.check(model, baseline=PATH, **options)`` in a test.

A relative baseline path is taken from the test file's folder. On drift the
test fails with the report ``cachekey check`` prints, and the baseline is not
touched; with ``--cachekey-update`` a missing or drifted baseline is written
and the test passes.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from cachekey_cli.pytest_plugin.baselines import gate
from cachekey_cli.pytest_plugin.session import Session

WRITTEN = "cachekey_written"  # user property carrying each baseline a test wrote


class CachekeyWarning(UserWarning):
    """A finding that does not fail the test: allowed drift, a split op that never matched."""


class Cachekey:
    """What the fixture gives a test."""

    def __init__(self, node: Any, session: Session, folder: Path, rootpath: Path) -> None:
        self._node = node
        self._session = session
        self._folder = folder
        self._root = rootpath

    def check(
        self,
        model: Any,
        baseline: str | os.PathLike[str],
        *,
        variant: str | None = None,
        allow: tuple[str, ...] | list[str] = (),
        **options: Any,
    ) -> Any:
        """Gate ``model``'s keys on ``baseline``; returns the CheckResult (None once written).

        ``model`` and ``options`` are those of ``cachekey_cli.check``; ``allow``
        names drift categories that warn instead of failing.
        """
        from cachekey_cli import api
        from cachekey_cli.errors import CachekeyError

        path = os.path.join(self._folder, os.fspath(baseline))  # an absolute one stays
        shown = self._show(path)
        opts = api.make_options(model, **options)
        try:
            from cachekey_cli import torchapi

            # torch's trace records stay out of the test's captured-log section
            with torchapi.trace_records_kept_in_torch():
                outcome = gate(self._session, model, opts, path, variant, tuple(allow),
                               self._node.nodeid)
        except CachekeyError as exc:
            pytest.fail(f"cachekey: error: {exc.one_line()}", pytrace=False)
        for text in outcome.warnings:
            warnings.warn(CachekeyWarning(text), stacklevel=2)
        if outcome.status == "missing":
            pytest.fail(
                f"cachekey: baseline {shown} does not exist — run pytest with "
                "--cachekey-update to write it",
                pytrace=False,
            )
        if outcome.status == "written":
            self._node.user_properties.append((WRITTEN, shown))
            return None
        if outcome.status == "conflict":
            what = "other keys" if outcome.result is not None else "another model or split"
            text = self._text(outcome.result)
            pytest.fail(
                f"cachekey: {shown} was written in this run by {outcome.writer}, with {what} — "
                f"give each model its own baseline" + (f"\n\n{text}" if text else ""),
                pytrace=False,
            )
        text = self._text(outcome.result)
        if outcome.status == "drift":
            cats = ", ".join(outcome.result.categories)
            pytest.fail(
                f"cachekey: keys drifted from {shown} ({cats}; the file is unchanged) — fix "
                f"the drift, or accept it with pytest --cachekey-update\n\n{text}",
                pytrace=False,
            )
        if outcome.status == "allowed":
            allowed = [s for s in outcome.result.drifted if s.status == "allowed"]
            cats = ", ".join(sorted({c for s in allowed for c in s.categories}))
            warnings.warn(
                CachekeyWarning(f"{len(allowed)} subgraphs drifted in allowed ({cats})"),
                stacklevel=2,
            )
        return outcome.result

    def analyze(self, model: Any, **options: Any) -> Any:
        """``cachekey_cli.analyze`` through the session's cache of traced models."""
        from cachekey_cli import api, compare

        run = self._session.run(model, api.make_options(model, **options))
        return compare.diff(run.analysis)

    def _text(self, result: Any) -> str:
        """The report `cachekey check` prints for this result (none without a result)."""
        from cachekey_cli import api

        if result is None:
            return ""
        return api.report(result, "rich", width=self._width(), color=False)

    def _width(self) -> int:
        if self._session.width:
            return self._session.width
        from cachekey_cli.cli.group import default_width

        return default_width()

    def _show(self, path: str) -> str:
        try:
            return str(Path(path).resolve().relative_to(self._root.resolve()))
        except ValueError:
            return path
