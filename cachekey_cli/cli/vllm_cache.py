"""``cachekey vllm-cache inspect|diff``: what is in vLLM's compile-cache folders, and what moved.

A thin layer over cachekey_cli/vllm/ (``layout`` reads, ``cache_diff`` compares). Neither
command imports torch or vLLM
unless ``--model`` asks for vLLM's code factor of the current code.
"""

from __future__ import annotations

from typing import Any

import click

from cachekey_cli.cli.group import Exit, Globals, default_width, emit, resolve_format, say
from cachekey_cli.cli.group import stdout_is_tty as _tty
from cachekey_cli.errors import ExitCode
from cachekey_cli.render import VLLM_CACHE_FORMATS


def register(group: click.Group) -> None:
    group.add_command(vllm_cache)


def _options(f: Any) -> Any:
    decorators = [
        click.option("--model", metavar="MODEL", default=None,
                     help="Also trace MODEL (PATH.py[:FACTORY] or pkg.mod[:FACTORY]) and compare "
                     "vLLM's code factor of the current code with the cache (imports torch)."),
        click.option("--init", type=click.Choice(["real", "meta"]), default="real",
                     show_default=True, help="How to build --model (see `cachekey diff --help`)."),
        click.option("--format", "fmt", type=click.Choice(VLLM_CACHE_FORMATS), default=None,
                     help="Report format."),
        click.option("-o", "--output", metavar="FILE", help="Write the report here (atomically)."),
        click.option("--width", type=click.IntRange(min=40), default=None,
                     help="Report width for rich output."),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


@click.group("vllm-cache")
def vllm_cache() -> None:
    """Read vLLM compile-cache folders: what is in them, and why a redeploy missed.

    \b
    inspect PATH   hash folders, ranks, prefixes, factors, artifacts, AOT entries
    diff A B       every factor that differs between two deployments, with the fix
    Exit codes: 0 nothing differs, 1 something differs (or --model's code hash
    does not match), 3 bad or empty input.
    """


@vllm_cache.command("inspect")
@click.argument("path", metavar="PATH")
@_options
@click.pass_obj
def inspect_cmd(g: Globals, path: str, model: str | None, init: str, fmt: str | None,
                output: str | None, width: int | None) -> None:
    """Show every hash folder, rank and prefix under PATH with its factors and artifacts.

    PATH is a VLLM_CACHE_ROOT, its torch_compile_cache, a hash, rank_<r>_<dp> or prefix
    folder, or a cache_key_factors.json.
    """
    from cachekey_cli.vllm import layout

    _check_output(output)
    deployment = layout.read(path)
    checks = _code_checks(model, init, (deployment,))
    _emit("inspect", deployment, fmt, output, width, checks=checks[0] if checks else ())
    mismatched = checks and any(not c.matches for c in checks[0])
    raise Exit(ExitCode.DRIFT if mismatched else ExitCode.OK)


@vllm_cache.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@_options
@click.pass_obj
def diff_cmd(g: Globals, a: str, b: str, model: str | None, init: str, fmt: str | None,
             output: str | None, width: int | None) -> None:
    """Name every factor that differs between two deployments' caches, and the known pitfalls.

    A and B are two deployments' cache folders or factors files, each in any form
    `inspect` takes. Folders pair by rank and prefix. Exit 0 when nothing differs,
    1 when something does.
    """
    from cachekey_cli.vllm import cache_diff, layout

    _check_output(output)
    left, right = layout.read(a), layout.read(b)
    result = cache_diff.diff(left, right)
    checks = _code_checks(model, init, (left, right))
    _emit("diff", result, fmt, output, width, checks=checks)
    if not g.quiet and result.differs:
        say(f"cachekey: the caches differ ({_count(result)})")
    raise Exit(result.exit_code)


def _count(result: Any) -> str:
    env = sum(len(f.env) for f in result.folders)
    factors = sorted({c.factor for f in result.folders for c in f.factors})
    parts = [f"{env} env variable{'s' if env != 1 else ''}"] if env else []
    parts += factors
    if any(f.folder_differs for f in result.folders):
        parts.append("folder name")
    return ", ".join(parts) or "folders present on one side only"


def _check_output(output: str | None) -> None:
    if output:
        from cachekey_cli.baseline.output import check_writable

        check_writable(output)


def _code_checks(model: str | None, init: str, deployments: tuple[Any, ...]) -> tuple[Any, ...]:
    if not model:
        return ()
    from cachekey_cli.vllm.identity import code_check, model_factor

    code = model_factor.model_code(model, init=init)
    return tuple(code_check.check(code, d) for d in deployments)


def _emit(command: str, result: Any, fmt: str | None, output: str | None, width: int | None,
          **extra: Any) -> None:
    from cachekey_cli.render import vllm_cache_renderers

    fmt = resolve_format(fmt)
    color = fmt == "rich" and not output and _tty()
    render = vllm_cache_renderers(command)[fmt]
    emit(render(result, color=color, width=width or default_width(), **extra), output)
