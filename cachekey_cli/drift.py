"""Compare two snapshots and say, per subgraph, which category of change moved its keys.

Torch-free and pure: the CLI's ``check`` and ``explain`` both end here. The
categories, and which component names fall in each, are documented in
docs/ci.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cachekey_cli.baseline import SnapPiece, Snapshot
from cachekey_cli.compare import kind_drift
from cachekey_cli.errors import ExitCode, InputError
from cachekey_cli.results import KEY_KINDS, ComponentChange

CATEGORIES = ("environment", "config", "graph", "inputs", "split", "tuple-conformance")
ENVIRONMENT_COMPONENTS = ("torch_version", "system_info", "cpp_runtime_thread_count")
PER_KIND_LIMIT = 3


@dataclass(frozen=True)
class Finding:
    """One reason a subgraph's key moved, already in words."""

    category: str
    kind: str | None  # key kind, or None for facts about the subgraph itself
    component: str | None
    text: str  # e.g. "aot_key: inductor_config.fallback_random False → True"


@dataclass(frozen=True)
class SubgraphCheck:
    id: str
    status: str  # same | drift | allowed | added | removed | not compiled
    categories: tuple[str, ...]
    findings: tuple[Finding, ...]
    changed_kinds: tuple[str, ...] = ()

    @property
    def drifted(self) -> bool:
        return self.status in ("drift", "allowed", "added", "removed")

    def lines(self) -> tuple[str, ...]:
        return tuple(f"{self.id} {f.text}" for f in self.findings)


@dataclass(frozen=True)
class CheckResult:
    baseline: Snapshot
    current: Snapshot
    subgraphs: tuple[SubgraphCheck, ...]
    context: tuple[str, ...]  # environment / override / count changes, in words
    allowed: tuple[str, ...]

    @property
    def drifted(self) -> tuple[SubgraphCheck, ...]:
        return tuple(s for s in self.subgraphs if s.drifted)

    @property
    def failing(self) -> tuple[SubgraphCheck, ...]:
        return tuple(s for s in self.subgraphs if s.drifted and s.status != "allowed")

    @property
    def categories(self) -> tuple[str, ...]:
        seen = {c for s in self.drifted for c in s.categories}
        return tuple(c for c in CATEGORIES if c in seen)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.DRIFT if self.failing else ExitCode.OK

    def sentence(self) -> str:
        compiled = sum(1 for s in self.subgraphs if s.status != "not compiled")
        if not self.drifted:
            return f"No drift: all {compiled} compiled subgraphs keep their keys."
        cats = ", ".join(self.categories)
        failing, allowed = len(self.failing), len(self.drifted) - len(self.failing)
        tail = f"; {allowed} allowed by --allow" if allowed else ""
        verb = "fails" if failing else "passes"
        return (
            f"Drift ({cats}): {len(self.drifted)} subgraphs change keys, {failing} "
            f"not allowed{tail}. The check {verb}."
        )


def ensure_comparable(old: Snapshot, new: Snapshot) -> None:
    """InputError (exit 3) when the two snapshots are not of the same model and split."""
    fix = "compare snapshots of the same model, or refresh the baseline with `cachekey snapshot`"
    if old.model_id != new.model_id:
        raise InputError(
            f"baseline {old.label} is of model {old.model_id}, not {new.model_id}", fix
        )
    if list(old.model["split_ops"]) != list(new.model["split_ops"]):
        raise InputError(
            f"baseline {old.label} was split at different ops "
            f"({', '.join(old.model['split_ops']) or 'none'})",
            "pass the same --split-op values, or refresh the baseline",
        )
    if old.variant != new.variant:
        raise InputError(
            f"baseline {old.label} records variant {old.variant}, not {new.variant}",
            f"use --variant {old.variant}, or refresh the baseline",
        )


def check(old: Snapshot, new: Snapshot, allow: tuple[str, ...] = ()) -> CheckResult:
    ensure_comparable(old, new)
    before = {p.id: p for p in old.pieces}
    after = {p.id: p for p in new.pieces}
    torch_moved = old.environment.get("torch") != new.environment.get("torch")
    ids = [p.id for p in new.pieces] + [i for i in before if i not in after]
    results = []
    for pid in ids:
        result = _subgraph(pid, before.get(pid), after.get(pid), old, new, torch_moved)
        if result.status == "drift" and set(result.categories) <= set(allow):
            result = SubgraphCheck(
                result.id, "allowed", result.categories, result.findings, result.changed_kinds
            )
        results.append(result)
    allowed = tuple(c for c in CATEGORIES if c in allow)
    return CheckResult(old, new, tuple(results), _context(old, new), allowed)


def _subgraph(
    pid: str, a: SnapPiece | None, b: SnapPiece | None, old: Snapshot, new: Snapshot,
    torch_moved: bool,
) -> SubgraphCheck:
    n_old, n_new = len(old.pieces), len(new.pieces)
    if a is None or b is None:
        status = "added" if a is None else "removed"
        piece = b if b is not None else a
        assert piece is not None
        what = "splitting op" if piece.splitting_op else "compiled subgraph"
        text = f"{status} ({what}; the split has {n_new} subgraphs, was {n_old})"
        allowed_status = "added" if a is None else "removed"
        return SubgraphCheck(pid, allowed_status, ("split",), (Finding("split", None, None, text),))
    findings: list[Finding] = []
    if a.splitting_op != b.splitting_op or a.op != b.op:
        findings.append(
            Finding("split", None, None, f"re-bounded: splitting op {a.op or '-'} → {b.op or '-'}")
        )
    elif b.splitting_op:
        return SubgraphCheck(pid, "not compiled", (), ())
    if a.outputs != b.outputs:
        findings.append(
            Finding("split", None, None, f"re-bounded: returns {a.outputs} → {b.outputs} values")
        )
    if a.returns_tuple != b.returns_tuple or a.normalized != b.normalized:
        findings.append(
            Finding(
                "tuple-conformance", None, None,
                f"return: `{a.output_code}` (tuple={a.returns_tuple}, normalized={a.normalized})"
                f" → `{b.output_code}` (tuple={b.returns_tuple}, normalized={b.normalized})",
            )
        )
    kinds = []
    for kind in KEY_KINDS:
        drift = kind_drift(kind, a.key(kind), b.key(kind))
        if drift is None:
            continue
        kinds.append(kind)
        if (drift.before is None) != (drift.after is None):
            findings.append(Finding("tuple-conformance", kind, None, f"{kind}: {drift.note}"))
            continue
        if kind == "graph_hash":
            findings.append(Finding("graph", kind, None, "graph_hash: the graph changed"))
            continue
        findings.extend(_component_findings(kind, drift.changes, old, new, torch_moved))
    if not findings and not kinds:
        return SubgraphCheck(pid, "same", (), ())
    findings = _merge_kinds(findings)
    cats = {f.category for f in findings}
    return SubgraphCheck(
        pid, "drift", tuple(c for c in CATEGORIES if c in cats), tuple(findings), tuple(kinds)
    )


def _merge_kinds(findings: list[Finding]) -> list[Finding]:
    """Say a change once when it moved several keys: "aot_key: X a → b (also inductor_key)"."""
    first: dict[tuple[str, str], int] = {}
    also: dict[int, list[str]] = {}
    kept: list[Finding] = []
    for f in findings:
        if f.kind is None:
            kept.append(f)
            continue
        rest = f.text.partition(": ")[2]
        seen = first.get((f.category, rest))
        if seen is not None:
            also.setdefault(seen, []).append(f.kind)
            continue
        first[(f.category, rest)] = len(kept)
        kept.append(f)
    for i, kinds in also.items():
        f = kept[i]
        kept[i] = Finding(f.category, f.kind, f.component, f"{f.text} (also {', '.join(kinds)})")
    return kept


def category_of(component: str, absent_on_one_side: bool = False, torch_moved: bool = False) -> str:
    """Which category a changed key component belongs to."""
    base = component.split("[", 1)[0]
    if base in ENVIRONMENT_COMPONENTS:
        return "environment"
    if base == "example_inputs":
        # an input that appears or disappears means the piece's boundary moved
        return "split" if absent_on_one_side else "inputs"
    if absent_on_one_side and torch_moved:
        return "environment"  # a new torch adds and removes config entries
    if base == "gm":
        return "graph"
    if base == "fx_kwargs" and "static_input_idxs" in component:
        return "inputs"
    return "config"


def display_name(component: str) -> str:
    """``inductor_config[fallback_random]`` → ``inductor_config.fallback_random``."""
    base, sep, rest = component.partition("[")
    if sep and rest.endswith("]") and not rest[:-1].isdigit():
        return f"{base}.{rest[:-1]}"
    return component


def _component_findings(
    kind: str, changes: tuple[ComponentChange, ...], old: Snapshot, new: Snapshot,
    torch_moved: bool,
) -> list[Finding]:
    grouped: dict[str, list[ComponentChange]] = {}
    for c in changes:
        absent = c.before_hash is None or c.after_hash is None
        grouped.setdefault(category_of(c.name, absent, torch_moved), []).append(c)
    out = []
    for category in CATEGORIES:
        group = grouped.get(category, [])
        for c in group[:PER_KIND_LIMIT]:
            out.append(Finding(category, kind, c.name, f"{kind}: {_describe(c, old, new)}"))
        if len(group) > PER_KIND_LIMIT:
            more = len(group) - PER_KIND_LIMIT
            names = ", ".join(display_name(c.name) for c in group[PER_KIND_LIMIT:][:3])
            out.append(
                Finding(category, kind, None, f"{kind}: and {more} more {category} components"
                        f" ({names}{', …' if more > 3 else ''})")
            )
    return out


def _describe(c: ComponentChange, old: Snapshot, new: Snapshot) -> str:
    """``name before → after``, narrowed to the fields that differ where values have fields."""
    name = display_name(c.name)
    before, after = c.before, c.after
    if c.name == "torch_version" and c.before_hash and c.after_hash and None in (before, after):
        before, after = _version(old.environment), _version(new.environment)
    if c.before_hash is None:
        return f"{name} (absent) → {_short(after)}"
    if c.after_hash is None:
        return f"{name} {_short(before)} → (absent)"
    if before is None or after is None:
        return f"{name} [{c.before_hash[:8]}] → [{c.after_hash[:8]}]"
    narrowed = field_delta(before, after)
    if narrowed is not None:
        before, after = narrowed
    return f"{name} {_short(before)} → {_short(after)}"


def _short(text: str | None, width: int = 80) -> str:
    if text is None:
        return "(binary)"
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def _fields(text: str) -> dict[str, str] | None:
    """``Name(a=1, b=(2, 3))`` → {"a": "1", "b": "(2, 3)"}; None for anything else."""
    head, sep, body = text.partition("(")
    if not sep or not body.endswith(")") or not head.replace("_", "").isalnum():
        return None
    parts, depth, start = [], 0, 0
    body = body[:-1]
    for i, ch in enumerate(body):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    out = {}
    for part in parts:
        k, eq, v = part.strip().partition("=")
        if not eq or not k.isidentifier():
            return None
        out[k] = v
    return out


def field_delta(before: str, after: str) -> tuple[str, str] | None:
    """Only the fields that differ, when both values are ``Name(field=value, ...)`` alike."""
    a, b = _fields(before), _fields(after)
    if a is None or b is None or list(a) != list(b):
        return None
    keys = [k for k in a if a[k] != b[k]]
    if not keys:
        return None
    return ", ".join(f"{k}={a[k]}" for k in keys), ", ".join(f"{k}={b[k]}" for k in keys)


def _version(env: Mapping[str, Any]) -> str:
    git = env.get("torch_git")
    return f"{env.get('torch')} ({git[:10]})" if git else str(env.get("torch"))


def _context(old: Snapshot, new: Snapshot) -> tuple[str, ...]:
    out = []
    for name in ("torch", "torch_git", "python", "platform", "devices", "tuple_return"):
        a, b = old.environment.get(name), new.environment.get(name)
        if a != b and name == "torch_git":
            a, b = (x[:12] if isinstance(x, str) else x for x in (a, b))
        if a != b:
            out.append(f"environment {name}: {_fmt(a)} → {_fmt(b)}")
    keys = sorted(set(old.config_overrides) | set(new.config_overrides))
    for k in keys:
        a, b = old.config_overrides.get(k), new.config_overrides.get(k)
        if a != b:
            out.append(f"config override {k}: {a or '(not set)'} → {b or '(not set)'}")
    if old.normalize_inputs != new.normalize_inputs:
        out.append(f"normalize_inputs: {old.normalize_inputs} → {new.normalize_inputs}")
    if len(old.pieces) != len(new.pieces):
        out.append(f"split: {len(old.pieces)} → {len(new.pieces)} subgraphs")
    for kind in KEY_KINDS:
        a_n = old.unique_keys[old.variant][kind]
        b_n = new.unique_keys[new.variant][kind]
        if a_n != b_n:
            out.append(f"unique {kind} values ({new.variant}): {a_n} → {b_n}")
    return tuple(out)


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return "(none)" if value is None else str(value)
