"""A deployment given as ``vllm serve``'s command line: the ``VllmConfig`` vLLM builds from it.

``cachekey diff vllm:./qwen3 -- --max-num-batched-tokens 4096 --dtype bfloat16``:
the arguments after ``--`` are parsed as ``vllm serve FOLDER ARGS`` parses them
(vLLM's ``make_arg_parser``, ``validate_parsed_serve_args``), and
``AsyncEngineArgs.create_engine_config`` builds the config in the API server's
usage context, so every default and every derived field is the server's. Two
arguments are added unless given: ``--skip-tokenizer-init`` (nothing is tokenized)
and ``--load-format dummy`` (no weights are read).

The platform. vLLM picks it from the host; on a CPU host its ``CpuPlatform``
turns ``VLLM_COMPILE`` into ``DYNAMO_TRACE_ONCE`` (one unsplit graph, no
piecewise cache). ``platform="cuda"`` keys the piecewise path a CUDA deployment
takes, on this host, after vLLM built the config: ``mode = VLLM_COMPILE``,
vLLM's default splitting ops (``set_splitting_ops_for_v1``), no CUDA graphs
and the optional fusion passes off, each listed in ``Serve.overrides``.

Imports vLLM only inside its functions, reached through the installed profile
(``compile/installed.py``) once ``probe`` found vLLM.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from dataclasses import dataclass
from typing import Any

from cachekey_cli.errors import InputError, UsageError, exception_line
from cachekey_cli.vllm import probe, releases

# vLLM 0.34.0's CpuPlatform.check_and_update_config on an x86 host without Triton
TRITON_REFUSAL = "requires Triton"
ADDED = (("--skip-tokenizer-init",), ("--load-format", "dummy"))


@dataclass(frozen=True)
class ServeSpec:
    """A ``vllm:`` model and the serve arguments that came with it."""

    folder: str  # the model folder (config.json), resolved
    args: tuple[str, ...] = ()
    platform: str = "host"  # "host": what vLLM does here; "cuda": the piecewise CUDA path


@dataclass(frozen=True)
class Serve:
    """The config vLLM built, and what cachekey changed on it (``platform="cuda"``)."""

    config: Any
    platform: str  # the platform keyed: "cpu", "cuda", …
    host: str  # the platform vLLM found here
    overrides: tuple[str, ...] = ()


def build_config(spec: ServeSpec) -> Serve:
    """The config ``vllm serve FOLDER ARGS`` builds: vLLM's serve parser
    (``make_arg_parser``), ``validate_parsed_serve_args``, ``AsyncEngineArgs`` and
    ``create_engine_config`` with the API server's usage context (whose defaults, e.g.
    ``max_num_batched_tokens``, differ from the offline ``LLM`` class's)."""
    import importlib

    import vllm
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.platforms import current_platform
    from vllm.usage.usage_lib import UsageContext

    release = releases.resolve(str(vllm.__version__)).release
    cli_args = importlib.import_module(release.serve_cli)  # moved in 0.33.0

    parser = cli_args.make_arg_parser(_parser())
    if any(a == "--model" or a.startswith("--model=") for a in spec.args):
        raise UsageError("the serve arguments name --model, which vllm:MODEL gives",
                         "drop --model after --")
    argv = [spec.folder, *spec.args]
    for added in ADDED:
        if not any(a == added[0] or a.startswith(added[0] + "=") for a in spec.args):
            argv += list(added)
    try:
        with contextlib.redirect_stderr(io.StringIO()) as err:
            namespace = parser.parse_args(argv)
    except SystemExit as exc:
        said = " ".join(err.getvalue().strip().splitlines()[-1:]) or "invalid arguments"
        raise UsageError(f"vllm serve arguments: {said}",
                         "pass them after -- as to vllm serve") from exc
    if getattr(namespace, "model_tag", None) is not None:  # vllm serve's positional MODEL
        namespace.model = namespace.model_tag
    inspected: list[str] = []
    try:
        with _inspection_failures(inspected):
            cli_args.validate_parsed_serve_args(namespace)
            engine = AsyncEngineArgs.from_cli_args(namespace)
            with _cuda_needs_no_triton(release, spec.platform):
                config = engine.create_engine_config(
                    usage_context=UsageContext.OPENAI_API_SERVER)
        probe.logs_to_stderr()  # building the config set vLLM's logging up again
    except Exception as exc:
        cause = inspection_cause(inspected)
        if cause is not None:
            raise InputError(
                f"vLLM could not inspect the model class for this config.json's architecture "
                f"on this host: {cause}",
                "vLLM's own server stops the same way on this host (it imports the class in "
                "a subprocess to inspect it); key it where that class loads, such as the "
                "serving image") from exc
        if release.cpu_needs_triton and TRITON_REFUSAL in str(exc):
            raise InputError(
                f"vLLM {vllm.__version__} would not start on this host: its x86 CPU platform "
                "needs Triton (triton-cpu), which is not installed, so `vllm serve` stops "
                "before anything is compiled or cached",
                "--platform cuda keys the piecewise path a CUDA deployment takes") from exc
        raise InputError(f"vLLM cannot build this deployment's config: {exception_line(exc)}",
                         "fix the serve argument or the config.json vLLM names") from exc
    host = str(current_platform.device_type or "unknown")
    if spec.platform == "host":
        return Serve(config, host, host)
    return Serve(config, spec.platform, host, _as_cuda(config))


@contextlib.contextmanager
def _inspection_failures(found: list[str]) -> Any:
    """While vLLM builds the config: the exceptions its model registry logs when inspecting
    a model class fails (``registry._try_inspect_model_cls`` logs them and carries on; the
    config then fails with only "failed to be inspected")."""
    import logging

    # the registry's own logger, watched where its records pass (Logger.handle): vLLM's
    # logging config, applied while the config is built, drops any handler added before
    logger = logging.getLogger("vllm.model_executor.models.registry")
    handle = logger.handle

    def watched(record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR and record.exc_info and \
                record.exc_info[1] is not None and \
                record.getMessage().startswith("Error in inspecting model architecture"):
            found.append(str(record.exc_info[1]))
        handle(record)

    logger.handle = watched  # type: ignore[method-assign]
    try:
        yield
    finally:
        del logger.handle


def inspection_cause(failures: list[str]) -> str | None:
    """The last ``SomeError: message`` line of the last inspection failure vLLM logged (its
    subprocess's traceback), or None."""
    for text in reversed(failures):
        for line in reversed(text.strip().splitlines()):
            line = line.strip()
            head = line.split(":", 1)[0]
            if ":" in line and head.isidentifier() and head.endswith(("Error", "Exception")):
                return line
    return None


@contextlib.contextmanager
def _cuda_needs_no_triton(release: releases.Release, platform: str) -> Any:
    """Keying a CUDA deployment on a CPU host: vLLM 0.34.0's ``CpuPlatform`` refuses an x86
    host without Triton while it builds the config, a check a CUDA host never runs. The
    check reads ``vllm.triton_utils.HAS_TRITON`` first and raises before it changes the
    config, so a call that raises that is made once more with the attribute True, for that
    call alone; everything the CPU platform chose is set back afterwards (``_as_cuda``)."""
    if not release.cpu_needs_triton or platform != "cuda":
        yield
        return
    from unittest import mock

    import vllm.triton_utils
    from vllm.platforms import current_platform

    cls = type(current_platform)
    check = cls.check_and_update_config  # a classmethod, bound to the platform class

    def tolerant(config: Any) -> Any:
        try:
            return check(config)
        except RuntimeError as exc:
            if TRITON_REFUSAL not in str(exc):
                raise
            with mock.patch.object(vllm.triton_utils, "HAS_TRITON", True):
                return check(config)

    with mock.patch.object(cls, "check_and_update_config", staticmethod(tolerant)):
        yield


def _parser() -> Any:
    try:
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError:  # older layouts
        from vllm.utils import FlexibleArgumentParser  # type: ignore[attr-defined,no-redef]
    return FlexibleArgumentParser(prog="vllm serve")


def _as_cuda(config: Any) -> tuple[str, ...]:
    """What a CUDA host's platform would have left in place, set back after a CPU host's."""
    from vllm.config import CompilationMode, CUDAGraphMode, PassConfig

    cc = config.compilation_config
    breakable = getattr(config, "_uses_breakable_cudagraph_by_default", None)
    if breakable is not None and breakable() and \
            os.environ.get("VLLM_USE_BREAKABLE_CUDAGRAPH") != "0":
        arch = ", ".join(config.model_config.architectures)
        raise InputError(
            f"on CUDA, vLLM runs {arch} with breakable CUDA graphs by default and sets "
            "compilation_config.mode NONE: nothing is torch.compiled, no compile cache is filed",
            "VLLM_USE_BREAKABLE_CUDAGRAPH=0 opts out (then vLLM compiles it piecewise)")
    done = []
    # the fusions first: set_splitting_ops_for_v1 reads some of them
    off = [f.name for f in dataclasses.fields(PassConfig)
           if f.default is None and "bool" in str(f.type)
           and getattr(cc.pass_config, f.name) is not False]
    for name in off:
        setattr(cc.pass_config, name, False)
    if off:
        done.append(f"pass_config {', '.join(off)} → False (fusions that need CUDA kernels)")
    if cc.mode != CompilationMode.VLLM_COMPILE:
        done.append(f"compilation_config.mode {cc.mode.name} → VLLM_COMPILE")
        cc.mode = CompilationMode.VLLM_COMPILE
    before = list(cc.splitting_ops or ())
    cc.splitting_ops = None
    cc.set_splitting_ops_for_v1(all2all_backend=config.parallel_config.all2all_backend,
                                data_parallel_size=config.parallel_config.data_parallel_size)
    if list(cc.splitting_ops or ()) != before:
        done.append(f"splitting_ops {before} → vLLM's defaults ({len(cc.splitting_ops)} ops, "
                    f"{cc.splitting_ops[0]} first)")
    if cc.cudagraph_mode != CUDAGraphMode.NONE:
        done.append(f"cudagraph_mode {cc.cudagraph_mode.name} → NONE")
        cc.cudagraph_mode = CUDAGraphMode.NONE
    if cc.compile_sizes is None:  # left unset by the CPU platform: no single sizes
        done.append("compile_sizes None → []")
        cc.compile_sizes = []
    return tuple(done)
