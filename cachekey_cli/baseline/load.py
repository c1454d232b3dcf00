"""Read and validate snapshots. Torch-free, and it never executes anything it reads.

Every problem, whatever the bytes, surfaces as one ``InputError`` (exit 3) with a
one-line message naming the file and the first thing wrong with it. The file
is only ever opened for reading.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NoReturn

from cachekey_cli.baseline.snapshot import (
    COMPONENT_KINDS,
    KIND,
    SNAPSHOT_SCHEMA_VERSION,
    SnapPiece,
    Snapshot,
    components_for,
)
from cachekey_cli.errors import InputError
from cachekey_cli.results import KEY_KINDS, VARIANTS, Component, KeyResult

MAX_BYTES = 256 * 1024 * 1024
REFRESH = "re-create it with `cachekey snapshot MODEL -o FILE`"
ENV_FIELDS = ("torch", "torch_git", "python", "platform", "devices", "tuple_return", "mode")
MODEL_FIELDS = ("name", "factory", "split_ops", "split_ops_origin", "matched_ops")


class _Bad(Exception):
    """Internal: where in the document, and what is wrong there (and a better fix, if any)."""

    def __init__(self, message: str, hint: str = REFRESH) -> None:
        super().__init__(message)
        self.hint = hint


def load(path: str) -> Snapshot:
    """Read a snapshot file; InputError (exit 3) for anything but a valid snapshot."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"baseline {path} does not exist", REFRESH) from None
    except IsADirectoryError:
        raise InputError(f"baseline {path} is a directory", "pass the snapshot's file") from None
    except OSError as exc:
        raise InputError(f"cannot read baseline {path}: {exc.strerror}", "check the path") from None
    return parse(data, path)


def parse(data: bytes, label: str) -> Snapshot:
    """Validate bytes as a snapshot. ``label`` names the source in error messages."""
    if len(data) > MAX_BYTES:
        raise InputError(f"baseline {label} is larger than {MAX_BYTES >> 20} MiB", REFRESH)
    if not data.strip():
        raise InputError(f"baseline {label} is empty", REFRESH)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"baseline {label} is not UTF-8 text (byte {exc.start})", REFRESH
        ) from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "truncated" if cut else "not valid JSON"
        raise InputError(
            f"baseline {label} is {what} (line {exc.lineno}, column {exc.colno}: {exc.msg})",
            REFRESH,
        ) from None
    except (_Bad, RecursionError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, _Bad) else "nested too deeply or malformed"
        raise InputError(f"baseline {label} is not valid JSON: {detail}", REFRESH) from None
    try:
        return from_dict(doc, label)
    except _Bad as exc:
        raise InputError(f"baseline {label} is not a cachekey snapshot: {exc}", exc.hint) from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Bad(f"duplicate key {k[:40]!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> NoReturn:
    raise _Bad(f"{name} is not allowed")


def _fail(where: str, what: str) -> NoReturn:
    raise _Bad(f"{where} {what}")


def _obj(doc: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        _fail(f"{where}.{key}", "must be an object")
    return value


def _typed(doc: Mapping[str, Any], key: str, where: str, kind: Any, optional: bool = False) -> Any:
    if key not in doc:
        _fail(f"{where}.{key}", "is missing")
    value = doc[key]
    if value is None and optional:
        return None
    bad_bool = kind is int and isinstance(value, bool)
    if bad_bool or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        _fail(f"{where}.{key}", f"must be {'null or ' if optional else ''}{names}")
    return value


def _str_list(doc: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = _typed(doc, key, where, list)
    if not all(isinstance(x, str) for x in value):
        _fail(f"{where}.{key}", "must be a list of strings")
    return value


def _str_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        _fail(where, "must map names to strings")
    return value


def from_dict(doc: Any, label: str) -> Snapshot:
    """Validate a parsed document; raises ``_Bad`` (callers turn it into InputError)."""
    if not isinstance(doc, dict):
        _fail("the document", f"is a JSON {type(doc).__name__}, not an object")
    version = doc.get("schema_version")
    if doc.get("kind") != KIND and version is None:
        _fail("the document", f"has no schema_version and kind is not {KIND!r}")
    if isinstance(version, bool) or not isinstance(version, int):
        _fail("schema_version", "must be an integer")
    reads = SNAPSHOT_SCHEMA_VERSION
    if version > reads:
        raise _Bad(
            f"schema_version {version} is newer than this cachekey reads ({reads})",
            "upgrade cachekey, or re-create the baseline with this version",
        )
    if version < 1 or version != reads:
        _fail("schema_version", f"{version} is unknown (this cachekey reads {reads})")
    if doc.get("kind") != KIND:
        _fail("kind", f"must be {KIND!r}")
    tool = _obj(doc, "tool", "")
    variant = _typed(doc, "variant", "", str)
    if variant not in VARIANTS:
        _fail(".variant", f"must be one of {', '.join(VARIANTS)}")
    model = _obj(doc, "model", "")
    for name in ("name", "factory", "split_ops_origin"):
        _typed(model, name, ".model", str)
    _str_list(model, "split_ops", ".model")
    _str_list(model, "matched_ops", ".model")
    env = _obj(doc, "environment", "")
    for name in ("torch", "python", "platform", "tuple_return"):
        _typed(env, name, ".environment", str)
    _typed(env, "torch_git", ".environment", str, optional=True)
    if env.get("mode") is not None:  # optional: snapshots before --training have none
        _typed(env, "mode", ".environment", str)
    _str_list(env, "devices", ".environment")
    overrides = _str_map(doc.get("config_overrides"), ".config_overrides")
    dynamo = _str_map(doc.get("dynamo_config", {}), ".dynamo_config")  # optional: newer
    normalize = _typed(doc, "normalize_inputs", "", bool, optional=True)
    unique = _unique(_obj(doc, "unique_keys", ""))
    shared = _obj(doc, "shared_components", "")
    for kind in list(shared):
        if kind not in (*COMPONENT_KINDS, "all"):
            _fail(".shared_components", f"has unknown key kind {kind[:40]!r}")
        _str_map(shared[kind], f".shared_components.{kind}")
    values = _str_map(doc.get("component_values"), ".component_values")
    split = _obj(doc, "split", "")
    ids = _str_list(split, "ids", ".split")
    breaks = _breaks(split.get("breaks", []))  # optional: newer snapshots record them
    raw = _typed(doc, "subgraphs", "", list)
    pieces = tuple(_piece(p, f".subgraphs[{i}]", shared, values) for i, p in enumerate(raw))
    if [p.id for p in pieces] != ids:
        _fail(".split.ids", "do not match the subgraphs listed")
    if len(set(ids)) != len(ids):
        _fail(".split.ids", "are not unique")
    meta = doc.get("meta", {})
    profile = doc.get("profile") or {}  # optional: snapshots before profiles have none
    if not isinstance(profile, dict) or not isinstance(profile.get("name", ""), str):
        _fail(".profile", "must be an object with a string name")
    traced = _traced(doc.get("traced_files", []))
    return Snapshot(
        label=label,
        schema_version=version,
        tool_version=str(tool.get("version", "?")),
        variant=variant,
        model={k: model[k] for k in MODEL_FIELDS},
        environment={k: env.get(k) for k in ENV_FIELDS},
        config_overrides=dict(overrides),
        normalize_inputs=normalize,
        unique_keys=unique,
        pieces=pieces,
        meta=meta if isinstance(meta, dict) else {},
        profile=profile,
        traced_files=traced,
        breaks=breaks,
        dynamo_config=dict(dynamo),
    )


def _traced(value: Any) -> tuple[tuple[str, str | None], ...]:
    """``traced_files`` (optional: snapshots before it have none)."""
    if not isinstance(value, list):
        _fail(".traced_files", "must be a list")
    out = []
    for i, item in enumerate(value):
        where = f".traced_files[{i}]"
        if not isinstance(item, dict):
            _fail(where, "must be an object")
        out.append((_typed(item, "file", where, str),
                    _typed(item, "sha256", where, str, optional=True)))
    return tuple(out)


def _breaks(doc: Any) -> dict[int, str]:
    if not isinstance(doc, list):
        _fail(".split.breaks", "must be a list")
    out: dict[int, str] = {}
    for i, item in enumerate(doc):
        where = f".split.breaks[{i}]"
        if not isinstance(item, dict):
            _fail(where, "must be an object")
        graph = _typed(item, "graph", where, int)
        reason = _typed(item, "reason", where, str)
        location = _typed(item, "location", where, str, optional=True)
        out[graph] = f"{reason} ({location})" if location else reason
    return out


def _unique(doc: dict[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for variant in VARIANTS:
        counts = _obj(doc, variant, ".unique_keys")
        out[variant] = {k: _typed(counts, k, f".unique_keys.{variant}", int) for k in KEY_KINDS}
    return out


def _piece(
    doc: Any, where: str, shared: Mapping[str, Mapping[str, str]], values: Mapping[str, str]
) -> SnapPiece:
    if not isinstance(doc, dict):
        _fail(where, "must be an object")
    keys = _obj(doc, "keys", where)
    refusals = _str_map(doc.get("refusals"), f"{where}.refusals")
    components = _obj(doc, "components", where)
    results: dict[str, KeyResult] = {}
    for kind in KEY_KINDS:
        key = _typed(keys, kind, f"{where}.keys", str, optional=True)
        own = _str_map(components.get(kind, {}), f"{where}.components.{kind}")
        common = components_for(shared, kind) if kind in COMPONENT_KINDS and key else {}
        names = {**common, **own}
        comps = tuple(Component(n, h, values.get(h)) for n, h in sorted(names.items()))
        if key is None and kind not in refusals:
            _fail(f"{where}.keys.{kind}", "is null but no refusal is recorded")
        results[kind] = KeyResult(kind, key, comps, refusals.get(kind))
    for kind in components:
        if kind not in COMPONENT_KINDS:
            _fail(f"{where}.components", f"has unknown key kind {kind[:40]!r}")
    inputs = _str_list(doc, "inputs", where) if "inputs" in doc else []  # optional: newer
    return SnapPiece(
        id=_typed(doc, "id", where, str),
        graph=_typed(doc, "graph", where, int),
        name=_typed(doc, "name", where, str),
        splitting_op=_typed(doc, "splitting_op", where, bool),
        op=_typed(doc, "op", where, str, optional=True),
        outputs=_typed(doc, "outputs", where, int),
        returns_tuple=_typed(doc, "returns_tuple", where, bool),
        normalized=_typed(doc, "normalized", where, bool),
        output_code=_typed(doc, "output_code", where, str),
        keys=results,
        sizes=_sizes(doc.get("sizes") or {}, f"{where}.sizes"),
        inputs=tuple(inputs),
    )


def _sizes(value: Any, where: str) -> dict[str, dict[str, str | None]]:
    """A piece's single-size keys (optional: snapshots before --compile-size have none)."""
    if not isinstance(value, dict):
        _fail(where, "must map sizes to keys")
    out: dict[str, dict[str, str | None]] = {}
    for size, keys in value.items():
        if not size.isdigit() or not isinstance(keys, dict):
            _fail(where, "must map sizes to {key kind: key}")
        for kind, key in keys.items():
            if kind not in KEY_KINDS or not (key is None or isinstance(key, str)):
                _fail(f"{where}.{size}", "must map key kinds to keys or null")
        out[size] = dict(keys)
    return out
