"""Read ``cache_key_factors.json`` and recompute the folder name it stands for.

vLLM 0.33.0 (vllm/compilation/backends.py, ``VllmBackend.__call__``) writes::

    {"env": envs.compile_factors(), "config_hash": ..., "code_hash": ..., "compiler_hash": ...}

and names the folder ``sha256(str([env_hash, config_hash, code_hash,
compiler_hash]))[:10]`` with ``env_hash = hash_factors(env)`` =
``sha256(json.dumps(env, sort_keys=True))`` (vllm/config/utils.py).

Newer vLLM also writes the raw ``config``, ``compiler`` and ``code`` factors
(``code``: a list of ``{"path", "hash"}``) and names the folder
``hash_factors({"env", "config", "code": {"files": code}, "compiler"})[:10]``.
Both layouts are read; anything else is an ``InputError`` (exit 3).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NoReturn

from cachekey_cli.errors import InputError
from cachekey_cli.vllm_cache.reading import MIB, read_limited
from cachekey_cli.vllm_cache.records import CodeEntry, Factors

FILE_NAME = "cache_key_factors.json"
MAX_BYTES = 16 * MIB
REQUIRED = ("env", "config_hash", "code_hash", "compiler_hash")
RAW = ("config", "compiler", "code")
FIX = "pass a cache_key_factors.json that vLLM wrote, or the folder that holds it"


def hash_factors(items: Any) -> str:
    """vLLM's ``hash_factors``: sha256 of the canonical (sorted-keys) JSON."""
    return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()


def folder_hash_033(env_hash: str, config_hash: str, code_hash: str, compiler_hash: str) -> str:
    factors = [env_hash, config_hash, code_hash, compiler_hash]
    return hashlib.sha256(str(factors).encode()).hexdigest()[:10]


def read(path: str) -> Factors:
    return parse(read_limited(path, "factors file", MAX_BYTES), path)


def _bad(path: str, what: str, fix: str = FIX) -> NoReturn:
    raise InputError(f"factors file {path} {what}", fix)


def parse(data: bytes, path: str) -> Factors:
    if not data.strip():
        _bad(path, "is empty", "vLLM was probably stopped while writing it: delete the folder")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _bad(path, f"is not UTF-8 text (byte {exc.start})")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "is truncated" if cut else "is not valid JSON"
        _bad(path, f"{what} (line {exc.lineno}, column {exc.colno}: {exc.msg})",
             "vLLM was probably stopped while writing it: delete the folder" if cut else FIX)
    except (RecursionError, ValueError):
        _bad(path, "is not valid JSON (nested too deeply or malformed)")
    if not isinstance(doc, dict):
        _bad(path, f"is a JSON {_json_type(doc)}, not an object")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        _bad(path, f"has no {', '.join(repr(k) for k in missing)} (vLLM writes "
             f"{', '.join(REQUIRED)})")
    env = doc["env"]
    if not isinstance(env, dict):
        _bad(path, f"has 'env' as a JSON {_json_type(env)}, not an object")
    hashes: dict[str, str] = {}
    for key in REQUIRED[1:]:
        value = doc[key]
        if not isinstance(value, str) or not value:
            _bad(path, f"has {key!r} that is not a non-empty string")
        hashes[key] = value
    env_hash = hash_factors(env)
    raw = [k for k in RAW if k in doc]
    if not raw:
        return Factors(
            path=path, layout="0.33", env=env, env_hash=env_hash,
            config_hash=hashes["config_hash"], code_hash=hashes["code_hash"],
            compiler_hash=hashes["compiler_hash"],
            folder_hash=folder_hash_033(env_hash, hashes["config_hash"], hashes["code_hash"],
                                        hashes["compiler_hash"]),
        )
    if len(raw) != len(RAW):
        absent = [k for k in RAW if k not in doc]
        _bad(path, f"has {', '.join(raw)} but not {', '.join(absent)}")
    config, compiler = doc["config"], doc["compiler"]
    if not isinstance(config, dict):
        _bad(path, f"has 'config' as a JSON {_json_type(config)}, not an object")
    code = _code_entries(doc["code"], path)
    everything = {"env": env, "config": config, "code": {"files": doc["code"]},
                  "compiler": compiler}
    return Factors(
        path=path, layout="raw", env=env, env_hash=env_hash,
        config_hash=hashes["config_hash"], code_hash=hashes["code_hash"],
        compiler_hash=hashes["compiler_hash"],
        folder_hash=hash_factors(everything)[:10], config=config, compiler=compiler, code=code,
    )


def _code_entries(value: Any, path: str) -> tuple[CodeEntry, ...]:
    if not isinstance(value, list):
        _bad(path, f"has 'code' as a JSON {_json_type(value)}, not a list of files")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            _bad(path, f"has code[{i}] without a 'path' string")
        digest = item.get("hash")
        if digest is not None and not isinstance(digest, str):
            _bad(path, f"has code[{i}].hash that is not a string")
        out.append(CodeEntry(item["path"], digest))
    return tuple(out)


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
             float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
