"""Comparing keys: between the two split variants, against a baseline, and in words.

``components`` compares two keys component by component (the plain vs
tuple_return diff lives there), ``drift`` compares a run with a snapshot,
``categories`` and ``drift_values`` say what kind of change a component
moved by, and ``verdict`` turns a diff into counts and an exit code.
"""

from __future__ import annotations

from cachekey_cli.compare.components import (
    component_changes,
    diff,
    diff_piece,
    kind_drift,
    line_delta,
)

__all__ = ["component_changes", "diff", "diff_piece", "kind_drift", "line_delta"]
