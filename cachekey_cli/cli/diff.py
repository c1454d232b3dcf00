"""``cachekey diff``: key every piece split plain and with tuple_return, and explain changes."""

from __future__ import annotations

from typing import Any

import click

from cachekey_cli.cli.group import (
    Exit,
    Globals,
    build_options,
    build_progress,
    default_width,
    emit,
    model_options,
    print_timings,
    resolve_format,
    say,
    stdout_is_tty,
)
from cachekey_cli.errors import ExitCode
from cachekey_cli.render import DIFF_FORMATS

FORMATS = DIFF_FORMATS


def register(group: click.Group) -> None:
    group.add_command(diff)


@click.command()
@model_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Report format.")
@click.option("-o", "--output", metavar="FILE", help="Write the report here (atomically).")
@click.option(
    "--width", type=click.IntRange(min=40), default=None, help="Report width for rich output."
)
@click.option("--verify", is_flag=True, help="Also really compile every piece and compare keys.")
@click.pass_obj
def diff(g: Globals, model: str, fmt: str | None, output: str | None, width: int | None,
         verify: bool, **kw: Any) -> None:
    """Key every piece split with and without tuple_return, and explain the differences.

    MODEL is PATH.py[:FACTORY] or pkg.module[:FACTORY]; the factory (default
    `build`) returns (module, args) or (module, args, kwargs). hf:PATH (a
    config.json or its folder) or hf:ORG/NAME (from the local cache) builds a
    Hugging Face model from its config.
    """
    from cachekey_cli import compare, dedup
    from cachekey_cli.analysis import pipeline
    from cachekey_cli.baseline.output import check_writable
    from cachekey_cli.compare.verdict import summarize
    from cachekey_cli.render import diff_renderers

    if output:
        check_writable(output)
    options = build_options(model, **kw)
    with build_progress(g) as progress:
        run = pipeline.run(options, progress.update)
        result = compare.diff(run.analysis)
        dedup_result = dedup.analyse(run)
        checks = _run_verify(run, options, progress.update) if verify else []
    fmt = resolve_format(fmt)
    color = fmt == "rich" and not output and stdout_is_tty()
    text = diff_renderers()[fmt](
        result, color=color, width=width or default_width(), dedup=dedup_result
    )
    emit(text, output)
    if g.verbose:
        print_timings(run.analysis.timings)
    code = summarize(result).exit_code
    if verify:
        bad = [c for c in checks if not c.ok]
        for c in bad:
            say(f"verify: {c.piece} [{c.variant}] {c.kind}: ours {c.ours}, real {list(c.real)}")
        say(f"verify: {len(checks)} keys checked against real compiles, {len(bad)} mismatches")
        if bad:
            raise Exit(ExitCode.INTERNAL)
    raise Exit(code)


def _run_verify(run: Any, options: Any, progress: Any) -> list[Any]:
    from cachekey_cli.analysis import verify

    return verify.verify(options, run.analysis, progress)
