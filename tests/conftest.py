"""Shared, session-scoped analyses: each fixture model is traced and keyed once per run."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def fixture_path(name: str) -> str:
    return os.path.relpath(FIXTURES / name, os.getcwd())


_RUNS: dict[tuple, object] = {}


def analyse(name: str, **options):
    """pipeline.run for a fixture, memoized for the whole session."""
    from cachekey_cli.analysis import pipeline

    key = (name, tuple(sorted(options.items())))
    if key not in _RUNS:
        _RUNS[key] = pipeline.run(pipeline.Options(model=str(FIXTURES / name), **options))
    return _RUNS[key]


@pytest.fixture(scope="session")
def transformer_run():
    return analyse("transformer.py")
