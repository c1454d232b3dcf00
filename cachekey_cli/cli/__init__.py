"""The command-line layer: the ``cachekey`` group and one module per command group.

``group`` holds the click group, the options every model command shares, and
the one place that turns results and errors into exit codes. ``diff``,
``baseline`` (snapshot, check, explain), ``dedup``, ``stability`` and
``vllm_cache`` (vllm-cache inspect, diff) each register their commands on it.
The console script is ``cachekey_cli.cli:main``.
"""

from __future__ import annotations

from cachekey_cli.cli import baseline, dedup, diff, stability, vllm_cache
from cachekey_cli.cli.group import cli, main, run_cli

for _commands in (diff, baseline, dedup, stability, vllm_cache):
    _commands.register(cli)

__all__ = ["cli", "main", "run_cli"]
