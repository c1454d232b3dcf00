"""What changed around the model, one line each: environment, mode, profile, overrides,
split size, unique-key counts, graph breaks, and what freezing means for weights.

Torch-free; drift.py puts these lines in a report's context section.
"""

from __future__ import annotations

from cachekey_cli.baseline.snapshot import Snapshot
from cachekey_cli.compare.drift_values import fmt
from cachekey_cli.results import KEY_KINDS
from cachekey_cli.wording import freezing_line

DEFAULT_MODE = "inference"  # snapshots from before --training recorded no mode


def mode(s: Snapshot) -> str:
    """"inference" or "training"; snapshots that predate the field were all inference."""
    return str(s.environment.get("mode") or DEFAULT_MODE)


def profile_name(s: Snapshot) -> str:
    """The profile a snapshot was keyed with; snapshots before profiles have none."""
    return str(s.profile.get("name") or "(none recorded)")


def _freezing(s: Snapshot) -> bool:
    for p in s.pieces:
        for kind in ("inductor_key", "aot_key"):
            c = p.key(kind).component_map().get("inductor_config[freezing]")
            if c is not None:
                return c.value == "True"
    return s.config_overrides.get("inductor.freezing") == "True"


def context(old: Snapshot, new: Snapshot) -> tuple[str, ...]:
    out = []
    for name in ("torch", "torch_git", "python", "platform", "devices", "tuple_return"):
        a, b = old.environment.get(name), new.environment.get(name)
        if a != b and name == "torch_git":
            a, b = (x[:12] if isinstance(x, str) else x for x in (a, b))
        if a != b:
            out.append(f"environment {name}: {fmt(a)} → {fmt(b)}")
    if mode(old) != mode(new):
        out.append(f"config mode: {mode(old)} → {mode(new)} (--training)")
    if profile_name(old) != profile_name(new):
        out.append(f"config profile: {profile_name(old)} → {profile_name(new)}")
    # the client (vLLM importable or its torch side) and vLLM's release decide what the keys
    # cover: a baseline taken without vLLM drifts in vLLM's own config where it is installed
    for name in ("client", "vllm_version", "cache_mode", "compile_range", "compile_sizes"):
        a, b = old.profile.get(name), new.profile.get(name)
        if a != b and old.profile and new.profile:
            out.append(f"config profile {name}: {fmt(a)} → {fmt(b)}")
    keys = sorted(set(old.config_overrides) | set(new.config_overrides))
    for k in keys:
        a, b = old.config_overrides.get(k), new.config_overrides.get(k)
        if a != b:
            out.append(f"config override {k}: {a or '(not set)'} → {b or '(not set)'}")
    if old.normalize_inputs != new.normalize_inputs:
        out.append(f"normalize_inputs: {old.normalize_inputs} → {new.normalize_inputs}")
    for g, cause in sorted(new.breaks.items()):
        if g not in old.breaks:
            out.append(f"graph break: graph {g} now ends at {cause}")
    for g, cause in sorted(old.breaks.items()):
        if g not in new.breaks:
            out.append(f"graph break gone: graph {g} ended at {cause}")
    frozen = [s for s in (old, new) if _freezing(s)]
    if frozen:
        which = "both" if len(frozen) == 2 else ("baseline" if frozen[0] is old else "current")
        out.append(freezing_line(profile_name(new), which))
    if len(old.pieces) != len(new.pieces):
        out.append(f"split: {len(old.pieces)} → {len(new.pieces)} subgraphs")
    for kind in KEY_KINDS:
        a_n = old.unique_keys[old.variant][kind]
        b_n = new.unique_keys[new.variant][kind]
        if a_n != b_n:
            out.append(f"unique {kind} values ({new.variant}): {a_n} → {b_n}")
    return tuple(out) + traced_file_changes(old, new)


def traced_file_changes(old: Snapshot, new: Snapshot) -> tuple[str, ...]:
    """Which traced file changed (each moves vLLM's cache folder through its code factor)."""
    if not old.traced_files or not new.traced_files:
        return ()
    a, b = dict(old.traced_files), dict(new.traced_files)
    out = []
    for name in sorted(set(a) | set(b)):
        if name not in b:
            out.append(f"traced file {name}: no longer traced")
        elif name not in a:
            out.append(f"traced file {name}: newly traced")
        elif a[name] != b[name]:
            before, after = (h[:8] if h else "unreadable" for h in (a[name], b[name]))
            out.append(f"traced file {name}: content changed (sha256 {before} → {after})")
    return tuple(out)
