"""Dedup: which pieces share a compile unit, and why isomorphic layers fail to.

``key_sharing`` groups pieces by key and explains each missed share,
``fingerprint`` is the name-independent structure that finds isomorphic pieces,
``explain`` words the component differences, and ``data`` turns a result into
the plain section that JSON reports and snapshots carry.
"""

from __future__ import annotations

from cachekey_cli.dedup.data import summary_dict
from cachekey_cli.dedup.key_sharing import (
    DEDUP_KINDS,
    LABEL,
    DedupResult,
    KeyGroup,
    KindDedup,
    MissedShare,
    NormalizeEffect,
    VariantDedup,
    analyse,
    analyse_counts,
    normalize_effect,
)

__all__ = [
    "DEDUP_KINDS",
    "LABEL",
    "DedupResult",
    "KeyGroup",
    "KindDedup",
    "MissedShare",
    "NormalizeEffect",
    "VariantDedup",
    "analyse",
    "analyse_counts",
    "normalize_effect",
    "summary_dict",
]
