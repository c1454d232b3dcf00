"""The command group and what every command shares: options, output, exits.

Each command group lives in a module of its own next to this one and is
registered by the package (``cachekey_cli/cli/__init__.py``). Nothing here
imports torch at module level, so ``cachekey --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import click

from cachekey_cli import __version__
from cachekey_cli.analysis import profiles
from cachekey_cli.errors import CachekeyError, ExitCode, InternalError

PROFILES = profiles.NAMES  # torch-free: --help stays fast


@dataclass
class Globals:
    traceback: bool = False
    quiet: bool = False
    verbose: bool = False


def say(message: str) -> None:
    """Messages for people go to stderr; stdout is the report."""
    click.echo(message, err=True)


def emit(text: str, output: str | None) -> None:
    from cachekey_cli.baseline.output import write_atomic

    if output:
        write_atomic(output, text)
    else:
        click.echo(text, nl=not text.endswith("\n"))


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def resolve_format(fmt: str | None) -> str:
    return fmt or "rich"


def build_progress(g: Globals) -> Any:
    from cachekey_cli.progress import ProgressReporter

    return ProgressReporter(enabled=not g.quiet and sys.stderr.isatty())


def model_options(f: Any) -> Any:
    """Options every model-analysing command shares."""
    decorators = [
        click.argument("model", metavar="MODEL"),
        click.argument("serve_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- SERVE_ARGS]"),
        click.option(
            "--split-op",
            "split_ops",
            multiple=True,
            metavar="OP",
            help="Splitting op (namespace::op[.overload] or a dotted path). Repeatable; "
            "overrides the file's SPLIT_OPS. Default: the SDPA family.",
        ),
        click.option(
            "--tuple-return-impl",
            type=click.Choice(["auto", "native", "emulated"]),
            default="auto",
            show_default=True,
            help="Use split_module's own tuple_return, or emulate it.",
        ),
        click.option(
            "--inductor-config",
            multiple=True,
            metavar="KEY=VALUE",
            help="Patch torch._inductor.config while keying. Repeatable.",
        ),
        click.option(
            "--functorch-config",
            multiple=True,
            metavar="KEY=VALUE",
            help="Patch torch._functorch.config while keying. Repeatable.",
        ),
        click.option(
            "--training",
            is_flag=True,
            help="Capture and key with autograd on (training graphs) instead of in "
            "torch.inference_mode(), the default.",
        ),
        click.option(
            "--normalize-inputs/--no-normalize-inputs",
            default=None,
            help="Force functorch's autograd_cache_normalize_inputs (vLLM turns it on).",
        ),
        click.option(
            "--init",
            type=click.Choice(["auto", "real", "meta"]),
            default="auto",
            show_default=True,
            help="meta: build the model on the meta device and give it uninitialized CPU "
            "storage, never written (for deployed-size models; keys are unchanged). "
            "auto: meta for hf: models, real otherwise.",
        ),
        click.option(
            "--seq-len",
            type=click.IntRange(min=1),
            default=None,
            metavar="N",
            help="hf: models only: the number of token ids in the example input (default 16).",
        ),
        click.option(
            "--profile",
            type=click.Choice(PROFILES),
            default=profiles.DEFAULT,
            show_default=True,
            help="Whose compile path to key: vllm (split at the splitting ops, each piece "
            "standalone-compiled as vLLM does) or torch-compile (torch.compile, no split).",
        ),
        click.option(
            "--dynamic-dim",
            "dynamic_dims",
            multiple=True,
            metavar="ARG:DIM",
            help="Mark dimension DIM of argument ARG (index or keyword name) dynamic before "
            "tracing, as vLLM marks its token dimension. Repeatable; overrides DYNAMIC_DIMS.",
        ),
        click.option(
            "--compile-size",
            "compile_sizes",
            multiple=True,
            type=click.IntRange(min=1),
            metavar="N",
            help="vllm profile: also key vLLM's single-size compile for N tokens "
            "(compile_sizes). Repeatable.",
        ),
        click.option(
            "--vllm-config",
            "vllm_config",
            metavar="FILE",
            default=None,
            help="vllm profile, where vLLM is installed: a JSON object of VllmConfig fields "
            '(e.g. {"compilation_config": {...}}), built with vLLM\'s own config classes. '
            "Default: vLLM's defaults.",
        ),
        click.option(
            "--platform",
            type=click.Choice(["host", "cuda"]),
            default="host",
            show_default=True,
            help="vllm: models: key what vLLM does on this host (host), or the piecewise path "
            "a CUDA deployment takes, keyed here (cuda).",
        ),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


def build_options(model: str, **kw: Any) -> Any:
    from cachekey_cli.analysis.pipeline import Options

    return Options(
        model=model,
        split_ops=tuple(kw.get("split_ops") or ()),
        tuple_return_impl=kw.get("tuple_return_impl") or "auto",
        inductor_config=tuple(kw.get("inductor_config") or ()),
        functorch_config=tuple(kw.get("functorch_config") or ()),
        normalize_inputs=kw.get("normalize_inputs"),
        inference=not kw.get("training"),
        init=kw.get("init") or "auto",
        seq_len=kw.get("seq_len"),
        profile=kw.get("profile") or profiles.DEFAULT,
        dynamic_dims=tuple(kw.get("dynamic_dims") or ()),
        compile_sizes=tuple(sorted(set(kw.get("compile_sizes") or ()))),
        # absolute: stability's fresh processes run in another working directory
        vllm_config=os.path.abspath(kw["vllm_config"]) if kw.get("vllm_config") else None,
        serve_args=tuple(kw.get("serve_args") or ()),
        platform=kw.get("platform") or "host",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cachekey")
@click.option("--traceback", is_flag=True, help="Show full tracebacks on errors.")
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar (errors and verify results still print)."
)
@click.option("-v", "--verbose", is_flag=True, help="Per-stage timings on stderr.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool, quiet: bool, verbose: bool) -> None:
    """Explain PyTorch compile-cache keys: what they are built from and why they change.

    \b
    Exit codes: 0 no drift, 1 drift or instability, 2 usage error,
    3 input error (model file, split op, config key, baseline, output path),
    4 internal error or a failed --verify.
    """
    ctx.obj = Globals(traceback=traceback, quiet=quiet, verbose=verbose)


def default_width() -> int:
    try:
        return max(80, min(os.get_terminal_size(sys.stdout.fileno()).columns, 140))
    except OSError:
        return 100


def print_timings(timings: Any) -> None:
    for stage, value in timings.items():
        if stage.endswith("_ms") or "_ms_" in stage:
            say(f"timing: {stage:<34} {value:9.1f} ms")
        elif stage in _STAGES:
            say(f"timing: {stage:<34} {value:9.3f} s")
        else:
            say(f"count:  {stage:<34} {value:9.0f}")


_STAGES = ("import_torch", "load", "trace", "split", "key")


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = int(code)


def main(argv: list[str] | None = None) -> None:
    code = run_cli(argv)
    if "torch" in sys.modules:
        _exit_without_teardown(code)
    sys.exit(code)


def _exit_without_teardown(code: int) -> None:
    """Skip tearing torch down module by module at exit: about 1 s, all of it wasted.

    atexit handlers still run (logging flushes, temporary directories are
    removed) and stdout/stderr are flushed, so nothing a user sees is lost.
    """
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run_cli(argv: list[str] | None = None) -> int:
    import warnings

    # torch warns on import when NumPy is absent; NumPy is not needed here.
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    traceback = "--traceback" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="cachekey", standalone_mode=False)
        return 0
    except Exit as done:
        return done.code
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.exceptions.Abort:
        say("cachekey: aborted")
        return int(ExitCode.INTERNAL)
    except click.ClickException as exc:
        exc.show()
        return int(ExitCode.USAGE)
    except CachekeyError as exc:
        if traceback:
            _print_traceback(exc)
        say(f"cachekey: error: {exc.one_line()}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        say("cachekey: interrupted")
        return 130
    except Exception as exc:  # the tool broke: never exit 1, which means drift
        if traceback:
            _print_traceback(exc)
        wrapped = InternalError(
            f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}",
            "rerun with --traceback and report it",
        )
        say(f"cachekey: error: {wrapped.one_line()}")
        return int(ExitCode.INTERNAL)


def _print_traceback(exc: BaseException) -> None:
    import traceback as tb

    say("".join(tb.format_exception(type(exc), exc, exc.__traceback__)).rstrip())
