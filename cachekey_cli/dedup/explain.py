"""Dedup explanations in words: which keys split, what differs in the graphs and the keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from cachekey_cli.results import ComponentChange
from cachekey_cli.wording import plural

DEDUP_KINDS = ("aot_key", "inductor_key")
LABEL = {"aot_key": "AOT", "inductor_key": "Inductor"}


def explain(
    pieces: tuple[str, ...],
    partitions: Mapping[str, tuple[tuple[str, ...], ...]],
    shared: tuple[str, ...],
    split: tuple[str, ...],
    diffs: tuple[Any, ...],
    changes: Mapping[str, tuple[ComponentChange, ...]],
    compared: tuple[str, str],
    normalize: bool | None,
) -> str:
    """The why, in words: which keys split, what differs in the graphs and in the keys."""
    counts = " and ".join(f"{len(partitions[k])} {LABEL[k]} keys" for k in split)
    parts = [f"{len(pieces)} isomorphic pieces get {counts}"]
    if "inductor_key" in shared:
        parts.append(
            "their Inductor key is shared (AOTAutograd hands Inductor the same graph), so only "
            "the AOTAutograd cache entry is duplicated"
        )
    elif "aot_key" in shared:
        parts.append("their AOT key is shared but the Inductor key is not")
    named = [d for d in diffs if d.kind == "input name"]
    phrases = [describe_difference(d, normalize) for d in diffs if d.kind != "input name"]
    if named:
        first = list(named[0].values.values())
        state = "off" if normalize is False else "unavailable in this torch"
        phrases.insert(0, (
            f"placeholder names differ at {plural(len(named), 'input')} (e.g. {named[0].where}: "
            f"{first[0]} vs {first[1]}) and autograd_cache_normalize_inputs is {state}, so "
            f"the names, which carry layer indices, reach the AOT key (vLLM turns it on)"
        ))
    if phrases:
        parts.append("what differs: " + "; ".join(phrases))
    else:
        parts.append("the graphs agree on every site the fingerprint ignores")
    for kind in split:
        names = ", ".join(c.name for c in changes[kind][:6]) or "none"
        parts.append(f"{LABEL[kind]} key components differing ({compared[0]} vs {compared[1]}): "
                     f"{names}")
    return "; ".join(parts)


def describe_difference(d: Any, normalize: bool | None) -> str:
    pairs = list(d.values.items())

    def show(v: str | None) -> str:
        return "none" if v is None else v

    if d.kind == "string constant":
        distinct = list(dict.fromkeys(d.values.values()))
        sample = ", ".join(show(v) for v in distinct[:3])
        more = f", … ({len(distinct)} distinct)" if len(distinct) > 3 else ""
        return (f"a string constant at {d.where} differs only in its digits (a layer index "
                f"baked into the graph): {sample}{more}")
    if d.kind == "input annotation":
        typed = [p for p, v in pairs if v is not None]
        bare = [p for p, v in pairs if v is None]
        if typed and bare:
            return (f"{d.where}'s placeholder is annotated `{d.values[typed[0]]}` in "
                    f"{', '.join(typed[:3])} but not in {', '.join(bare[:3])} (split_module copies "
                    f"the annotation of a Dynamo graph input; a value made by an earlier piece "
                    f"has none), and the annotation is part of the graph code the AOT key hashes")
    if d.kind == "requires_grad":
        shown = ", ".join(f"{p}={show(v)}" for p, v in pairs[:4])
        return f"{d.where} requires_grad differs (it is part of the input metadata): {shown}"
    if d.kind == "parameter":
        params = [p for p, v in pairs if v == "True"]
        plain = [p for p, v in pairs if v != "True"]
        return (f"{d.where} is an nn.Parameter in {', '.join(params[:3])} but a plain tensor in "
                f"{', '.join(plain[:3])}")
    return f"{d.kind} at {d.where}: " + ", ".join(f"{p}={show(v)}" for p, v in pairs[:3])


def focus(change: ComponentChange, context: int = 24) -> ComponentChange:
    """Trim a one-line change to where the two values differ, e.g. ``…p_2 : torch.Tensor, p_3…``."""
    a, b = change.before, change.after
    if a is None or b is None or a == b:
        return change
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    lo = max(0, start - context)

    def cut(text: str) -> str:
        hi = len(text) - max(0, end - context)
        return ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")

    return replace(change, before=cut(a), after=cut(b))
