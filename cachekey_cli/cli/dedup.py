"""``cachekey dedup``: how many compile units the pieces make, and why isomorphic ones split.

Exit codes: 0 when every group of isomorphic pieces shares its keys, 1 when
some do not (a dedup failure is a finding), 2/3/4 as for every command.
"""

from __future__ import annotations

from typing import Any

import click

from cachekey_cli.render import DEDUP_FORMATS, dedup_renderers


def register(cli: click.Group) -> None:
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
        stdout_is_tty,
    )

    @cli.command()
    @model_options
    @click.option("--format", "fmt", type=click.Choice(DEDUP_FORMATS), default=None,
                  help="Report format.")
    @click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report here.")
    @click.option("--width", type=int, default=None, help="Report width for rich output.")
    @click.pass_obj
    def dedup(g: Globals, model: str, fmt: str | None, output: str | None, width: int | None,
              **kw: Any) -> None:
        """Group pieces by key, count unique compile units, explain isomorphic pieces that split.

        Also re-keys with functorch's autograd_cache_normalize_inputs flipped, to
        show what that setting changes. Exit 1 if isomorphic pieces miss a share.
        """
        from cachekey_cli import dedup as core
        from cachekey_cli.analysis import pipeline
        from cachekey_cli.baseline.output import check_writable
        from cachekey_cli.errors import ExitCode

        if output:
            check_writable(output)
        options = build_options(model, **kw)
        with build_progress(g) as progress:
            run = pipeline.run(options, progress.update)
            result = core.analyse(run, with_effect=True)
        fmt = resolve_format(fmt)
        color = fmt == "rich" and not output and stdout_is_tty()
        emit(dedup_renderers()[fmt](result, color=color, width=width or default_width()), output)
        if g.verbose:
            print_timings(run.analysis.timings)
        raise Exit(ExitCode.DRIFT if result.missed else ExitCode.OK)
