"""Read an Inductor cache directory (``TORCHINDUCTOR_CACHE_DIR``) without torch.

Torch 2.13 files a compile under two key folders (torch/_inductor/codecache.py,
torch/_functorch/_aot_autograd/autograd_cache.py):

- ``aotautograd/<AOT key>/<entry>``: AOTAutograd's result, with the FX key of
  the forward it needs and the guards it was compiled under;
- ``fxgraph/<key[1:3]>/<FX key>/<entry>``: Inductor's compiled graph, with its guards.

A key folder may hold several entries (one per guard set); a lookup takes the
first, in name order, whose guards hold. Keys come from folder names; the
entries are read with ``cachekey_cli.pickled``, which never unpickles.
"""

from __future__ import annotations

import os
import stat

from cachekey_cli.cache_hits.records import Entry, InductorCache, KeyFolder
from cachekey_cli.errors import InputError
from cachekey_cli.pickled import NotAPickle, Obj, skeleton
from cachekey_cli.reading import MIB, is_dir, list_dir, read_limited, stat_path

AOT_DIR = "aotautograd"
FX_DIR = "fxgraph"
ENTRY_MAX_BYTES = 512 * MIB
NOT_A_CACHE = (
    "pass the TORCHINDUCTOR_CACHE_DIR the compile wrote to (torch's default is "
    "/tmp/torchinductor_<user>); it holds aotautograd/ and fxgraph/"
)
DAMAGED = "the cache is damaged: delete that key's folder (torch compiles it again) or the cache"


def read(path: str) -> InductorCache:
    """The key folders under PATH; InputError (exit 3) when PATH is no Inductor cache."""
    info = stat_path(path, "Inductor cache")
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"Inductor cache {path} is a file, not a folder", NOT_A_CACHE)
    entries = list_dir(path, "Inductor cache")
    if not entries:
        raise InputError(f"Inductor cache {path} is empty", NOT_A_CACHE)
    names = {e.name: e for e in entries if is_dir(e)}
    if AOT_DIR not in names and FX_DIR not in names:
        raise InputError(f"{path} is not an Inductor cache directory (no {AOT_DIR}/ or "
                         f"{FX_DIR}/ in it)", NOT_A_CACHE)
    aot: set[str] = set()
    if AOT_DIR in names:
        aot = {e.name for e in list_dir(names[AOT_DIR].path, "folder") if is_dir(e)}
    fx: dict[str, str] = {}
    if FX_DIR in names:
        for prefix in list_dir(names[FX_DIR].path, "folder"):
            if is_dir(prefix):
                for key in list_dir(prefix.path, "folder"):
                    if is_dir(key):
                        fx[key.name] = os.path.join(FX_DIR, prefix.name, key.name)
    return InductorCache(path, frozenset(aot), fx)


def folder(cache: InductorCache, kind: str, key: str) -> KeyFolder | None:
    """The entries under one key, read inertly; None when the key has no folder."""
    if kind == "aot":
        if key not in cache.aot_keys:
            return None
        where = os.path.join(cache.path, AOT_DIR, key)
    else:
        if key not in cache.fx_keys:
            return None
        where = os.path.join(cache.path, cache.fx_keys[key])
    files = [e for e in list_dir(where, "cache key folder") if not e.name.startswith(".")]
    return KeyFolder(kind, key, tuple(read_entry(e.path, kind) for e in files))


def read_entry(path: str, kind: str) -> Entry:
    """One cache entry's guards (and an AOT entry's forward FX key), read without unpickling."""
    data = read_limited(path, "cache entry", ENTRY_MAX_BYTES)
    try:
        value = skeleton(data)
    except NotAPickle as exc:
        raise InputError(f"cache entry {path} is not a pickle torch wrote ({exc})", DAMAGED) \
            from None
    if not isinstance(value, Obj) or not isinstance(value.state, (dict, tuple)):
        raise InputError(f"cache entry {path} is not a cache entry torch wrote", DAMAGED)
    guards = _text(value.attr("guards_expr", None), missing="")
    fx_key = fx_guards = None
    forward = value.attr("compiled_fw")
    if kind == "aot" and isinstance(forward, Obj):
        info = forward.attr("fx_graph_cache_info")
        if isinstance(info, tuple) and info and isinstance(info[0], str):
            fx_key = info[0]
        fx_guards = _text(forward.attr("fx_graph_guard_expr", None), missing="")
    return Entry(os.path.basename(path), len(data), guards, fx_key, fx_guards,
                 compile_s=_compile_seconds(value) if kind == "aot" else None)


def _compile_seconds(value: Obj) -> float | None:
    """The compile time an AOTAutograd entry records (torch's own "time saved" figure)."""
    parts = [value.attr(f"{side}_time_taken_ns") for side in ("forward", "backward")]
    if not any(isinstance(p, int) for p in parts):
        return None
    return sum(p for p in parts if isinstance(p, int)) / 1e9


def _text(value: object, missing: str) -> str | None:
    if value is None:
        return missing
    return value if isinstance(value, str) else None
