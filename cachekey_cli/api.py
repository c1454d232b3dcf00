"""The Python API: what ``cachekey diff``, ``snapshot`` and ``check`` do, as functions.

``analyze`` returns the ``DiffResult`` the diff renderers get, ``snapshot`` the
``Snapshot`` a baseline file holds, ``check`` the ``CheckResult`` the check
renderers get; ``report`` renders any of them by format name. A model is a
spec string (``"model.py"``, ``"pkg.mod:build"``, ``"hf:./config"``), a path,
or a ``(module, args[, kwargs])`` tuple. Options are the fields of
``cachekey_cli.analysis.pipeline.Options`` as keywords, checked by name.

Importing this module imports no torch: the first analysis does. The CLI's
``snapshot``/``check`` and the pytest plugin are built on the same functions,
so all three write the same baselines and print the same reports.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Union

from cachekey_cli.errors import InputError

if TYPE_CHECKING:
    from cachekey_cli.analysis.pipeline import Options, Run
    from cachekey_cli.baseline.snapshot import Snapshot
    from cachekey_cli.compare.drift import CheckResult
    from cachekey_cli.results import DiffResult

# a spec string or path, or a (module, args) / (module, args, kwargs) tuple
Model = Union[str, "os.PathLike[str]", tuple[Any, ...]]
Progress = Callable[[str, int, int], None]

__all__ = ["Model", "analyze", "check", "make_options", "option_names", "report", "snapshot"]


def option_names() -> tuple[str, ...]:
    """The keywords every function here accepts: the fields of pipeline.Options but ``model``."""
    from cachekey_cli.analysis.pipeline import Options

    return tuple(f.name for f in dataclasses.fields(Options) if f.name != "model")


def make_options(model: Model, **options: Any) -> Options:
    """Options for ``model``; an unknown keyword is a TypeError that names the valid ones.

    Fields whose default is a tuple also take a list, or a single string.
    """
    from cachekey_cli.analysis.pipeline import Options

    fields = {f.name: f for f in dataclasses.fields(Options) if f.name != "model"}
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise TypeError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"valid options: {', '.join(fields)}"
        )
    values = {}
    for name, value in options.items():
        if isinstance(fields[name].default, tuple):
            value = (value,) if isinstance(value, str) else tuple(value)
        values[name] = value
    return Options(model=model_label(model), **values)


def model_label(model: Model) -> str:
    """The name a model is recorded under: the spec as given, or the module's class name."""
    if isinstance(model, tuple):
        if not model:
            raise InputError("the model tuple is empty", "pass (module, args) or a spec string")
        return str(getattr(type(model[0]), "__qualname__", type(model[0]).__name__))
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    raise TypeError(
        f"model must be a spec string, a path or a (module, args[, kwargs]) tuple, "
        f"not {type(model).__name__}"
    )


def run(model: Model, opts: Options, progress: Progress | None = None) -> Run:
    """The pipeline on ``model``: a spec is loaded from its source, a tuple taken as built."""
    from cachekey_cli import sources
    from cachekey_cli.analysis import pipeline

    if isinstance(model, tuple):
        loaded = sources.from_object(model, opts.model, init=opts.init)
        return pipeline.run(opts, progress or _silent, loaded=loaded)
    return pipeline.run(opts, progress or _silent)


def snapshot_document(analysis_run: Run, variant: str) -> dict[str, Any]:
    """The snapshot as a dict, without ``meta``: what `snapshot` writes and `check` reads."""
    from cachekey_cli import baseline, dedup

    doc = baseline.build(analysis_run.analysis, variant)
    # informational (comparisons ignore it): which pieces share a compile unit
    doc["dedup"] = dedup.summary_dict(analysis_run)
    return doc


def baseline_text(analysis_run: Run, variant: str, argv: list[str] | None = None) -> str:
    """The bytes of a baseline file, ``meta`` included, as `cachekey snapshot` writes them."""
    from cachekey_cli import baseline

    doc = snapshot_document(analysis_run, variant)
    doc["meta"] = baseline.meta(analysis_run.analysis, argv)
    return baseline.dumps(doc)


def validate_baseline(old: Snapshot, path: str, model: str, variant: str | None) -> None:
    """InputError unless the baseline at ``path`` is of ``model`` and, if given, ``variant``."""
    from cachekey_cli import baseline

    if variant and variant != old.variant:
        raise InputError(
            f"baseline {path} records variant {old.variant}, not {variant}",
            f"drop --variant or refresh the baseline with --variant {variant}",
        )
    name = baseline.model_name(model)
    if name != old.model["name"]:
        raise InputError(
            f"baseline {path} is of model {old.model_id}, not {name}",
            "check the right model, or refresh the baseline with `cachekey snapshot`",
        )


def compare(old: Snapshot, doc: Mapping[str, Any], allow: tuple[str, ...] = ()) -> CheckResult:
    """A baseline against a fresh snapshot document: the drift `cachekey check` reports."""
    from cachekey_cli.baseline import load as baseline_load
    from cachekey_cli.compare import drift

    return drift.check(old, baseline_load.from_dict(dict(doc), "(current)"), tuple(allow))


def analyze(model: Model, *, progress: Progress | None = None, **options: Any) -> DiffResult:
    """Trace, split and key ``model``: the result ``cachekey diff`` renders.

    ``result.analysis`` holds every piece with its keys and their components;
    ``result.drifted`` the pieces whose key changes without ``tuple_return``.
    """
    from cachekey_cli import compare as compare_keys

    return compare_keys.diff(run(model, make_options(model, **options), progress).analysis)


def snapshot(
    model: Model,
    output: str | os.PathLike[str] | None = None,
    *,
    variant: str = "tuple_return",
    progress: Progress | None = None,
    **options: Any,
) -> Snapshot:
    """Record ``model``'s keys; with ``output``, also write the baseline file (atomically)."""
    from cachekey_cli import baseline
    from cachekey_cli.baseline import load as baseline_load
    from cachekey_cli.baseline.output import check_writable, write_atomic

    if variant not in ("tuple_return", "plain"):
        raise ValueError(f"variant must be 'tuple_return' or 'plain', not {variant!r}")
    path = os.fspath(output) if output is not None else None
    if path:
        check_writable(path)
    analysis_run = run(model, make_options(model, **options), progress)
    doc = snapshot_document(analysis_run, variant)
    if path:
        doc["meta"] = baseline.meta(analysis_run.analysis, ["cachekey_cli.snapshot"])
        write_atomic(path, baseline.dumps(doc))
    return baseline_load.from_dict(doc, path or "(snapshot)")


def check(
    model: Model,
    baseline: str | os.PathLike[str],
    *,
    allow: tuple[str, ...] | list[str] = (),
    variant: str | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> CheckResult:
    """Compare ``model``'s keys with a baseline file, which is only read.

    ``result.exit_code`` is what `cachekey check` exits with (1 on drift);
    ``report(result)`` is the report it prints.
    """
    from cachekey_cli.baseline import load as baseline_load

    opts = make_options(model, **options)
    path = os.fspath(baseline)
    old = baseline_load.load(path)
    validate_baseline(old, path, opts.model, variant)
    doc = snapshot_document(run(model, opts, progress), old.variant)
    return compare(old, doc, tuple(allow))


def report(result: Any, format: str = "rich", *, width: int = 100, color: bool = False) -> str:
    """A CheckResult rendered as `cachekey check` prints it, or a DiffResult as `cachekey diff`
    does, without the dedup section ``diff`` appends (format: rich, json, markdown...)."""
    from cachekey_cli.compare.drift import CheckResult
    from cachekey_cli.render import check_renderers, diff_renderers

    renderers = check_renderers() if isinstance(result, CheckResult) else diff_renderers()
    if format not in renderers:
        raise ValueError(f"unknown format {format!r}; one of {', '.join(renderers)}")
    return renderers[format](result, color=color, width=width)


def _silent(stage: str, done: int, total: int) -> None:
    return None
