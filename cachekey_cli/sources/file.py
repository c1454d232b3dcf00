"""``model.py[:factory]`` and ``pkg.mod[:factory]``: a model file or module, and its factory.

The contract (docs/model-files.md): a factory, ``build`` unless named with
``PATH.py:NAME`` or ``pkg.mod:NAME``, returns ``(module, args)`` or
``(module, args, kwargs)``. Optional module-level ``SPLIT_OPS`` and
``DYNAMIC_DIMS`` name the splitting ops and the dynamic input dimensions.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from cachekey_cli.errors import InputError, exception_line
from cachekey_cli.sources.model import LoadedModel, ModelSpec, check_contract, materialize

DEFAULT_FACTORY = "build"


def parse_spec(text: str) -> ModelSpec:
    """``PATH.py[:NAME]`` or ``pkg.mod[:NAME]``: the file or module, and the factory's name."""
    target, factory = text, DEFAULT_FACTORY
    head, sep, tail = text.rpartition(":")
    if sep and tail.isidentifier() and head:
        target, factory = head, tail
    is_file = target.endswith(".py") or os.sep in target or os.path.exists(target)
    return ModelSpec(target=target, factory=factory, is_file=is_file)


def load_factory(
    text: str,
    init: str,
    before_factory: Callable[[tuple[str, ...] | None], None] | None = None,
) -> LoadedModel:
    """Import the file or module, then call its factory (``init``: "real" or "meta").

    ``before_factory`` gets the ``SPLIT_OPS`` the file names (None: none, or not a list
    of strings, which is an error once the factory has run) before the factory is called.
    """
    spec = parse_spec(text)
    mod = _import_file(spec.target) if spec.is_file else _import_module(spec.target)
    if before_factory is not None:
        before_factory(_split_ops_named(mod))
    factory = getattr(mod, spec.factory, None)
    if factory is None or not callable(factory):
        raise InputError(
            f"{spec.target} has no factory function {spec.factory!r}",
            f"define `def {spec.factory}():` returning (module, args) or pick one with "
            f"{spec.target}:NAME",
        )
    try:
        built = _call_factory(factory, init)
    except Exception as exc:
        raise InputError(
            f"{spec.factory}() in {spec.target} raised {exception_line(exc)}",
            "fix the factory; rerun with --traceback for the full stack"
            + ("; or drop --init meta" if init == "meta" else ""),
        ) from exc
    module, args, kwargs = check_contract(built, spec)
    if init == "meta":
        module, args, kwargs = materialize(module, args, kwargs)
    split_ops = getattr(mod, "SPLIT_OPS", None)
    if split_ops is not None:
        if isinstance(split_ops, str) or not all(isinstance(o, str) for o in split_ops):
            raise InputError(
                f"SPLIT_OPS in {spec.target} must be a list of op-name strings",
                'e.g. SPLIT_OPS = ["mylib::attention"]',
            )
        split_ops = tuple(split_ops)
    return LoadedModel(spec, module, args, kwargs, split_ops, getattr(mod, "DYNAMIC_DIMS", None))


def _split_ops_named(mod: ModuleType) -> tuple[str, ...] | None:
    """A model file's SPLIT_OPS before its factory runs (``load`` checks it after)."""
    value = getattr(mod, "SPLIT_OPS", None)
    ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    return tuple(value) if ok else None  # type: ignore[arg-type]


def _call_factory(factory: Any, init: str) -> Any:
    if init == "real":
        return factory()
    import torch

    with torch.device("meta"):
        return factory()


def _collect_replaced() -> None:
    """Tear down the module object a reload replaced, now rather than at a random later
    garbage collection: its torch.library registrations (a custom op the model defines)
    unregister when it goes, which drops torch.ops' cached op objects, and a split op
    resolved before that would match no node traced after it."""
    import gc

    gc.collect()


def _import_file(path: str) -> ModuleType:
    if not os.path.exists(path):
        raise InputError(f"model file {path} does not exist", "check the path")
    if os.path.isdir(path):
        raise InputError(f"{path} is a directory", "pass a .py file that defines build()")
    abspath = os.path.abspath(path)
    name = "cachekey_model_" + "".join(c if c.isalnum() else "_" for c in abspath)
    spec = importlib.util.spec_from_file_location(name, abspath)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot import {path}", "pass a Python source file ending in .py")
    mod = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(abspath)
    sys.path.insert(0, folder)
    reloaded = name in sys.modules
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
        if reloaded:
            _collect_replaced()
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise InputError(
            f"syntax error in {path} line {exc.lineno}: {exc.msg}", "fix the model file"
        ) from exc
    except ImportError as exc:
        sys.modules.pop(name, None)
        raise InputError(
            f"importing {path} failed: {exception_line(exc)}",
            "install the missing package or fix the import",
        ) from exc
    except Exception as exc:
        sys.modules.pop(name, None)
        raise InputError(
            f"running {path} failed: {exception_line(exc)}", "fix the model file; try --traceback"
        ) from exc
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    return mod


def _import_module(name: str) -> ModuleType:
    # `python -m` puts the working directory on sys.path, the console script does not
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except SyntaxError as exc:
        raise InputError(
            f"syntax error in module {name} line {exc.lineno}: {exc.msg}", "fix the module"
        ) from exc
    except ImportError as exc:
        raise InputError(
            f"cannot import {name}: {exception_line(exc)}",
            "pass a path to a .py file or an importable module (pkg.mod:NAME)",
        ) from exc
    except Exception as exc:
        raise InputError(
            f"importing {name} failed: {exception_line(exc)}", "try --traceback"
        ) from exc
