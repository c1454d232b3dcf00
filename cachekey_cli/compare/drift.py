"""Compare two snapshots and say, per subgraph, which category of change moved its keys.

Torch-free and pure: the CLI's ``check`` and ``explain`` both end here. The
categories, and which component names fall in each, are documented in
docs/ci.md; drift_values.py narrows each changed value to the part that moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachekey_cli.baseline.snapshot import SnapPiece, Snapshot
from cachekey_cli.compare.categories import CATEGORIES, category_of, mode_explains, refusal_category
from cachekey_cli.compare.causes import describe, input_findings, input_values
from cachekey_cli.compare.components import kind_drift
from cachekey_cli.compare.context import context, mode, profile_name
from cachekey_cli.compare.drift_values import display_name, fmt
from cachekey_cli.errors import ExitCode, InputError
from cachekey_cli.results import KEY_KINDS, ComponentChange, KeyResult

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
        """Each finding as a standalone line, prefixed with the subgraph's id."""
        return tuple(f"{self.id} {f.text}" for f in self.findings)

    def texts(self) -> tuple[str, ...]:
        """Each finding without the id, for reports that show it in a header already."""
        return tuple(f.text for f in self.findings)


@dataclass(frozen=True)
class CheckResult:
    baseline: Snapshot
    current: Snapshot
    subgraphs: tuple[SubgraphCheck, ...]
    context: tuple[str, ...]  # environment / override / count changes, in words
    allowed: tuple[str, ...]
    command: str = "check"  # "check" (baseline vs a fresh run) or "explain" (two snapshots)

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


def _with_sizes(result: SubgraphCheck, a: SnapPiece | None, b: SnapPiece | None) -> SubgraphCheck:
    """vLLM's single-size keys: a moved one is drift; with the range keys unchanged it
    comes from the single-size config (or the list of sizes), so it is config drift."""
    if a is None or b is None or a.sizes == b.sizes:
        return result
    findings = list(result.findings)
    for size in sorted(set(a.sizes) | set(b.sizes), key=int):
        old, new = a.sizes.get(size), b.sizes.get(size)
        if old == new:
            continue
        if old is None or new is None:
            text = f"size {size}: {'added' if old is None else 'removed'} (--compile-size)"
            findings.append(Finding("config", None, None, text))
            continue
        for kind in KEY_KINDS:
            if old.get(kind) != new.get(kind):
                text = f"{kind} at size {size}: {fmt(old.get(kind))} → {fmt(new.get(kind))}"
                findings.append(Finding("config", kind, None, text))
    categories = result.categories if result.drifted else ("config",)
    status = result.status if result.drifted else "drift"
    return SubgraphCheck(result.id, status, categories, tuple(findings), result.changed_kinds)


@dataclass(frozen=True)
class _Moved:
    """Facts about the whole comparison that change how a component is classified."""

    torch: bool = False  # the torch version changed
    mode: bool = False  # inference ↔ training


def ensure_comparable(old: Snapshot, new: Snapshot) -> None:
    """InputError (exit 3) when the two snapshots are not of the same model and split."""
    fix = "compare snapshots of the same model, or refresh the baseline with `cachekey snapshot`"
    if old.model_id != new.model_id:
        raise InputError(
            f"baseline {old.label} is of model {old.model_id}, not {new.model_id}", fix
        )
    if old.profile and new.profile and profile_name(old) != profile_name(new):
        return  # another client's path: every difference is config drift (check)
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


def check(
    old: Snapshot, new: Snapshot, allow: tuple[str, ...] = (), command: str = "check"
) -> CheckResult:
    ensure_comparable(old, new)
    before = {p.id: p for p in old.pieces}
    after = {p.id: p for p in new.pieces}
    moved = _Moved(
        torch=old.environment.get("torch") != new.environment.get("torch"),
        mode=mode(old) != mode(new),
    )
    ids = [p.id for p in new.pieces] + [i for i in before if i not in after]
    results = []
    dynamo = _dynamo_findings(old, new)
    for pid in ids:
        result = _subgraph(pid, before.get(pid), after.get(pid), old, new, moved)
        result = _with_sizes(result, before.get(pid), after.get(pid))
        if result.drifted and profile_name(old) != profile_name(new):
            result = SubgraphCheck(  # the pieces differ because the compile path does
                result.id, result.status, ("config",), result.findings, result.changed_kinds
            )
        if dynamo and result.status in ("drift", "added", "removed"):
            cats = {*result.categories, "config"}
            result = SubgraphCheck(
                result.id, result.status, tuple(c for c in CATEGORIES if c in cats),
                (*dynamo, *result.findings), result.changed_kinds,
            )
        # added and removed subgraphs are split drift, and --allow split allows them too
        if result.drifted and set(result.categories) <= set(allow):
            result = SubgraphCheck(
                result.id, "allowed", result.categories, result.findings, result.changed_kinds
            )
        results.append(result)
    allowed = tuple(c for c in CATEGORIES if c in allow)
    return CheckResult(old, new, tuple(results), context(old, new), allowed, command)


def _subgraph(
    pid: str, a: SnapPiece | None, b: SnapPiece | None, old: Snapshot, new: Snapshot,
    moved: _Moved,
) -> SubgraphCheck:
    n_old, n_new = len(old.pieces), len(new.pieces)
    if a is None or b is None:
        status = "added" if a is None else "removed"
        piece = b if b is not None else a
        assert piece is not None
        what = "splitting op" if piece.splitting_op else "compiled subgraph"
        text = f"{status} ({what}; the split has {n_new} subgraphs, was {n_old})"
        snap = new if a is None else old
        cause = snap.breaks.get(piece.graph - 1)  # the graph before ended at the break
        if cause and (piece.graph - 1) not in (old if a is None else new).breaks:
            verb = "follows" if a is None else "followed"
            text += f"; graph {piece.graph} {verb} a graph break: {cause}"
        return SubgraphCheck(pid, status, ("split",), (Finding("split", None, None, text),))
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
    aot_gm = _gm_moved(a.key("aot_key"), b.key("aot_key"))
    for kind in KEY_KINDS:
        left, right = a.key(kind), b.key(kind)
        drift = kind_drift(kind, left, right)
        if drift is None:
            continue
        kinds.append(kind)
        if drift.before is None or drift.after is None:
            category = refusal_category(right.refusal or left.refusal or "")
            findings.append(Finding(category, kind, None, f"{kind}: {_refusal(left, right)}"))
            continue
        if kind == "graph_hash":
            gm = any(_gm_moved(a.key(k), b.key(k)) for k in ("aot_key", "inductor_key"))
            where = "the lines are under gm below" if gm else "no key component shows its lines"
            text = f"graph_hash: the piece's generated code changed ({where})"
            findings.append(Finding("graph", kind, None, text))
            continue
        findings.extend(
            _component_findings(kind, drift.changes, (left, right), (a, b), (old, new), moved,
                                aot_gm)
        )
    if not findings and not kinds:
        return SubgraphCheck(pid, "same", (), ())
    findings = _merge_kinds(findings)
    cats = {f.category for f in findings}
    return SubgraphCheck(
        pid, "drift", tuple(c for c in CATEGORIES if c in cats), tuple(findings), tuple(kinds)
    )


def _dynamo_findings(old: Snapshot, new: Snapshot) -> tuple[Finding, ...]:
    """Dynamo settings that decide what is baked into the graph: not key components, so
    their change shows as graph and input drift; said here, by name, as its cause."""
    a, b = old.dynamo_config, new.dynamo_config
    out = []
    for name in sorted(set(a) & set(b)):
        if a[name] != b[name]:
            text = (f"dynamo_config.{name} {a[name]} → {b[name]} (it changes what Dynamo "
                    f"captures; the graph and input changes below follow from it)")
            out.append(Finding("config", None, f"dynamo_config[{name}]", text))
    return tuple(out)


def _refusal(left: KeyResult, right: KeyResult) -> str:
    if left.key is not None:
        return f"torch now refuses to key it: {right.refusal}"
    if right.key is not None:
        return f"torch no longer refuses to key it (it refused: {left.refusal})"
    return f"torch refuses for another reason: {left.refusal} → {right.refusal}"


def _gm_moved(left: KeyResult, right: KeyResult) -> bool:
    lc, rc = left.component_map().get("gm"), right.component_map().get("gm")
    return (lc.hash if lc else None) != (rc.hash if rc else None)


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


def _component_findings(
    kind: str, changes: tuple[ComponentChange, ...], keys: tuple[KeyResult, KeyResult],
    pieces: tuple[SnapPiece, SnapPiece], snaps: tuple[Snapshot, Snapshot], moved: _Moved,
    aot_gm_moved: bool,
) -> list[Finding]:
    left, right = keys
    grouped: dict[str, list[ComponentChange]] = {}
    inputs_moved = False
    for c in changes:
        absent = c.before_hash is None or c.after_hash is None
        if c.name.startswith("example_inputs["):
            if moved.mode and not absent and mode_explains(kind, c, aot_gm_moved):
                grouped.setdefault("config", []).append(c)
            else:
                inputs_moved = True  # said once below, aligned by input name
            continue
        category = category_of(c.name, absent, moved.torch)
        if moved.mode and not absent and mode_explains(kind, c, aot_gm_moved):
            category = "config"
        grouped.setdefault(category, []).append(c)
    raw_before, raw_after = left.component_map(), right.component_map()
    env = (snaps[0].environment, snaps[1].environment)
    out = []
    if inputs_moved:
        texts = input_findings(left, right, (pieces[0].inputs, pieces[1].inputs))
        texts = texts or ["the inputs moved though each reads the same"]
        if len(texts) > PER_KIND_LIMIT:
            rest = [t.split(":", 1)[0].removeprefix("input ") for t in texts[PER_KIND_LIMIT:]]
            shown = ", ".join(rest[:3]) + (", …" if len(rest) > 3 else "")
            texts = texts[:PER_KIND_LIMIT] + [f"and {len(rest)} more inputs ({shown})"]
        for text in texts:
            out.append(Finding("inputs", kind, "example_inputs", f"{kind}: {text}"))
    for category in CATEGORIES:
        group = grouped.get(category, [])
        for c in group[:PER_KIND_LIMIT]:
            raw = (raw_before.get(c.name), raw_after.get(c.name))
            values = (raw[0].value if raw[0] else None, raw[1].value if raw[1] else None)
            text = describe(c, values, env, _names(c.name, left, right, pieces))
            out.append(Finding(category, kind, c.name, f"{kind}: {text}"))
        if len(group) > PER_KIND_LIMIT:
            more = len(group) - PER_KIND_LIMIT
            names = ", ".join(display_name(c.name) for c in group[PER_KIND_LIMIT:][:3])
            out.append(
                Finding(category, kind, None, f"{kind}: and {more} more {category} components"
                        f" ({names}{', …' if more > 3 else ''})")
            )
    return sorted(out, key=lambda f: CATEGORIES.index(f.category))


def _names(
    name: str, left: KeyResult, right: KeyResult, pieces: tuple[SnapPiece, SnapPiece]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Input names for a ``gm`` change, per side, when they match that key's inputs."""
    if name != "gm":
        return (), ()
    counts = (len(input_values(left)), len(input_values(right)))
    return tuple(  # type: ignore[return-value]
        p.inputs if len(p.inputs) == n else () for p, n in zip(pieces, counts, strict=False)
    )
