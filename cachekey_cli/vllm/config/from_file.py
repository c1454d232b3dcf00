"""``--vllm-config FILE``: the deployment's ``VllmConfig``, built with vLLM's own classes.

The file is a JSON object whose top-level keys are ``VllmConfig`` field names;
each value is the JSON that field's class takes (what ``vllm serve
--compilation-config`` takes), validated with pydantic's ``TypeAdapter`` as vLLM
does. Every problem is one ``InputError`` naming the field. Like
``compile/live.py``, it imports vLLM only inside its functions, reached through the
installed profile once ``probe.probe()`` found vLLM.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from typing import Any

from cachekey_cli.errors import InputError, exception_line


def build_config(path: str | None, fill: Mapping[str, Any]) -> tuple[Any, tuple[str, ...]]:
    """A ``VllmConfig`` from a JSON file of its fields, and notes on what was filled in.

    Each top-level key is a ``VllmConfig`` field; a dataclass field's value is
    validated by vLLM's config class exactly as ``vllm serve --<field> JSON`` does
    (pydantic's ``TypeAdapter(cls).validate_json``). ``fill`` gives
    ``compilation_config`` entries the file leaves unset.
    """
    from pydantic import TypeAdapter, ValidationError
    from vllm.config import VllmConfig
    from vllm.platforms import current_platform

    where = f"--vllm-config {path}" if path else "vLLM's default config"
    doc = _read(path) if path else {}
    hints = typing.get_type_hints(VllmConfig)
    names = {f.name for f in dataclasses.fields(VllmConfig)}
    notes = []
    if fill:
        compilation = doc.setdefault("compilation_config", {})
        if isinstance(compilation, dict):
            for key, value in fill.items():
                compilation.setdefault(key, value)
    if "device_config" not in doc and not current_platform.device_type:
        doc["device_config"] = {"device": "cpu"}
        notes.append("vLLM finds no accelerator here: device_config.device='cpu'")
    kwargs: dict[str, Any] = {}
    for name, value in doc.items():
        if name not in names:
            raise InputError(f"{where}: {name!r} is not a VllmConfig field",
                             "top-level keys are VllmConfig field names, e.g. compilation_config")
        cls = _config_class(hints.get(name))
        if cls is None:
            kwargs[name] = value
            continue
        try:
            kwargs[name] = TypeAdapter(cls).validate_json(json.dumps(value))
        except ValidationError as exc:
            raise _field_error(where, name, exc) from exc
        except Exception as exc:  # a config class's own check, outside pydantic's wrapping
            raise InputError(f"{where}: {name}: {exception_line(exc)}",
                             "fix or drop that field") from exc
    try:
        return VllmConfig(**kwargs), tuple(notes)
    except ValidationError as exc:
        raise _field_error(where, None, exc) from exc
    except Exception as exc:
        raise InputError(f"{where}: vLLM rejects the config: {exception_line(exc)}",
                         "fix the field vLLM names") from exc


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as exc:
        raise InputError(f"cannot read --vllm-config {path}: {exc.strerror or exc}",
                         "check the path") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"--vllm-config {path} is not JSON: {exc}",
                         "write a JSON object of VllmConfig fields") from exc
    if not isinstance(doc, dict):
        raise InputError(f"--vllm-config {path} is not a JSON object",
                         'e.g. {"compilation_config": {"compile_sizes": []}}')
    return doc


def _config_class(hint: Any) -> type | None:
    """The dataclass among a field's types (``CompilationConfig``, ``X | None`` ...)."""
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
            return candidate
    return None


def _field_error(where: str, name: str | None, exc: Any) -> InputError:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in ((name,) if name else ()) + tuple(first.get("loc", ())))
    msg = str(first.get("msg", "invalid")).strip().splitlines()[0]
    return InputError(f"{where}: {loc or 'config'}: {msg}",
                      "fix or drop that field (each value is the JSON of vLLM's config class)")
