"""Which of a vLLM cache's folders this deployment would use, and why another one.

vLLM 0.33.0 (vllm/compilation/backends.py, ``VllmBackend.__call__``) files the
pieces under ``<hash>/rank_<r>_<dp>/<prefix>/``, the hash being
``sha256(str([env, config, code, compiler hashes]))[:10]``. Where vLLM is
importable the profile can name that folder (and the AOT-compile folder)
itself; elsewhere this tool computes the code factor, over the files Dynamo
traced now, and takes the env, config and compiler factors as the folder
recorded them, so it can tell a folder this code would not pick (and the name
it would pick instead) but cannot vouch for the other three factors.
Torch-free.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cachekey_cli.vllm import releases
from cachekey_cli.vllm.cache_diff import compare
from cachekey_cli.vllm.identity import code_check
from cachekey_cli.vllm.identity.code_check import ModelCode
from cachekey_cli.vllm.records import Deployment, PrefixFolder

RANK = "rank_0_0"  # the process cachekey stands for: rank 0, data-parallel rank 0
MODE_VARS = ("VLLM_USE_AOT_COMPILE", "VLLM_USE_MEGA_AOT_ARTIFACT")


@dataclass(frozen=True)
class Mode:
    """The cache mode in force, as vLLM reads it from the environment (``vllm/envs.py``)."""

    aot: bool  # VLLM_USE_AOT_COMPILE
    mega_env: bool  # VLLM_USE_MEGA_AOT_ARTIFACT as parsed (it enters the env factor as such)
    name: str
    cache_disabled: bool = False  # VLLM_DISABLE_COMPILE_CACHE: vLLM neither loads nor saves

    @property
    def mega(self) -> bool:
        return self.aot and self.mega_env

    def wanted(self) -> dict[str, bool]:
        return {"VLLM_USE_AOT_COMPILE": self.aot, "VLLM_USE_MEGA_AOT_ARTIFACT": self.mega_env}

    def recorded(self, folder: PrefixFolder) -> dict[str, bool]:
        """The mode variables as the folder's factors recorded them (vLLM's parsed values)."""
        env = folder.factors.env
        return {v: env[v] for v in MODE_VARS if isinstance(env.get(v), bool)}

    def matches(self, folder: PrefixFolder) -> bool:
        want = self.wanted()
        return all(value == want[v] for v, value in self.recorded(folder).items())


def mode(cache_mode: str | None, torch_version: str) -> Mode:
    """The mode in force: the variables vLLM reads, with its defaults for this torch."""
    from cachekey_cli.vllm.compile.mode import read_mode

    parts = torch_version.split("+")[0].split(".")
    release = (int(parts[0]), int(parts[1])) if len(parts) > 1 and parts[1].isdigit() else (2, 13)
    read = read_mode(release)
    return Mode(read.aot_compile, read.mega, cache_mode or read.name, read.cache_disabled)


@dataclass(frozen=True)
class Choice:
    folder: PrefixFolder | None  # the folder this deployment uses, if PATH holds it
    picks: bool  # whether this deployment would pick that folder
    expected: str | None  # the folder name this deployment would use, when known
    lines: tuple[str, ...]  # why another folder (the factor diff)
    notes: tuple[str, ...]


def choose(dep: Deployment, code: ModelCode, m: Mode, expected: str | None,
           factors: Mapping[str, str] | None = None,
           raw: Mapping[str, Any] | None = None, release: str | None = None) -> Choice:
    """``expected`` and ``factors``: the folder name and factor hashes vLLM's own functions
    give this deployment (the profile's, where vLLM is importable)."""
    rank = (factors or {}).get("rank_folder", RANK)  # where vLLM is importable: its own
    folders = [f for f in dep.folders if f.rank in (rank, None)] or list(dep.folders)
    named = dep.kind in ("hash folder", "rank folder", "prefix folder", "factors file")
    prefix = (factors or {}).get("prefix")
    if prefix is not None:  # one hash folder may hold several models (vLLM's prefixes)
        folders = [f for f in folders if f.prefix in (prefix, None)] or folders
    if expected is not None:
        found = next((f for f in folders if f.hash == expected), None)
        if found is not None:
            return Choice(found, True, expected, (), ())
        closest = _closest(folders, m)
        lines = factor_lines(dep, closest, code, m, factors, raw, release) if closest else ()
        return Choice(closest if named else None, False, expected, lines, ())
    fits = [f for f in folders if f.factors.code_hash == code.hash_for(f.factors.layout)
            and m.matches(f)
            and not env_changes(f)]
    assumed = ("the folder name was not computed with vLLM's factor functions: this code's "
               "code factor, the cache mode and the vLLM variables set in the environment are "
               "compared with what the folder recorded; unset variables, the config and the "
               "compiler factors are taken as recorded",)
    if fits:
        chosen = fits[0]
        notes = assumed + ((f"{len(fits)} folders fit; the first, {chosen.hash}, is used",)
                           if len(fits) > 1 else ())
        return Choice(chosen, True, None, (), notes)
    closest = _closest(folders, m)
    if closest is None:
        return Choice(None, False, None, (), assumed)
    lines = factor_lines(dep, closest, code, m)
    return Choice(closest if named else None, False, _would_use(closest, code), lines, assumed)


def _closest(folders: Sequence[PrefixFolder], m: Mode) -> PrefixFolder | None:
    same_mode = [f for f in folders if m.matches(f)]
    ordered = same_mode or list(folders)
    return ordered[0] if ordered else None


def _would_use(folder: PrefixFolder, code: ModelCode) -> str:
    """The folder this code would name with the folder's other factors, as the release that
    wrote the folder's factors file names it."""
    f = folder.factors
    release = releases.for_layout(f.layout)
    raw = None
    if f.layout == releases.RAW:
        raw = {"env": f.env, "config": f.config, "compiler": f.compiler, "code": code.raw_code()}
    return release.names_folder(f.env_hash, f.config_hash, code.hash_for(f.layout),
                                f.compiler_hash, raw)


def env_changes(folder: PrefixFolder, environ: Mapping[str, str] | None = None
                ) -> tuple[tuple[str, Any, str], ...]:
    """vLLM variables set now whose value differs from the folder's record (its env factor).

    The record holds vLLM's parsed values (``envs.compile_factors()``): a set
    variable is compared as vLLM would parse it for the recorded type. Unset
    variables are not compared (their defaults need vLLM). The cache-mode
    variables are compared separately (``Mode``).
    """
    env = os.environ if environ is None else environ
    out = []
    for name, recorded in sorted(folder.factors.env.items()):
        if name in MODE_VARS or name not in env:
            continue
        raw = env[name]
        if not _same(recorded, raw):
            out.append((name, recorded, raw))
    return tuple(out)


def _same(recorded: Any, raw: str) -> bool:
    if isinstance(recorded, bool):
        return recorded == (raw.strip().lower() in ("1", "true"))
    if isinstance(recorded, int):
        try:
            return recorded == int(raw)
        except ValueError:
            return False
    if isinstance(recorded, float):
        try:
            return recorded == float(raw)
        except ValueError:
            return False
    if recorded is None:
        return raw == ""
    if isinstance(recorded, str):
        return recorded == raw
    return True  # lists and other parsed forms: not compared


def factor_lines(dep: Deployment, folder: PrefixFolder, code: ModelCode, m: Mode,
                 factors: Mapping[str, str] | None = None,
                 raw: Mapping[str, Any] | None = None,
                 release: str | None = None) -> tuple[str, ...]:
    """The factors that differ between the folder and this deployment, as far as known here.
    ``raw``: this deployment's raw env and config factors, where its vLLM computes them
    (0.34.0), to name each moved field against the folder's raw record. ``release``: the
    installed vLLM's version; a folder another release wrote is named as that upgrade."""
    upgrade = release_change(folder, release)
    if upgrade:
        return (upgrade,)
    out: list[str] = []
    recorded = folder.factors
    for factor in ("env_hash", "config_hash", "compiler_hash"):
        ours = (factors or {}).get(factor)
        theirs = getattr(recorded, factor)
        if ours and ours != theirs:
            out.append(f"{factor.replace('_hash', '')} hash {theirs[:12]} → {ours[:12]}")
            name = factor.replace("_hash", "")
            if raw and name in raw and recorded.layout == releases.RAW:
                out += [f"    {name} {c.name}: {c.before} → {c.after}" for c in
                        compare.dict_changes(getattr(recorded, name), raw[name])]
    want = m.wanted()
    for var, value in m.recorded(folder).items():
        if value != want[var]:
            out.append(f"env {var}: {value} → {want[var]} (the cache mode; it moves the "
                       "compiler factor too)")
    for var, was, now in env_changes(folder):
        out.append(f"env {var}: {was!r} → {now!r} (set in this environment)")
    f = folder.factors
    now = code.hash_for(f.layout)
    if f.code_hash != now:
        out.append(f"code hash {f.code_hash[:12]} → {now[:12]}")
        out += _raw_code_details(f.code, code) if f.code else _code_details(dep, folder, code)
    name = _would_use(folder, code)
    if name and name != folder.hash and not env_changes(folder) and m.matches(folder):
        out.append(f"folder {folder.hash} → {name} (this code's code factor with the folder's "
                   "env, config and compiler factors)")
    return tuple(out)


def release_change(folder: PrefixFolder, release: str | None) -> str | None:
    """One line when the folder was written by another checked vLLM release than ``release``:
    then every factor is computed anew and no hash compares across the two."""
    wrote = releases.writer(folder.factors.env)
    now = releases.resolve(release).release if release else None
    if wrote is None or now is None or wrote.version == now.version:
        return None
    how = ("and names its folders from the raw factors (cache_key_factors.json's "
           "layout changes too)" if wrote.layout != now.layout else
           "with its own list of env variables and its own config fields")
    return (f"vLLM release {wrote.version} → {release}: the folder was written by vLLM "
            f"{wrote.version} (its env factor lists that release's variables); vLLM {release} "
            f"computes every factor anew {how}, so every folder and AOT key moves with the "
            "upgrade, whatever else changed")


def _raw_code_details(recorded: Any, code: ModelCode) -> list[str]:
    """vLLM 0.34.0 records every traced file's content hash: name each file that moved."""
    was = {e.path: e.hash for e in recorded}
    now = {e["path"]: e.get("hash") for e in code.raw_code()["files"]}
    out = []
    for path in sorted(set(was) | set(now)):
        if path not in now:
            out.append(f"    traced file {path}: no longer traced")
        elif path not in was:
            out.append(f"    traced file {path}: newly traced")
        elif was[path] != now[path]:
            out.append(f"    traced file {path}: content {str(was[path])[:12]} → "
                       f"{str(now[path])[:12]}")
    return out


def _code_details(dep: Deployment, folder: PrefixFolder, code: ModelCode) -> list[str]:
    checks = [c for c in code_check.check(code, dep) if c.folder == folder.hash
              and c.where == folder.where]
    if not checks or not checks[0].evidence:
        return ["    (vLLM 0.33.0 records only the hash; pass the cache root, whose AOT-compiled "
                "model records the traced sources, to name the file)"]
    c = checks[0]
    if not c.changed:
        return ["    every traced file has the content the cache recorded: only their absolute "
                "paths moved, and vLLM's code hash covers the paths"]
    return [f"    traced file {f.path}: {f.status}" + (f" ({f.cache_name})" if f.cache_name
                                                       else "") for f in c.changed]
