"""Words shared by the rich and markdown reports of ``cachekey vllm-cache``.

Each function turns a record into labelled lines of plain text; the rich and
markdown renderers only lay them out. No verdict is decided here.
"""

from __future__ import annotations

from typing import Any

from cachekey_cli.vllm.cache_diff.compare import ABSENT, AotDiff, Change, FolderDiff, VllmCacheDiff
from cachekey_cli.vllm.identity.code_check import CodeCheck
from cachekey_cli.vllm.records import AotModel, Artifact, Deployment, PrefixFolder

SHORT = 12
LAYOUT = {"hashes": "vLLM 0.32.0/0.33.0 layout (raw env; config, compiler and code as hashes)",
          "raw": "vLLM 0.34.0 layout (env, config, compiler and code factors all written out)"}


def size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def short(value: str | None, n: int = SHORT) -> str:
    return "-" if value is None else value[:n]


def value(v: Any) -> str:
    if v is ABSENT:
        return "(not in this vLLM's factors)"
    text = repr(v) if isinstance(v, str) else str(v)
    return text if len(text) <= 80 else text[:79] + "…"


def folder_title(f: PrefixFolder) -> str:
    if f.hash is None:
        return f"{f.factors.path} (a factors file on its own)"
    return f"torch_compile_cache/{f.hash}/{f.rank}/{f.prefix}"


def folder_rows(f: PrefixFolder) -> list[tuple[str, str]]:
    facts = f.factors
    if f.name_matches is None:
        name = f"would be {facts.folder_hash} (recomputed from the factors)"
    elif f.name_matches:
        name = f"{f.hash} (matches its factors)"
    else:
        name = (f"{f.hash}, but its factors give {facts.folder_hash}: the folder was renamed, "
                "its factors file copied in, or cache_dir set by hand")
    rows = [
        ("folder name", name),
        ("env", f"{len(facts.env)} variables, hash {short(facts.env_hash)}"),
        ("config", facts.config_hash + (f" ({len(facts.config)} raw keys)" if facts.config
                                        else "")),
        ("compiler", facts.compiler_hash),
        ("code", facts.code_hash + (f" ({len(facts.code)} traced files)" if facts.code
                                    is not None else "")),
        ("layout", LAYOUT[facts.layout]),
    ]
    if f.files:
        rows.append(("files", ", ".join(f"{n} {size(b)}" for n, b in sorted(f.files.items())
                                         if not n.startswith("artifact_"))))
    if f.index:
        handles = {e.handle for e in f.index}
        present = sum(1 for h in handles if h in f.files)
        rows.append(("index", f"vllm_compile_cache.py: {len(f.index)} entries, "
                              f"{present} of {len(handles)} artifacts present"))
    rows += [("note", n) for n in f.notes]
    return rows


def artifact_row(a: Artifact) -> tuple[str, str, str, str, str, str]:
    rng = f"{a.compile_range[0]}-{a.compile_range[1]}" if a.compile_range else "?"
    sub = "?" if a.subgraph is None else str(a.subgraph)
    key = a.aot_key or f"({a.problem or 'unknown'})"
    return rng, sub, a.format, size(a.bytes), key, short(a.torch_key, 8)


def aot_title(m: AotModel) -> str:
    return f"torch_compile_cache/torch_aot_compile/{short(m.hash)}…/{m.rank}/model"


def aot_rows(m: AotModel) -> list[tuple[str, str]]:
    rows = [("hash", m.hash), ("model", size(m.bytes))]
    if m.problem:
        rows.append(("note", m.problem))
    if m.forward_name:
        rows.append(("forward", f"{m.forward_name}  {m.forward_file}:{m.forward_line}"))
    if m.system:
        rows.append(("system", ", ".join(f"{k} {v}" for k, v in m.system.items())))
    rows.append(("AOT entries", f"{len(m.aot_keys)} (inductor_cache/aotautograd): "
                                + ", ".join(short(k) for k in m.aot_keys)))
    return rows


def inspect_summary(d: Deployment) -> str:
    n = len(d.folders)
    hashes = len(d.hashes)
    aot = len(d.aot_models)
    return (f"{n} prefix folder{'s' if n != 1 else ''} in {hashes} hash folder"
            f"{'s' if hashes != 1 else ''}, {aot} AOT-compiled model{'s' if aot != 1 else ''}")


def folder_diff_lines(f: FolderDiff) -> list[str]:
    out = []
    release = f.factor("release")
    env = f.env
    if release is not None:  # another release lists other variables: say so once
        out.append(f"vLLM release {release.before} → {release.after}: each release computes "
                   "every factor anew (its own env variables, config fields and hashing), so "
                   "the folder moves with the upgrade whatever else changed")
        env = tuple(e for e in f.env if ABSENT not in (e.before, e.after))
        only = [sum(1 for e in f.env if e.after is ABSENT), sum(1 for e in f.env
                                                               if e.before is ABSENT)]
        if any(only):
            out.append(f"env: {only[0]} variables only in {release.before}'s list, {only[1]} "
                       f"only in {release.after}'s")
    for e in env:
        out.append(f"env {e.name}: {value(e.before)} → {value(e.after)}")
    for c in f.factors:
        if c.factor == "release":
            continue
        out.append(f"{c.factor} hash {short(c.before)} → {short(c.after)}")
        out += [f"    {_change(c.factor, d)}" for d in c.details]
        if c.factor == "config" and not c.details:
            out.append("    vLLM 0.32.0 and 0.33.0 write only its hash: the model, dtype, "
                       "scheduler, parallel or compilation config differs")
        if c.factor == "code" and not c.details and c.evidence:
            out.append(f"    every traced file has the same content ({c.evidence}): only "
                       "their absolute paths differ")
        elif c.factor == "code" and not c.details:
            out.append("    which traced file: pass both cache roots (their AOT-compiled "
                       "models record the sources), or --model")
    if f.torch_keys:
        out.append(f"artifacts' torch build key {short(f.torch_keys[0])} → "
                   f"{short(f.torch_keys[1])}")
    same = [n for n in ("env", "config", "compiler", "code")
            if (n == "env" and not f.env) or (n != "env" and f.factor(n) is None)]
    if same and f.differs:
        out.append(f"same: {', '.join(same)}")
    return out


def _change(factor: str, d: Change) -> str:
    what = {"code": "traced file", "config": "config", "compiler": "compiler"}[factor]
    if "/" not in d.name and factor == "code":
        what = "traced module"
    if d.before is None:
        return f"{what} {d.name}: only in B"
    if d.after is None:
        return f"{what} {d.name}: only in A"
    if factor == "code":
        return f"{what} {d.name}: content changed (sha256 {short(d.before, 8)} → " \
               f"{short(d.after, 8)})"
    return f"{what} {d.name}: {value(d.before)} → {value(d.after)}"


def shown_in_code(r: VllmCacheDiff, d: AotDiff) -> bool:
    """Whether the AOT model's source changes are already listed under a code factor."""
    return any(c.details == d.sources for f in r.folders for c in f.factors
               if c.factor == "code" and f.a.rank == d.a.rank)


def aot_diff_lines(d: AotDiff, sources_shown: bool = False) -> list[str]:
    out = []
    if d.a.hash != d.b.hash:
        out.append(f"folder {short(d.a.hash)}… → {short(d.b.hash)}… (its name covers the env, "
                   "config and compiler factors and the forward's name and first line)")
    out += [f"{c.name} {c.before} → {c.after}" for c in d.system]
    out += [f"forward {c.name}: {c.before} → {c.after}" for c in d.forward]
    if d.sources and sources_shown:
        out.append("traced modules: as under the code factor above")
    else:
        out += [_change("code", c) for c in d.sources]
    return out


def diff_verdict(r: VllmCacheDiff) -> str:
    """The folder counts, then the core's prediction of B's warm start."""
    parts = []
    moved, n = sum(1 for f in r.folders if f.folder_differs), len(r.folders)
    if moved:
        parts.append(f"{moved} of {n} hash folder{'s' if n != 1 else ''} "
                     f"{'differs' if moved == 1 else 'differ'} in name.")
    if r.only_a or r.only_b:
        parts.append(f"{len(r.only_a)} folders only in A, {len(r.only_b)} only in B.")
    if r.warm_start is not None:
        parts.append(r.warm_start.text)
    return " ".join(parts)


def code_check_lines(c: CodeCheck) -> list[str]:
    if c.matches:
        head = f"code hash matches ({short(c.code_hash)})"
    else:
        head = f"code hash differs: current {short(c.code_hash)}, cache {short(c.cache_code_hash)}"
    out = [head]
    if not c.evidence and not c.matches:
        out.append("these traced files are not the ones hashed; the cache records only the "
                   "hash (no AOT-compiled model or raw code factor here) to say which differ")
    for f in c.files:
        where = f" (cache: {f.cache_name})" if f.cache_name and f.cache_name != f.path else ""
        out.append(f"    {f.status:<13} {f.path}{where}")
    out += [f"    {'not traced now':<13} {m}" for m in c.only_in_cache]
    if not c.matches and c.evidence and not c.changed and not c.only_in_cache:
        out.append("every traced file has the cached content: only their absolute paths "
                   "differ (the code hash covers paths)")
    return out
