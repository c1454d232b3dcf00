"""Compare two deployments' vLLM caches: pair the folders, name every factor that differs.

Prefix folders pair by rank and prefix (a lone folder of unknown place pairs
with the other side's lone folder); AOT-compiled models pair by rank. For each
pair: every env variable whose value differs, which of the config, compiler and
code hashes differ (with the raw keys or files when vLLM wrote them), whether the
folder name differs, and, from the AOT-compiled models, which traced modules and
which versions (python, torch, triton) differ. Torch-free and pure.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cachekey_cli.errors import ExitCode, InputError
from cachekey_cli.vllm import releases
from cachekey_cli.vllm.records import AotModel, Deployment, Factors, PrefixFolder

T = TypeVar("T")
ABSENT = object()  # an env variable one side does not have


@dataclass(frozen=True)
class EnvChange:
    name: str
    before: Any  # ABSENT when the variable is not in that side's factors
    after: Any


@dataclass(frozen=True)
class Change:
    """A named thing (a traced file or module, a config key) whose hash or value moved."""

    name: str
    before: str | None  # None: absent on that side
    after: str | None


@dataclass(frozen=True)
class FactorChange:
    factor: str  # "config", "compiler" or "code"
    before: str  # the hash vLLM wrote
    after: str
    details: tuple[Change, ...] = ()  # raw config keys, traced files or modules
    evidence: str = ""  # code: "raw code factor", "AOT-compiled models" or "" (hash only)


@dataclass(frozen=True)
class FolderDiff:
    a: PrefixFolder
    b: PrefixFolder
    env: tuple[EnvChange, ...]
    factors: tuple[FactorChange, ...]
    torch_keys: tuple[str, str] | None = None  # the artifacts' torch build keys, if they differ

    @property
    def where(self) -> str:
        return self.a.where if self.a.rank else self.b.where

    @property
    def folder_differs(self) -> bool:
        if self.a.hash and self.b.hash:
            return self.a.hash != self.b.hash
        return self.a.factors.folder_hash != self.b.factors.folder_hash

    @property
    def differs(self) -> bool:
        return self.folder_differs or bool(self.env or self.factors or self.torch_keys)

    def factor(self, name: str) -> FactorChange | None:
        return next((f for f in self.factors if f.factor == name), None)


@dataclass(frozen=True)
class AotDiff:
    a: AotModel
    b: AotModel
    sources: tuple[Change, ...]  # traced modules whose content differs (sha256)
    system: tuple[Change, ...]  # python, torch, triton, toolkit, gpu
    forward: tuple[Change, ...]  # the compiled forward's file, name, first line

    @property
    def differs(self) -> bool:
        return self.a.hash != self.b.hash or bool(self.sources or self.system or self.forward)


@dataclass(frozen=True)
class VllmCacheDiff:
    a: Deployment
    b: Deployment
    folders: tuple[FolderDiff, ...]
    only_a: tuple[PrefixFolder, ...]
    only_b: tuple[PrefixFolder, ...]
    aot: tuple[AotDiff, ...]
    aot_only_a: tuple[AotModel, ...]
    aot_only_b: tuple[AotModel, ...]
    pitfalls: tuple[Any, ...] = ()  # pitfalls.Pitfall, filled in by pitfalls.find
    warm_start: Any = None  # warm_start.WarmStart: what a deployment of B does with A's cache

    @property
    def differs(self) -> bool:
        return (any(f.differs for f in self.folders) or any(d.differs for d in self.aot)
                or bool(self.only_a or self.only_b or self.aot_only_a or self.aot_only_b))

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.DRIFT if self.differs else ExitCode.OK


def compare(a: Deployment, b: Deployment) -> VllmCacheDiff:
    pairs, only_a, only_b = pair(a.folders, b.folders, lambda f: (f.rank, f.prefix),
                                 lambda f: f.hash)
    if not pairs:
        raise InputError(
            f"nothing to compare: {a.path} has {_places(a.folders)} and {b.path} has "
            f"{_places(b.folders)}",
            "compare folders of the same rank and prefix (rank_<r>_<dp>/<prefix>)",
        )
    aot_pairs, aot_a, aot_b = pair(a.aot_models, b.aot_models, lambda m: m.rank, lambda m: m.hash)
    aot = tuple(_aot(x, y) for x, y in aot_pairs)
    folders = tuple(_folder(x, y, aot) for x, y in pairs)
    return VllmCacheDiff(a, b, folders, only_a, only_b, aot, aot_a, aot_b)


def pair(
    left: Sequence[T], right: Sequence[T], group: Callable[[T], Hashable],
    exact: Callable[[T], Hashable],
) -> tuple[list[tuple[T, T]], tuple[T, ...], tuple[T, ...]]:
    """Pair items of the same group, equal ``exact`` first; lone unknown-group items pair."""
    rest_a, rest_b = list(left), list(right)
    pairs: list[tuple[T, T]] = []
    for same_exact in (True, False):
        for x in list(rest_a):
            match = next((y for y in rest_b if group(y) == group(x)
                          and (not same_exact or exact(y) == exact(x))), None)
            if match is not None:
                pairs.append((x, match))
                rest_a.remove(x)
                rest_b.remove(match)
    if len(rest_a) == 1 and len(rest_b) == 1 and not pairs and _unknown(group, rest_a + rest_b):
        pairs.append((rest_a.pop(), rest_b.pop()))
    return pairs, tuple(rest_a), tuple(rest_b)


def _unknown(group: Callable[[Any], Hashable], items: list[Any]) -> bool:
    return any(None in (g if isinstance(g, tuple) else (g,)) for g in map(group, items))


def _places(folders: Sequence[PrefixFolder]) -> str:
    return ", ".join(sorted({f.where for f in folders})) or "no folders"


def _folder(a: PrefixFolder, b: PrefixFolder, aot: tuple[AotDiff, ...]) -> FolderDiff:
    fa, fb = a.factors, b.factors
    env = tuple(
        EnvChange(k, fa.env.get(k, ABSENT), fb.env.get(k, ABSENT))
        for k in sorted(set(fa.env) | set(fb.env))
        if fa.env.get(k, ABSENT) != fb.env.get(k, ABSENT)
    )
    factors = []
    wrote = releases.writer(fa.env), releases.writer(fb.env)
    if all(wrote) and wrote[0] != wrote[1]:  # every factor moves with the release
        factors.append(FactorChange("release", wrote[0].version, wrote[1].version))  # type: ignore[union-attr]
    if fa.config_hash != fb.config_hash:
        factors.append(FactorChange("config", fa.config_hash, fb.config_hash,
                                    dict_changes(fa.config, fb.config)))
    if fa.compiler_hash != fb.compiler_hash:
        raw = fa.compiler, fb.compiler
        details = dict_changes(*raw) if all(isinstance(x, dict) for x in raw) else ()
        factors.append(FactorChange("compiler", fa.compiler_hash, fb.compiler_hash, details))
    if fa.code_hash != fb.code_hash:
        details, evidence = _code_changes(fa, fb, a, aot)
        factors.append(FactorChange("code", fa.code_hash, fb.code_hash, details, evidence))
    keys_a = {x.torch_key for x in a.artifacts if x.torch_key}
    keys_b = {x.torch_key for x in b.artifacts if x.torch_key}
    torch_keys = None
    if len(keys_a) == 1 and len(keys_b) == 1 and keys_a != keys_b:
        torch_keys = (keys_a.pop(), keys_b.pop())
    return FolderDiff(a, b, env, tuple(factors), torch_keys)


def _code_changes(fa: Factors, fb: Factors, a: PrefixFolder,
                  aot: tuple[AotDiff, ...]) -> tuple[tuple[Change, ...], str]:
    """Which traced files moved the code hash: raw code factors, else the AOT models' sources."""
    if fa.code is not None and fb.code is not None:
        left = {e.path: e.hash for e in fa.code}
        right = {e.path: e.hash for e in fb.code}
        return tuple(Change(p, left.get(p), right.get(p)) for p in sorted(set(left) | set(right))
                     if left.get(p, "-") != right.get(p, "-")), "raw code factor"
    same_rank = [d for d in aot if d.a.rank == a.rank and d.a.sources and d.b.sources]
    if len(same_rank) == 1:
        return same_rank[0].sources, "AOT-compiled models"
    return (), ""


def dict_changes(a: Any, b: Any, prefix: str = "") -> tuple[Change, ...]:
    """Every leaf that differs, by its dotted path: vLLM 0.34.0 nests the config factors by
    sub-config, so a moved field reads ``scheduler.max_num_batched_tokens``."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return ()
    out: list[Change] = []
    for key in sorted(set(a) | set(b), key=str):
        va, vb = a.get(key, ABSENT), b.get(key, ABSENT)
        if va == vb:
            continue
        if isinstance(va, dict) and isinstance(vb, dict):
            out += dict_changes(va, vb, f"{prefix}{key}.")
            continue
        out.append(Change(f"{prefix}{key}", None if va is ABSENT else _text(va),
                          None if vb is ABSENT else _text(vb)))
    return tuple(out)


def _text(value: Any) -> str:
    import json

    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _aot(a: AotModel, b: AotModel) -> AotDiff:
    left: dict[str, set[str]] = {}
    right: dict[str, set[str]] = {}
    for side, model in ((left, a), (right, b)):
        for s in model.sources:
            side.setdefault(s.module, set()).add(s.sha256)
    sources = tuple(
        Change(m, _one(left.get(m)), _one(right.get(m)))
        for m in sorted(set(left) | set(right)) if left.get(m) != right.get(m)
    )
    system = tuple(Change(k, a.system.get(k), b.system.get(k))
                   for k in sorted(set(a.system) | set(b.system))
                   if a.system.get(k) != b.system.get(k))
    forward = tuple(
        Change(name, None if x is None else str(x), None if y is None else str(y))
        for name, x, y in (("file", a.forward_file, b.forward_file),
                           ("name", a.forward_name, b.forward_name),
                           ("first line", a.forward_line, b.forward_line))
        if x != y
    )
    return AotDiff(a, b, sources, system, forward)


def _one(values: set[str] | None) -> str | None:
    return None if not values else ",".join(sorted(values))
