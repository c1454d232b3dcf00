"""The reports of ``cachekey check`` and ``explain``: keys against a baseline (and JUnit XML)."""
