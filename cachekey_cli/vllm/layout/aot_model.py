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

The pickle is never unpickled: ``cachekey_cli.pickled`` walks its opcodes
with ``pickletools`` and builds an inert skeleton in which every object is an
``Obj`` that only records its class's name, its arguments and its state, so
no code from the file can run. Anything unexpected becomes a note.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from typing import Any

from cachekey_cli.pickled import NotAPickle, Obj, skeleton
from cachekey_cli.reading import MIB, is_dir
from cachekey_cli.vllm.records import AotModel, InlinedSource

MAX_BYTES = 512 * MIB
SYSTEM_FIELDS = {
    "python_version": "python",
    "torch_version": "torch",
    "triton_version": "triton",
    "toolkit_version": "toolkit",
    "gpu_name": "gpu",
}


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
            doc = skeleton(fh.read())
    except OSError as exc:
        return _with(base, problem=exc.strerror or "unreadable")
    except NotAPickle as exc:  # any malformed pickle: a note, not a crash
        return _with(base, problem=f"not a readable AOT model ({exc})")
    if not isinstance(doc, dict):
        return _with(base, problem="not an AOT-compiled model (no field table)")
    code = _state(doc.get("original_code"))
    line = code.get("co_firstlineno")
    return _with(
        base,
        forward_file=_str(code.get("co_filename")),
        forward_name=_str(code.get("co_qualname") or code.get("co_name")),
        forward_line=line if isinstance(line, int) else None,
        sources=_sources(doc.get("source_info")),
        system=_system(doc.get("system_info")),
    )


def _with(base: AotModel, **changes: Any) -> AotModel:
    return replace(base, **changes)


def _state(value: Any) -> dict[Any, Any]:
    """An object's state as one dict (a (dict, slots) pair merged); {} for anything else."""
    if not isinstance(value, Obj):
        return {}
    state = value.state
    if isinstance(state, tuple) and len(state) == 2:
        state = {k: v for part in state if isinstance(part, dict) for k, v in part.items()}
    return state if isinstance(state, dict) else {}


def _sources(info: Any) -> tuple[InlinedSource, ...]:
    raw = _state(info).get("inlined_sources") or ()
    found: dict[tuple[str, str], InlinedSource] = {}
    for item in raw if isinstance(raw, (set, frozenset, list, tuple)) else ():
        state = _state(item)
        module, content = state.get("module"), state.get("content")
        if not isinstance(module, str) or not isinstance(content, str):
            continue
        digest = hashlib.sha256(content.encode("utf-8", "surrogatepass")).hexdigest()
        found[(module, digest)] = InlinedSource(module, digest, content.count("\n"))
    return tuple(sorted(found.values(), key=lambda s: (s.module, s.sha256)))


def _system(info: Any) -> dict[str, str]:
    state = _state(info)
    out = {}
    for name, label in SYSTEM_FIELDS.items():
        value = state.get(name)
        if value is None:
            continue
        if isinstance(value, Obj):  # e.g. TorchVersion, a str subclass
            value = value.args[0] if value.args else value.qualname
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
