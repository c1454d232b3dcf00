"""Markdown reports for ``cachekey vllm-cache inspect`` and ``diff``: PR comments, summaries."""

from __future__ import annotations

from typing import Any

from cachekey_cli.render.vllm_cache import text as words
from cachekey_cli.vllm.cache_diff.compare import VllmCacheDiff
from cachekey_cli.vllm.identity.code_check import CodeCheck
from cachekey_cli.vllm.records import Deployment


def _table(rows: list[tuple[str, str]]) -> list[str]:
    out = ["| | |", "|---|---|"]
    out += [f"| {label} | {_cell(text)} |" for label, text in rows]
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _checks(checks: tuple[CodeCheck, ...], label: str = "") -> list[str]:
    out: list[str] = []
    for c in checks:
        lines = words.code_check_lines(c)
        out += ["", f"#### Code factor of the current code vs {label}`{c.where}`", "",
                f"**{lines[0]}**", ""]
        out += [f"- {line.strip()}" for line in lines[1:]]
    return out


def render_inspect(d: Deployment, *, checks: tuple[CodeCheck, ...] = (), **_: Any) -> str:
    out = [f"### vLLM cache `{d.path}`", "", f"{d.kind}: {words.inspect_summary(d)}"]
    for f in d.folders:
        out += ["", f"#### `{words.folder_title(f)}`", ""] + _table(words.folder_rows(f))
        if f.artifacts:
            out += ["", "| range | piece | format | size | AOT key | torch key |",
                    "|---|---:|---|---:|---|---|"]
            out += ["| " + " | ".join(words.artifact_row(a)) + " |" for a in f.artifacts]
    for m in d.aot_models:
        out += ["", f"#### `{words.aot_title(m)}`", ""] + _table(words.aot_rows(m))
        if m.sources:
            out += ["", "| traced module | content sha256 | lines |", "|---|---|---:|"]
            out += [f"| `{s.module}` | `{words.short(s.sha256)}` | {s.lines} |"
                    for s in m.sources]
    out += [f"- note: {n}" for n in d.notes]
    out += _checks(checks)
    return "\n".join(out) + "\n"


def render_diff(r: VllmCacheDiff, *, checks: tuple[tuple[CodeCheck, ...], ...] = (),
                **_: Any) -> str:
    out = ["### vLLM cache diff", "", f"- A: `{r.a.path}` ({r.a.kind})",
           f"- B: `{r.b.path}` ({r.b.kind})"]
    for f in r.folders:
        names = f"{f.a.hash or f.a.factors.folder_hash} → {f.b.hash or f.b.factors.folder_hash}"
        state = "**differs**" if f.folder_differs else "same name"
        out += ["", f"#### `{f.where}`: folder `{names}` {state}", ""]
        out += [f"- {line.strip()}" if not line.startswith("    ") else f"  - {line.strip()}"
                for line in words.folder_diff_lines(f) or ["nothing differs"]]
    for a in r.aot:
        state = "**differs**" if a.differs else "same"
        out += ["", f"#### `torch_aot_compile` {a.a.rank}: {state}"]
        if a.differs:
            lines = words.aot_diff_lines(a, words.shown_in_code(r, a))
            out += [""] + [f"- {line}" for line in lines]
    for side, folders in (("A", r.only_a), ("B", r.only_b)):
        out += [f"- only in {side}: `{words.folder_title(f)}`" for f in folders]
    for side, models in (("A", r.aot_only_a), ("B", r.aot_only_b)):
        out += [f"- only in {side}: `{words.aot_title(m)}`" for m in models]
    if r.pitfalls:
        out += ["", "#### Known pitfalls", ""]
        out += [f"- **{p.title}**: {p.detail}. *Fix:* {p.fix}." for p in r.pitfalls]
    for label, side_checks in zip(("A: ", "B: "), checks, strict=False):
        out += _checks(side_checks, label)
    out += ["", f"**{words.diff_verdict(r)}**"]
    return "\n".join(out) + "\n"
