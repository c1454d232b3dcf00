"""Read an AOT-compiled vLLM model file without torch and without running any of it.

With ``VLLM_USE_AOT_COMPILE=1`` (the default) vLLM saves the compiled model to
``torch_compile_cache/torch_aot_compile/<hash>/rank_<r>_<dp>/model``
(vllm/compilation/decorators.py, ``save_aot_compiled_function``). The file is a
pickle written by ``torch.compiler``'s ``save_compiled_function``; among other
things it records:

- ``source_info.inlined_sources``: every module whose code Dynamo traced, with the
  module's whole source text (torch/_dynamo/package.py, ``SourceInfo``). vLLM
  checks them on load (``_verify_source_unchanged``) and recompiles if one changed;
- ``system_info``: the Python, torch and triton versions, CUDA/ROCm toolkit, GPU;
- ``original_code``: the compiled ``forward``'s file, qualified name and first line.

The pickle is read by an unpickler whose ``find_class`` never imports anything:
every class becomes an inert placeholder that only records its arguments and
state, so no code from the file can run. Anything unexpected becomes a note.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from typing import Any

from cachekey_cli.vllm_cache.reading import MIB, is_dir
from cachekey_cli.vllm_cache.records import AotModel, InlinedSource

MAX_BYTES = 512 * MIB
SYSTEM_FIELDS = {
    "python_version": "python",
    "torch_version": "torch",
    "triton_version": "triton",
    "toolkit_version": "toolkit",
    "gpu_name": "gpu",
}


class Inert:
    """Stands in for any class the pickle names; records what it was given, runs nothing."""

    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Inert:
        obj = object.__new__(cls)
        obj.__dict__["_args"] = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__.setdefault("_args", args)

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            merged = {**(state[0] or {}), **(state[1] or {})}
            state = merged
        self.__dict__["_state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__.setdefault("_items", {})[key] = value

    def append(self, value: Any) -> None:
        self.__dict__.setdefault("_list", []).append(value)

    def extend(self, values: Any) -> None:
        self.__dict__.setdefault("_list", []).extend(values)

    def state(self) -> dict[str, Any]:
        value = self.__dict__.get("_state")
        return value if isinstance(value, dict) else {}

    def args(self) -> tuple[Any, ...]:
        return tuple(self.__dict__.get("_args", ()))


class InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        return type(name, (Inert,), {"qualname": f"{module}.{name}"})

    def persistent_load(self, pid: Any) -> Any:
        return None


def read(path: str, hash_name: str, rank: str) -> AotModel:
    """The model file's facts; problems become ``AotModel.problem``, never errors."""
    cache = os.path.dirname(os.path.dirname(path))
    keys = _subfolders(os.path.join(cache, "inductor_cache", "aotautograd"))
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return AotModel(hash_name, rank, path, 0, keys, problem=exc.strerror or "unreadable")
    base = AotModel(hash_name, rank, path, size, keys)
    if size > MAX_BYTES:
        return _with(base, problem=f"larger than {MAX_BYTES // MIB} MiB; not read")
    try:
        with open(path, "rb") as fh:
            doc = InertUnpickler(io.BytesIO(fh.read())).load()
    except OSError as exc:
        return _with(base, problem=exc.strerror or "unreadable")
    except Exception as exc:  # any malformed pickle: a note, not a crash
        return _with(base, problem=f"not a readable AOT model ({type(exc).__name__})")
    if not isinstance(doc, dict):
        return _with(base, problem="not an AOT-compiled model (no field table)")
    code = doc.get("original_code")
    code_state = code.state() if isinstance(code, Inert) else {}
    return _with(
        base,
        forward_file=_str(code_state.get("co_filename")),
        forward_name=_str(code_state.get("co_qualname") or code_state.get("co_name")),
        forward_line=code_state.get("co_firstlineno")
        if isinstance(code_state.get("co_firstlineno"), int) else None,
        sources=_sources(doc.get("source_info")),
        system=_system(doc.get("system_info")),
    )


def _with(base: AotModel, **changes: Any) -> AotModel:
    from dataclasses import replace

    return replace(base, **changes)


def _sources(info: Any) -> tuple[InlinedSource, ...]:
    if not isinstance(info, Inert):
        return ()
    raw = info.state().get("inlined_sources") or ()
    found: dict[tuple[str, str], InlinedSource] = {}
    for item in raw if isinstance(raw, (set, frozenset, list, tuple)) else ():
        state = item.state() if isinstance(item, Inert) else {}
        module, content = state.get("module"), state.get("content")
        if not isinstance(module, str) or not isinstance(content, str):
            continue
        digest = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
        found[(module, digest)] = InlinedSource(module, digest, content.count("\n"))
    return tuple(sorted(found.values(), key=lambda s: (s.module, s.sha256)))


def _system(info: Any) -> dict[str, str]:
    if not isinstance(info, Inert):
        return {}
    out = {}
    for name, label in SYSTEM_FIELDS.items():
        value = info.state().get(name)
        if value is None:
            continue
        if isinstance(value, Inert):  # e.g. TorchVersion, a str subclass
            value = value.args()[0] if value.args() else value.qualname
        if isinstance(value, tuple):
            value = ".".join(str(v) for v in value)
        out[label] = str(value)
    return out


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _subfolders(path: str) -> tuple[str, ...]:
    try:
        with os.scandir(path) as it:
            return tuple(sorted(e.name for e in it if is_dir(e)))
    except OSError:
        return ()
