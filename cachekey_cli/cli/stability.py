"""``cachekey stability``: are the keys the same in every fresh process?

Exit codes: 0 when every key agrees across the runs, 1 when any varies, 2/3/4
as for every command.
"""

from __future__ import annotations

import os
from typing import Any

import click

from cachekey_cli.render import STABILITY_FORMATS, stability_renderers

_REPEATED = {"split_ops": "--split-op", "inductor_config": "--inductor-config",
             "functorch_config": "--functorch-config", "dynamic_dims": "--dynamic-dim",
             "compile_sizes": "--compile-size"}


def model_args(kw: dict[str, Any]) -> list[str]:
    """The shared model options, turned back into arguments for the child processes."""
    args: list[str] = []
    for name, value in sorted(kw.items()):
        if name == "serve_args":
            continue  # last, after --
        if name in _REPEATED:
            for item in value or ():
                args += [_REPEATED[name], str(item)]
        elif name == "normalize_inputs":
            if value is not None:
                args.append("--normalize-inputs" if value else "--no-normalize-inputs")
        elif isinstance(value, bool):
            if value:
                args.append("--" + name.replace("_", "-"))
        elif value is not None:
            args += ["--" + name.replace("_", "-"), str(value)]
    if kw.get("serve_args"):
        args += ["--", *kw["serve_args"]]
    return args


def register(cli: click.Group) -> None:
    from cachekey_cli.cli.group import (
        Exit,
        Globals,
        build_progress,
        default_width,
        emit,
        model_options,
        resolve_format,
        stdout_is_tty,
    )

    @cli.command()
    @model_options
    @click.option("--runs", type=click.IntRange(min=2), default=3, show_default=True,
                  help="Fresh processes to compare.")
    @click.option("--jobs", type=click.IntRange(min=1), default=None,
                  help="Processes at a time. Default: the number of cores, at most 2.")
    @click.option("--no-search", is_flag=True,
                  help="Skip the one-factor-at-a-time runs that name the trigger.")
    @click.option("--factor", "factors", multiple=True,
                  type=click.Choice(["hashseed", "cwd", "home", "tmpdir", "inductor-cache-dir",
                                     "unrelated-env"]),
                  help="Limit the trigger search to these factors. Repeatable. Default: all.")
    @click.option("--format", "fmt", type=click.Choice(STABILITY_FORMATS), default=None,
                  help="Report format.")
    @click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report here.")
    @click.option("--width", type=int, default=None, help="Report width for rich output.")
    @click.pass_obj
    def stability(g: Globals, model: str, runs: int, jobs: int | None, no_search: bool,
                  factors: tuple[str, ...], fmt: str | None, output: str | None,
                  width: int | None, **kw: Any) -> None:
        """Key MODEL in N fresh processes with perturbed environments and compare the keys.

        Each run gets its own PYTHONHASHSEED, working directory, HOME and XDG
        dirs, TMPDIR, TORCHINDUCTOR_CACHE_DIR and an unrelated environment
        variable. If any key varies, a control run repeats run 1 unchanged (if it
        moves too, the cause is inside the process); otherwise each factor is
        changed alone to name the trigger. Exit 1 if anything is unstable.
        """
        from cachekey_cli.baseline.output import check_writable
        from cachekey_cli.errors import ExitCode
        from cachekey_cli.stability import runner as core

        if output:
            check_writable(output)
        jobs = jobs or max(1, min(2, os.cpu_count() or 1))
        with build_progress(g) as progress:
            chosen = tuple(core.FACTOR_IDS[f] for f in factors) or core.FACTORS
            result = core.check(model, model_args(kw), runs=runs, jobs=jobs,
                                search=not no_search, progress=progress.update, factors=chosen)
        fmt = resolve_format(fmt)
        color = fmt == "rich" and not output and stdout_is_tty()
        render = stability_renderers()[fmt]
        emit(render(result, color=color, width=width or default_width()), output)
        raise Exit(ExitCode.OK if result.stable else ExitCode.DRIFT)
