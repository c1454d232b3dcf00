"""Load a model file or module and call its factory.

The contract (docs/model-files.md): a factory, ``build`` unless named with
``PATH.py:NAME`` or ``pkg.mod:NAME``, returns ``(module, args)`` or
``(module, args, kwargs)``. Optional module-level ``SPLIT_OPS`` and
``DYNAMIC_DIMS`` name the splitting ops and the dynamic input dimensions.
``hf:...`` specs are Hugging Face configs (``hf_models``), and ``from_object``
takes a model the caller built (the Python API).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from cachekey_cli.errors import InputError, exception_line
from cachekey_cli.sources import hf as hf_models
from cachekey_cli.vllm import models as vllm_models

DEFAULT_FACTORY = "build"

@dataclass(frozen=True)
class ModelSpec:
    target: str  # a file path or a dotted module name
    factory: str
    is_file: bool

    @property
    def display(self) -> str:
        return f"{self.target}:{self.factory}"


@dataclass(frozen=True)
class LoadedModel:
    spec: ModelSpec
    module: Any  # torch.nn.Module (or any callable Dynamo can trace)
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    split_ops: tuple[str, ...] | None  # SPLIT_OPS from the file, if any
    dynamic_dims: Any = None  # DYNAMIC_DIMS from the file, if any (raw; checked by dynamic_dims)


def parse_spec(text: str) -> ModelSpec:
    if hf_models.is_hf(text) or vllm_models.is_vllm(text):  # factory: the architecture
        return ModelSpec(target=text, factory="from_config", is_file=False)
    target, factory = text, DEFAULT_FACTORY
    head, sep, tail = text.rpartition(":")
    if sep and tail.isidentifier() and head:
        target, factory = head, tail
    is_file = target.endswith(".py") or os.sep in target or os.path.exists(target)
    return ModelSpec(target=target, factory=factory, is_file=is_file)


# "auto": "real" for model files and objects, "meta" for hf: configs
INIT_MODES = ("auto", "real", "meta")


def load(
    text: str,
    init: str = "auto",
    seq_len: int | None = None,
    before_factory: Callable[[ModuleType], None] | None = None,
) -> LoadedModel:
    """Import the model and call its factory.

    ``init="meta"`` calls the factory under the meta device, then gives the
    module and the inputs uninitialized CPU storage (see ``materialize``).
    Model code may print: stdout carries only the report (e.g. JSON), so
    anything the model writes goes to stderr instead. ``seq_len`` is the
    input length of ``hf:`` models, and an error for any other. ``before_factory(module)``
    runs once a model file is imported, before its factory is called (a client's set-up
    that the model's construction must see, e.g. vLLM's current config).
    """
    if init not in INIT_MODES:
        raise InputError(f"unknown init mode {init!r}", f"use one of {', '.join(INIT_MODES)}")
    with contextlib.redirect_stdout(sys.stderr):
        if vllm_models.is_vllm(text):
            return _load_vllm(text, seq_len, before_factory)
        if hf_models.is_hf(text):
            return _load_hf(text, "meta" if init == "auto" else init, seq_len)
        if seq_len is not None:
            raise InputError(
                f"--seq-len is for hf: models, and {text} is a model file or module",
                "drop --seq-len; the factory decides its inputs",
            )
        return _load(text, "real" if init == "auto" else init, before_factory)


def _load_vllm(text: str, seq_len: int | None,
               before_factory: Callable[[ModuleType], None] | None) -> LoadedModel:
    """vLLM's own model class, built under the config the profile's session made from the
    serve arguments (``before_factory`` enters that session first)."""
    if before_factory is None:
        raise InputError(f"{text} is built by vLLM from a deployment's config",
                         "analyse it with the vllm profile")
    before_factory(ModuleType("vllm_source"))
    module, args, kwargs, arch = vllm_models.build(seq_len)
    return LoadedModel(ModelSpec(target=text, factory=arch, is_file=False), module, args, kwargs,
                       None)


def _load_hf(text: str, init: str, seq_len: int | None) -> LoadedModel:
    module, arch, args, kwargs = hf_models.build(text, init, seq_len)
    if init == "meta":
        module, args, kwargs = materialize(module, args, kwargs)
    return LoadedModel(ModelSpec(target=text, factory=arch, is_file=False), module, args, kwargs,
                       None)


def from_object(
    built: Any, name: str, init: str = "auto", split_ops: tuple[str, ...] | None = None
) -> LoadedModel:
    """A ``(module, args[, kwargs])`` tuple built by the caller, checked like a factory's result.

    ``init="meta"`` gives meta tensors uninitialized CPU storage (``materialize``).
    """
    spec = ModelSpec(target=name, factory="object", is_file=False)
    module, args, kwargs = _check_contract(built, spec)
    if init == "meta":
        module, args, kwargs = materialize(module, args, kwargs)
    return LoadedModel(spec, module, args, kwargs, split_ops)


def _load(
    text: str, init: str, before_factory: Callable[[ModuleType], None] | None = None
) -> LoadedModel:
    spec = parse_spec(text)
    mod = _import_file(spec.target) if spec.is_file else _import_module(spec.target)
    if before_factory is not None:
        before_factory(mod)
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
    module, args, kwargs = _check_contract(built, spec)
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


def _call_factory(factory: Any, init: str) -> Any:
    if init == "real":
        return factory()
    import torch

    with torch.device("meta"):
        return factory()


def materialize(
    module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    """Give every meta tensor CPU storage of the same metadata, without computing anything.

    Parameters and buffers get ``to_empty``: storage that is allocated but never
    written, so it costs address space, not resident memory. Input tensors get
    the same treatment, except that integer and bool inputs (token ids, masks)
    are zero-filled so that any eager code between graph breaks indexes safely.
    Keys depend only on tensor metadata, which is unchanged.
    """
    import torch
    from torch.utils._pytree import tree_map

    if isinstance(module, torch.nn.Module):
        module = module.to_empty(device="cpu", recurse=True)
        for sub in module.modules():  # plain tensor attributes to_empty does not see
            for name, value in list(vars(sub).items()):
                if isinstance(value, torch.Tensor) and value.is_meta:
                    setattr(sub, name, _empty_like(value))

    def fill(value: Any) -> Any:
        if not isinstance(value, torch.Tensor) or not value.is_meta:
            return value
        out = _empty_like(value)
        if not (out.is_floating_point() or out.is_complex()):
            out.zero_()
        return out.requires_grad_(value.requires_grad)

    return module, tuple(tree_map(fill, list(args))), dict(tree_map(fill, kwargs))


def _empty_like(t: Any) -> Any:
    import torch

    return torch.empty_strided(tuple(t.shape), tuple(t.stride()), dtype=t.dtype, device="cpu")


def _check_contract(built: Any, spec: ModelSpec) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    import torch

    hint = f"{spec.factory}() must return (module, args) or (module, args, kwargs)"
    if not isinstance(built, tuple) or len(built) not in (2, 3):
        raise InputError(f"{spec.factory}() returned {type(built).__name__}", hint)
    module, args = built[0], built[1]
    kwargs = built[2] if len(built) == 3 else {}
    if not isinstance(module, torch.nn.Module) and not callable(module):
        raise InputError(f"{spec.factory}() returned a non-callable {type(module).__name__}", hint)
    if isinstance(args, torch.Tensor):
        args = (args,)
    if not isinstance(args, (tuple, list)):
        raise InputError(f"args from {spec.factory}() is a {type(args).__name__}", hint)
    if not isinstance(kwargs, dict):
        raise InputError(f"kwargs from {spec.factory}() is a {type(kwargs).__name__}", hint)
    return module, tuple(args), dict(kwargs)


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
