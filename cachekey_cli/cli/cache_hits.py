"""``cachekey check MODEL --cache PATH`` and ``cachekey snapshot MODEL --into PATH``.

The options live on ``check`` and ``snapshot`` (cli/baseline.py); this module
does the work behind them: read the cache first (exit 3 before any tracing
when it is none), analyse the model, compare with the cache and with a
snapshot baked into it, render, exit 0 when every piece hits and 1 otherwise.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from cachekey_cli.analysis import profiles
from cachekey_cli.cli import group as cli_mod
from cachekey_cli.errors import UsageError


def run_check(g: Any, model: str, path: str, fmt: str | None, output: str | None,
              width: int | None, kw: dict[str, Any], analyse: Any, fail_on: str = "miss"
              ) -> None:
    from cachekey_cli import cache_hits
    from cachekey_cli.baseline import load as baseline_load
    from cachekey_cli.baseline.output import check_writable, protect_inputs
    from cachekey_cli.render import CACHE_FORMATS, cache_renderers

    fmt = cli_mod.resolve_format(fmt)
    if fmt not in CACHE_FORMATS:
        raise UsageError(f"--format {fmt} is not available with --cache",
                         f"use one of: {', '.join(CACHE_FORMATS)}")
    if output:
        check_writable(output)
    profile = kw.get("profile") or profiles.DEFAULT
    cache = cache_hits.read(profile, path)  # fail fast, before tracing
    found = cache_hits.find_snapshot(profile, path, cache)
    if found:
        protect_inputs((found,), {"--output": output})
    baked_snapshot = baseline_load.load(found) if found else None  # fail fast, before tracing
    analysis, snap, run = analyse(g, model, "tuple_return", kw)
    baked = None
    if baked_snapshot is not None and found is not None:
        from cachekey_cli.cache_hits import baked as baked_mod

        baked = baked_mod.compare(found, baseline_load.from_dict(snap, "(current)"),
                                  baked_snapshot)
    result = dataclasses.replace(cache_hits.check(run, path, cache, baked), fail_on=fail_on)
    color = fmt == "rich" and not output and cli_mod.stdout_is_tty()
    text = cache_renderers()[fmt](result, color=color, width=width or cli_mod.default_width())
    cli_mod.emit(text, output)
    unchecked = any(p.cache == "hit" and p.unchecked for p in result.pieces)
    if (result.exit_code and not g.quiet) or unchecked:  # an unchecked pass says so, even -q
        cli_mod.say(f"cachekey: {result.sentence()}")
    raise cli_mod.Exit(result.exit_code)


def snapshot_target(into: str, profile: str) -> str:
    """Where ``snapshot --into PATH`` writes: PATH/cachekeys.json, PATH being a cache."""
    from cachekey_cli import cache_hits

    cache_hits.read(profile, into)  # exit 3 unless PATH is a cache of this profile's kind
    return os.path.join(into, cache_hits.SNAPSHOT_NAME)
