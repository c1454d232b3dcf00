"""Markdown report for ``cachekey diff``: for PR comments and step summaries."""

from __future__ import annotations

from typing import Any

from cachekey_cli import wording
from cachekey_cli.compare.verdict import piece_verdict, summarize
from cachekey_cli.results import DiffResult, KeyResult


def _short(key: KeyResult) -> str:
    return f"`{key.key[:10]}`" if key.key else "—"


def _split_ops(a: Any) -> str:
    matched = ", ".join(f"`{o}`" for o in a.model.matched_ops) or "none"
    if a.model.split_ops_origin == "default":
        return f"SDPA family (default), matched {matched}"
    listed = ", ".join(f"`{o}`" for o in a.model.split_ops)
    return f"{listed} (from {a.model.split_ops_origin}), matched {matched}"


def _profile_lines(a: Any) -> list[str]:
    info = a.profile
    if info is None:
        return []
    line = f"profile **{info.name}** ({info.client})"
    if info.cache_mode:
        line += f" · vLLM mode `{info.cache_mode}`"
    if info.compile_range and info.vllm_version:
        line += f" · range {info.compile_range}"
    if info.compile_sizes:
        line += f" · sizes {', '.join(map(str, info.compile_sizes))}"
    lines = [line, ""]
    if info.hash_folder or info.aot_compile_folder:
        lines += [f"vLLM folder: `{wording.folder_line(info)}`", ""]
    for item in info.not_reproduced:
        lines += [f"> not reproduced: {item}", ""]
    return lines


def render(result: DiffResult, *, dedup: Any = None, **_: Any) -> str:
    a = result.analysis
    lines = [
        f"### cachekey diff: `{a.model.source}`",
        "",
        f"torch `{a.environment.torch}` · tuple_return **{a.environment.tuple_return}** · "
        f"split ops: {_split_ops(a)} · {len(a.graphs)} graph(s)",
        "",
        *_profile_lines(a),
        *[
            f"> graph break: `g{g.index}` ends at `{g.break_location}`: {g.break_reason}\n"
            for g in a.graphs
            if g.break_reason
        ],
        "| piece | kind | outputs | plain returns tuple | normalized | plain aot | "
        "tuple_return aot | plain inductor | tuple_return inductor | verdict |",
        "|---|---|---:|---|---|---|---|---|---|---|",
    ]
    for pd in result.pieces:
        p = pd.piece
        plain, tupled = p.variants["plain"], p.variants["tuple_return"]
        kind = f"split op `{p.op}`" if p.splitting_op else "compiled"
        lines.append(
            f"| `{p.id}` | {kind} | {p.outputs} | {'yes' if plain.returns_tuple else 'no'} | "
            f"{'yes' if plain.normalized else 'no'} | {_short(plain.aot_key)} | "
            f"{_short(tupled.aot_key)} | {_short(plain.inductor_key)} | "
            f"{_short(tupled.inductor_key)} | {piece_verdict(pd)} |"
        )
    drifted = [pd for pd in result.pieces if pd.drift and not pd.piece.splitting_op]
    if drifted:
        lines += ["", "#### Why keys drift", ""]
        for pd in drifted:
            lines.append(f"- **`{pd.piece.id}`**: {pd.explanation}")
    if dedup is not None:
        from cachekey_cli.render.dedup import markdown as dedup_markdown

        lines += ["", *dedup_markdown.section(dedup)]
    if a.warnings:
        lines += ["", "#### Warnings", ""] + [f"- {w}" for w in a.warnings]
    lines += ["", summarize(result).sentence(), ""]
    return "\n".join(lines)
