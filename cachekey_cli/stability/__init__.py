"""Stability: do keys survive fresh processes, and which environment factor moves them.

``runner`` plans and runs the child processes (a control first, then one
factor at a time) and ``compare`` finds the keys and components that moved.
"""

from __future__ import annotations

from cachekey_cli.stability.runner import (
    CONTROL,
    FACTORS,
    IN_PROCESS,
    SEEDS,
    StabilityResult,
    check,
    plan,
)

__all__ = ["CONTROL", "FACTORS", "IN_PROCESS", "SEEDS", "StabilityResult", "check", "plan"]
