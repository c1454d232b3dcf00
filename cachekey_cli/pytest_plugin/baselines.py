"""The gate one ``cachekey.check`` call runs: compare with the baseline, or write it.

Pure of pytest: it returns an ``Outcome`` and the fixture decides how the test
ends. Without ``--cachekey-update`` the baseline is only read. With it, a
missing or drifted baseline is written atomically (baseline/output.py) under
the run-wide claim on that file (session.py), once per run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cachekey_cli.errors import InputError
from cachekey_cli.pytest_plugin.session import Session

DEFAULT_VARIANT = "tuple_return"


@dataclass(frozen=True)
class Outcome:
    status: str  # same | allowed | drift | missing | written | conflict
    result: Any = None  # the CheckResult, when there was a baseline to compare with
    writer: str | None = None  # conflict: the test that wrote the baseline in this run
    warnings: tuple[str, ...] = ()  # the analysis's own (e.g. a split op that never matched)


def _read(path: str) -> Any:
    """The baseline's Snapshot, or None when the file does not exist (bad files raise)."""
    from cachekey_cli.baseline import load as baseline_load

    if not os.path.exists(path):
        return None
    return baseline_load.load(path)


def _status(result: Any) -> str:
    return "drift" if result.failing else ("allowed" if result.drifted else "same")


def gate(
    session: Session,
    model: Any,
    options: Any,
    path: str,
    variant: str | None,
    allow: tuple[str, ...],
    nodeid: str,
) -> Outcome:
    from cachekey_cli import api

    if not session.update:
        old = _read(path)
        if old is None:
            return Outcome("missing")
        api.validate_baseline(old, path, options.model, variant)
        run = session.run(model, options)
        checked = api.compare(old, api.snapshot_document(run, old.variant), allow)
        return Outcome(_status(checked), checked, warnings=run.analysis.warnings)

    run = session.run(model, options)  # trace before taking the claim
    notes = run.analysis.warnings
    with session.claim(path) as claim:
        writer = claim.written_by  # a test of this run wrote it: compare, never rewrite
        result: Any = None
        try:
            old = _read(path)
            if old is not None:
                api.validate_baseline(old, path, options.model, variant)
                chosen = variant or old.variant
                result = api.compare(old, api.snapshot_document(run, chosen), allow)
        except InputError:  # unreadable, of another model or split: not comparable
            if not writer:
                old = None
            result = None
        if result is not None and not result.failing:
            return Outcome(_status(result), result, warnings=notes)
        if writer:
            return Outcome("conflict", result, writer, notes)
        from cachekey_cli.baseline.output import write_atomic

        chosen = variant or (old.variant if old is not None else DEFAULT_VARIANT)
        write_atomic(path, api.baseline_text(run, chosen, ["pytest", nodeid]))
        claim.mark(nodeid)
        return Outcome("written", result, warnings=notes)
