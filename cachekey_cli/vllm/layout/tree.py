"""Find the vLLM cache folders under a PATH and read them into a ``Deployment``.

vLLM 0.33.0 files its compile cache under ``VLLM_CACHE_ROOT`` as::

    torch_compile_cache/<hash>/rank_<r>_<dp>/<prefix>/   cache_key_factors.json, …
    torch_compile_cache/torch_aot_compile/<hash>/rank_<r>_<dp>/model

(vllm/compilation/backends.py and decorators.py). PATH may be the root, its
``torch_compile_cache``, a hash, rank or prefix folder, or a factors file; the
walk is bounded by that layout, so links that loop cannot make it run away.
"""

from __future__ import annotations

import os
import re
import stat

from cachekey_cli.errors import InputError
from cachekey_cli.reading import is_dir, list_dir, size_of, stat_path
from cachekey_cli.vllm.identity import factors
from cachekey_cli.vllm.layout import aot_model, artifacts
from cachekey_cli.vllm.records import AotModel, Deployment, PrefixFolder

RANK = re.compile(r"^rank_\d+_\d+$")
COMPILE_CACHE = "torch_compile_cache"
AOT_FOLDER = "torch_aot_compile"
AOT_HINT = (
    "AOT-compiled models (which record the traced sources) are under "
    "torch_compile_cache/torch_aot_compile: pass the cache root to read them too"
)
NOT_A_CACHE = (
    "pass a VLLM_CACHE_ROOT, its torch_compile_cache, a folder inside it, "
    "or a cache_key_factors.json"
)


def read(path: str) -> Deployment:
    """Read everything vLLM filed under ``path``; InputError (exit 3) when it is no cache."""
    info = stat_path(path, "path")
    if not stat.S_ISDIR(info.st_mode):
        folder = _prefix(os.path.dirname(path) or ".", factors.read(path), only_factors=True)
        return Deployment(path, "factors file", (folder,), (), (AOT_HINT,))
    entries = list_dir(path, "folder")
    if not entries:
        raise InputError(f"folder {path} is empty", NOT_A_CACHE)
    names = {e.name for e in entries}
    base = os.path.basename(os.path.normpath(os.path.abspath(path)))
    if factors.FILE_NAME in names:
        return Deployment(path, "prefix folder", (_read_prefix(path),), (), (AOT_HINT,))
    if COMPILE_CACHE in names and is_dir(next(e for e in entries if e.name == COMPILE_CACHE)):
        return _compile_cache(os.path.join(path, COMPILE_CACHE), path, "cache root")
    if base == COMPILE_CACHE or AOT_FOLDER in names:
        return _compile_cache(path, path, COMPILE_CACHE)
    if RANK.match(base):
        return _found(path, "rank folder", _rank(path))
    if any(RANK.match(e.name) and is_dir(e) for e in entries):
        return _found(path, "hash folder", _hash(path))
    raise InputError(f"{path} is not a vLLM cache folder (no {factors.FILE_NAME} in it or in "
                     "the folders vLLM makes under it)", NOT_A_CACHE)


def _found(path: str, kind: str, folders: list[PrefixFolder],
           models: tuple[AotModel, ...] | None = None) -> Deployment:
    if not folders:
        raise InputError(
            f"{kind} {path} holds no {factors.FILE_NAME}",
            "vLLM writes it when it compiles; pass a folder from a finished run",
        )
    notes = () if models is not None else (AOT_HINT,)
    return Deployment(path, kind, tuple(folders), models or (), notes)


def _compile_cache(path: str, given: str, kind: str) -> Deployment:
    folders: list[PrefixFolder] = []
    for entry in list_dir(path, "folder"):
        if entry.name != AOT_FOLDER and is_dir(entry):
            folders.extend(_hash(entry.path))
    return _found(given, kind, folders, _aot_models(os.path.join(path, AOT_FOLDER)))


def _hash(path: str) -> list[PrefixFolder]:
    out: list[PrefixFolder] = []
    for entry in list_dir(path, "folder"):
        if RANK.match(entry.name) and is_dir(entry):
            out.extend(_rank(entry.path))
    return out


def _rank(path: str) -> list[PrefixFolder]:
    out = []
    for entry in list_dir(path, "folder"):
        if is_dir(entry) and os.path.lexists(os.path.join(entry.path, factors.FILE_NAME)):
            out.append(_read_prefix(entry.path))
    return out


def _read_prefix(path: str) -> PrefixFolder:
    return _prefix(path, factors.read(os.path.join(path, factors.FILE_NAME)))


def _prefix(path: str, facts: factors.Factors, only_factors: bool = False) -> PrefixFolder:
    abspath = os.path.abspath(path)
    prefix, rank_dir = os.path.basename(abspath), os.path.dirname(abspath)
    rank = os.path.basename(rank_dir)
    located = bool(RANK.match(rank)) and (not only_factors or
                                           os.path.basename(facts.path) == factors.FILE_NAME)
    hash_name = os.path.basename(os.path.dirname(rank_dir)) if located else None
    if only_factors:
        return PrefixFolder(hash_name, rank if located else None, prefix if located else None,
                            path, facts, {})
    files = {e.name: size_of(e.path) for e in list_dir(path, "folder")}
    index: tuple[artifacts.IndexEntry, ...] = ()
    notes: list[str] = []
    if artifacts.INDEX_NAME in files:
        index, note = artifacts.read_index(os.path.join(path, artifacts.INDEX_NAME))
        if note:
            notes.append(note)
    return PrefixFolder(
        hash=hash_name, rank=rank if located else None, prefix=prefix if located else None,
        path=path, factors=facts, files=files, index=index,
        artifacts=artifacts.read_artifacts(path), notes=tuple(notes),
    )


def enclosing_aot_models(dep: Deployment) -> tuple[AotModel, ...] | None:
    """For a hash, rank or prefix folder PATH inside ``torch_compile_cache``: the
    AOT-compiled models of that ``torch_compile_cache`` (where a warm start reads them,
    whichever folder was named); None when PATH is not inside one."""
    up = {"prefix folder": 3, "rank folder": 2, "hash folder": 1}.get(dep.kind)
    if up is None:
        return None
    folder = os.path.abspath(dep.path)
    for _ in range(up):
        folder = os.path.dirname(folder)
    if os.path.basename(folder) != COMPILE_CACHE:
        return None
    return _aot_models(os.path.join(folder, AOT_FOLDER))


def _aot_models(path: str) -> tuple[AotModel, ...]:
    if not os.path.isdir(path):
        return ()
    out = []
    for hash_entry in list_dir(path, "folder"):
        if not is_dir(hash_entry):
            continue
        for rank_entry in list_dir(hash_entry.path, "folder"):
            model = os.path.join(rank_entry.path, "model")
            if RANK.match(rank_entry.name) and os.path.isfile(model):
                out.append(aot_model.read(model, hash_entry.name, rank_entry.name))
    return tuple(out)
