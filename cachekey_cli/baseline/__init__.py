"""Baselines: snapshots written atomically, read back strictly, and their JSON shapes.

``snapshot`` builds a snapshot from an analysis, ``load`` reads and validates
one (every failure is an InputError), ``serialize`` holds the JSON pieces that
snapshots and reports share, and ``output`` writes any file atomically.
"""

from __future__ import annotations

from cachekey_cli.baseline.snapshot import (
    DEFAULT_VARIANT,
    KIND,
    SNAPSHOT_SCHEMA_VERSION,
    SnapPiece,
    Snapshot,
    build,
    dumps,
    meta,
    model_name,
)

__all__ = [
    "DEFAULT_VARIANT",
    "KIND",
    "SNAPSHOT_SCHEMA_VERSION",
    "SnapPiece",
    "Snapshot",
    "build",
    "dumps",
    "meta",
    "model_name",
]
