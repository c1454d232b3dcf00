"""Small wording helpers shared by reports: counts with the right singular or plural noun."""

from __future__ import annotations


def plural(n: int, singular: str, many: str | None = None) -> str:
    """``"1 piece"``, ``"2 pieces"``; ``many`` for irregular plurals (``"1 key of"``)."""
    return f"{n} {singular if n == 1 else (many or singular + 's')}"
