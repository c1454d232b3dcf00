"""Read ``cache_key_factors.json`` and recompute the folder name it stands for.

Two layouts, each a row family of ``vllm/releases.py``
(vllm/compilation/backends.py, ``VllmBackend.__call__``):

- ``hashes`` (vLLM 0.32.0, 0.33.0)::

    {"env": envs.compile_factors(), "config_hash": ..., "code_hash": ..., "compiler_hash": ...}

  and the folder is ``sha256(str([env_hash, config_hash, code_hash,
  compiler_hash]))[:10]`` with ``env_hash = hash_factors(env)`` =
  ``sha256(json.dumps(env, sort_keys=True))`` (vllm/config/utils.py);
- ``raw`` (vLLM 0.34.0): the raw ``config`` (every field, nested by sub-config),
  ``compiler`` and ``code`` (``{"files": [{"path", "hash"}, ...]}``) factors too,
  and the folder is ``hash_factors({"env", "config", "code", "compiler"})[:10]``.

Anything else is an ``InputError`` (exit 3).
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from cachekey_cli.errors import InputError
from cachekey_cli.reading import MIB, read_limited
from cachekey_cli.vllm import releases
from cachekey_cli.vllm.records import CodeEntry, Factors

FILE_NAME = "cache_key_factors.json"
MAX_BYTES = 16 * MIB
REQUIRED = ("env", "config_hash", "code_hash", "compiler_hash")
RAW = ("config", "compiler", "code")
FIX = "pass a cache_key_factors.json that vLLM wrote, or the folder that holds it"


hash_factors = releases.hash_factors


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
            path=path, layout=releases.HASHES, env=env, env_hash=env_hash,
            config_hash=hashes["config_hash"], code_hash=hashes["code_hash"],
            compiler_hash=hashes["compiler_hash"],
            folder_hash=releases.folder_from_hashes(env_hash, hashes["config_hash"],
                                                    hashes["code_hash"], hashes["compiler_hash"]),
        )
    if len(raw) != len(RAW):
        absent = [k for k in RAW if k not in doc]
        _bad(path, f"has {', '.join(raw)} but not {', '.join(absent)}")
    config, compiler = doc["config"], doc["compiler"]
    if not isinstance(config, dict):
        _bad(path, f"has 'config' as a JSON {_json_type(config)}, not an object")
    code = _code_entries(doc["code"], path)
    raw_release = releases.for_layout(releases.RAW)
    folder = raw_release.names_folder("", "", "", "", raw=doc)
    return Factors(
        path=path, layout=releases.RAW, env=env, env_hash=env_hash,
        config_hash=hashes["config_hash"], code_hash=hashes["code_hash"],
        compiler_hash=hashes["compiler_hash"],
        folder_hash=folder, config=config, compiler=compiler, code=code,
    )


def _code_entries(code: Any, path: str) -> tuple[CodeEntry, ...]:
    value = code.get("files") if isinstance(code, dict) else None
    if not isinstance(value, list):
        what = "an object without a 'files' list" if isinstance(code, dict) else \
            f"a JSON {_json_type(code)}"
        _bad(path, f"has 'code' as {what}, not {{\"files\": [...]}} as vLLM writes it")
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
