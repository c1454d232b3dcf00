"""``cachekey snapshot``, ``check`` and ``explain``: baselines and the CI gate.

A thin layer over baseline/snapshot.py (build, write), baseline/load.py (read, validate)
and compare/drift.py (compare, classify). ``explain`` never imports torch.
"""

from __future__ import annotations

from typing import Any

import click

from cachekey_cli.baseline.output import protect_inputs
from cachekey_cli.cache_hits.records import FAIL_ON
from cachekey_cli.cli import group as cli_mod
from cachekey_cli.compare.categories import CATEGORIES
from cachekey_cli.errors import ExitCode, UsageError
from cachekey_cli.render import CHECK_FORMATS


def _analyse(g: Any, model: str, variant: str, kw: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    analysis, snap, _run = _analyse_run(g, model, variant, kw)
    return analysis, snap


def _analyse_run(g: Any, model: str, variant: str, kw: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The analysis, its snapshot dict and the pipeline Run (whose live pieces --cache needs)."""
    from cachekey_cli import api

    options = cli_mod.build_options(model, **kw)
    with cli_mod.build_progress(g) as progress:
        run = api.run(model, options, progress.update)
    for warning in run.analysis.warnings:
        cli_mod.say(f"cachekey: warning: {warning}")
    if g.verbose:
        cli_mod.print_timings(run.analysis.timings)
    return run.analysis, api.snapshot_document(run, variant), run


def _report(g: Any, result: Any, fmt: str | None, output: str | None, junit: str | None,
            width: int | None) -> None:
    from cachekey_cli.render import check_renderers, junit_xml

    fmt = cli_mod.resolve_format(fmt)
    color = fmt == "rich" and not output and cli_mod.stdout_is_tty()
    text = check_renderers()[fmt](result, color=color, width=width or cli_mod.default_width())
    if junit:
        cli_mod.emit(junit_xml(result), junit)
    cli_mod.emit(text, output)
    allowed = [s for s in result.drifted if s.status == "allowed"]
    if allowed and not g.quiet:
        cats = ", ".join(sorted({c for s in allowed for c in s.categories}))
        cli_mod.say(f"cachekey: warning: {len(allowed)} subgraphs drifted in allowed ({cats})")
    raise cli_mod.Exit(result.exit_code)


def _report_options(f: Any) -> Any:
    decorators = [
        click.option("--format", "fmt", type=click.Choice(CHECK_FORMATS), default=None,
                     help="Report format (github: workflow-command annotations)."),
        click.option("-o", "--output", type=click.Path(dir_okay=False),
                     help="Write the report here instead of stdout."),
        click.option("--junit-xml", "junit", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Also write a JUnit XML report, one test case per subgraph."),
        click.option("--allow", "allow", multiple=True, type=click.Choice(CATEGORIES),
                     help="Report drift of this category as a warning, not a failure. "
                     "Repeatable."),
        click.option("--width", type=int, default=None, help="Report width for rich output."),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def _check_outputs(*paths: str | None) -> None:
    from cachekey_cli.baseline.output import check_writable

    for path in paths:
        if path:
            check_writable(path)


def register(group: click.Group) -> None:
    group.add_command(snapshot)
    group.add_command(check)
    group.add_command(explain)


@click.command()
@cli_mod.model_options
@click.option("-o", "--output", default="cachekeys.json", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the snapshot.")
@click.option("--into", metavar="CACHE", default=None,
              help="Write the snapshot into this compile cache (CACHE/cachekeys.json), for "
              "`check --cache` to explain every miss. Overrides -o.")
@click.option("--variant", type=click.Choice(["tuple_return", "plain"]), default="tuple_return",
              show_default=True, help="Which split variant's keys to record.")
@click.pass_obj
def snapshot(g: Any, model: str, output: str, into: str | None, variant: str, **kw: Any) -> None:
    """Record every subgraph's keys, with their components, as a baseline file."""
    import sys

    from cachekey_cli import baseline

    if into:
        from cachekey_cli.cli.cache_hits import snapshot_target

        output = snapshot_target(into, kw.get("profile") or "vllm")
    _check_outputs(output)
    analysis, snap = _analyse(g, model, variant, kw)
    snap["meta"] = baseline.meta(analysis, ["cachekey", *sys.argv[1:]])
    cli_mod.emit(baseline.dumps(snap), output)
    if not g.quiet:
        split = snap["split"]
        cli_mod.say(
            f"cachekey: wrote {output}: {split['pieces']} subgraphs ({split['compiled']} "
            f"compiled), variant {variant}, torch {snap['environment']['torch']}"
        )
    raise cli_mod.Exit(ExitCode.OK)


@click.command()
@cli_mod.model_options
@click.option("--baseline", "baseline_path", default=None,
              metavar="FILE", help="A snapshot written by `cachekey snapshot`. Never modified.")
@click.option("--cache", "cache_path", default=None, metavar="PATH",
              help="Instead of a snapshot, a real compile cache (an Inductor cache dir for "
              "--profile torch-compile; a vLLM cache root or folder for vllm): say hit, miss or "
              "stale for every piece. Never modified.")
@click.option("--fail-on", "fail_on", type=click.Choice(FAIL_ON), default=None,
              help="--cache: what fails the gate besides a stale piece: any miss (the default), "
              "or only a piece that compiles cold (a vLLM miss that Inductor's cache serves "
              "passes).")
@click.option("--variant", type=click.Choice(["tuple_return", "plain"]), default=None,
              help="Variant to key (default: the one the baseline recorded).")
@_report_options
@click.pass_obj
def check(g: Any, model: str, baseline_path: str | None, cache_path: str | None,
          fail_on: str | None, variant: str | None, fmt: str | None, output: str | None,
          junit: str | None, allow: tuple[str, ...], width: int | None, **kw: Any) -> None:
    """Recompute MODEL's keys and compare them with a baseline (exit 1 on drift), or with a
    real compile cache (--cache: exit 1 unless every piece hits)."""
    from cachekey_cli import api
    from cachekey_cli.baseline import load as baseline_load

    if (baseline_path is None) == (cache_path is None):
        raise UsageError("check needs exactly one of --baseline FILE and --cache PATH",
                         "--baseline compares with a snapshot, --cache with a real cache")
    if fail_on is not None and cache_path is None:
        raise UsageError("--fail-on goes with --cache", "drop it with --baseline")
    if cache_path is not None:
        if junit or allow or variant:
            raise UsageError("--junit-xml, --allow and --variant go with --baseline",
                             "drop them with --cache")
        from cachekey_cli.cli.cache_hits import run_check

        run_check(g, model, cache_path, fmt, output, width, kw, _analyse_run,
                  fail_on or FAIL_ON[0])
    assert baseline_path is not None

    protect_inputs((baseline_path,), {"--output": output, "--junit-xml": junit})
    old = baseline_load.load(baseline_path)  # fail fast, before tracing
    api.validate_baseline(old, baseline_path, model, variant)
    _check_outputs(output, junit)
    _analysis, snap = _analyse(g, model, old.variant, kw)
    _report(g, api.compare(old, snap, allow), fmt, output, junit, width)


@click.command()
@click.argument("old_path", metavar="OLD.json")
@click.argument("new_path", metavar="NEW.json")
@_report_options
@click.pass_obj
def explain(g: Any, old_path: str, new_path: str, fmt: str | None, output: str | None,
            junit: str | None, allow: tuple[str, ...], width: int | None) -> None:
    """Compare two snapshots offline (no torch needed) and say why keys changed."""
    from cachekey_cli.baseline import load as baseline_load
    from cachekey_cli.compare import drift

    protect_inputs((old_path, new_path), {"--output": output, "--junit-xml": junit})
    old = baseline_load.load(old_path)
    new = baseline_load.load(new_path)
    _check_outputs(output, junit)
    _report(g, drift.check(old, new, allow, command="explain"), fmt, output, junit, width)
