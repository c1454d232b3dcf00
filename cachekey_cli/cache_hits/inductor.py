"""Predict what ``torch.compile`` does with an Inductor cache, piece by piece (torch 2.13).

For each Dynamo graph, as torch looks it up (autograd_cache.py ``try_load``,
codecache.py ``find_guarded_entry`` / ``_lookup_graph``, aot_autograd_result.py
``CompiledForward.load``):

1. AOTAutograd looks for ``aotautograd/<AOT key>/`` and takes the first entry,
   in name order, whose guards hold for the current inputs' sizes. A folder
   whose every entry fails its guards is a guard miss.
2. On an AOTAutograd hit it loads the forward from ``fxgraph/…/<FX key>/`` (the
   key and the guard text the entry recorded; an entry with exactly those
   guards). A missing forward makes the AOTAutograd hit a miss.
3. On an AOTAutograd miss, the graph compiles: Inductor looks for its own FX
   key, with the same guard rule, and reuses its output on a hit.

The counters torch increments on the way (``autograd_cache_hit``/``_miss``/
``_guard_miss``, ``fxgraph_cache_hit``/``_miss``) are predicted with it. A
piece is a ``hit`` when AOTAutograd hits: nothing of it compiles again.

Pieces are looked up in order, and a piece that compiles files its entries
before the next one is looked up: a later graph with the same FX key (two
identical layers on either side of a graph break) finds the entry the earlier
one just wrote, whatever the cache held.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from cachekey_cli.cache_hits import guards as guard_eval
from cachekey_cli.cache_hits.records import (
    CurrentPiece,
    Entry,
    GuardCheck,
    InductorCache,
    KeyFolder,
    PieceCache,
)

Lookup = Callable[[InductorCache, str, str], "KeyFolder | None"]


def predict(cache: InductorCache, pieces: Sequence[CurrentPiece], lookup: Lookup,
            bundled: bool = False) -> tuple[PieceCache, ...]:
    filed: dict[tuple[str, str], Entry] = {}  # written by an earlier piece of this run
    out = []
    for p in pieces:
        result = _piece(cache, p, _with_filed(lookup, filed), bundled)
        out.append(result)
        if result.cache != "hit":  # it compiles, and torch files what it compiled
            name = f"(filed by {p.id} in this run)"
            if p.aot_key:
                filed[("aot", p.aot_key)] = Entry(name, 0, "", None if bundled else p.fx_key, "",
                                                  this_run=True)
            if p.fx_key and not bundled:
                filed[("fx", p.fx_key)] = Entry(name, 0, "", this_run=True)
    return tuple(out)


def _with_filed(lookup: Lookup, filed: dict[tuple[str, str], Entry]) -> Lookup:
    """The cache as this piece finds it: what PATH held, plus what earlier pieces filed."""

    def find(cache: InductorCache, kind: str, key: str) -> KeyFolder | None:
        found = lookup(cache, kind, key)
        fresh = filed.get((kind, key))
        if fresh is not None:
            return KeyFolder(kind, key, (found.entries if found else ()) + (fresh,))
        return found

    return find


def _first_passing(entries: Sequence[Entry], hints: Sequence[int], exact: str | None = None
                   ) -> tuple[Entry | None, list[GuardCheck]]:
    """The entry torch would take, and the guard checks on the way to it."""
    checks: list[GuardCheck] = []
    for entry in sorted(entries, key=lambda e: (e.this_run, e.name)):  # files, then this run's
        if entry.guards is None:  # stored, but not as text: taken as torch may take it, unread
            checks.append(GuardCheck(entry.name, "", None,
                                     "its guard expression is not text and was not read"))
            return entry, checks
        if entry.guards == "":  # no guards: torch takes it without evaluating anything
            return entry, checks
        if exact is not None:  # an AOT hit loads the forward whose guards are exactly these
            if entry.guards == exact:
                return entry, checks
            continue
        result = guard_eval.evaluate(entry.guards, hints)
        checks.append(GuardCheck(entry.name, entry.guards, result.passed, result.detail))
        if result.passed is not False:
            return entry, checks
    return None, checks


def _sizes(hints: Sequence[int]) -> str:
    return ", ".join(f"L['t{i}']={h}" for i, h in enumerate(hints)) or "no symbolic sizes"


def _piece(cache: InductorCache, p: CurrentPiece, lookup: Lookup, bundled: bool) -> PieceCache:
    counts: Counter[str] = Counter()
    reasons: list[str] = []
    unchecked: list[str] = []
    checks: list[GuardCheck] = []
    aot_hit = False
    saved: float | None = None  # the compile time the entry a hit loads recorded
    stored: dict[str, str | None] = {}
    place = f"aotautograd/{p.aot_key}" if p.aot_key else "(no AOT key)"
    if p.aot_key is None:
        counts["autograd_cache_bypass"] += 1
        reasons.append(f"no AOT key ({p.aot_note or 'AOTAutograd cache off'}): "
                       "AOTAutograd does not look this piece up")
    else:
        folder = lookup(cache, "aot", p.aot_key)
        if folder is None or not folder.entries:
            counts["autograd_cache_miss"] += 1
            reasons.append(f"the AOT key {p.aot_key[:12]}… is absent (no aotautograd/ folder "
                           "of that name)")
        else:
            entry, seen = _first_passing(folder.entries, p.hints)
            checks += seen
            if entry is None:
                counts["autograd_cache_guard_miss"] += 1
                counts["autograd_cache_miss"] += 1
                failed = "; ".join(c.detail for c in seen if c.detail)
                n = len(folder.entries)
                which = "its entry's guards fail" if n == 1 else f"all {n} entries' guards fail"
                reasons.append(f"guard miss: the AOT key {p.aot_key[:12]}… is present, but "
                               f"{which} for {_sizes(p.hints)} ({failed})")
            else:
                aot_hit = _load_forward(cache, p, entry, lookup, bundled, counts, reasons)
                stored["fx_key"] = entry.fx_key
                saved = entry.compile_s if aot_hit else None
                if aot_hit:
                    unchecked += [f"guards of entry {c.entry}: {c.detail}"
                                  for c in seen if c.passed is None]
    if not aot_hit:
        _inductor_lookup(cache, p, lookup, counts, reasons, checks, unchecked)
    # a miss at AOTAutograd's level: Inductor's FX entry may still spare the backend compile
    level = None if aot_hit else ("fxgraph" if counts["fxgraph_cache_hit"] else "cold")
    return PieceCache(
        id=p.id, cache="hit" if aot_hit else "miss", reasons=tuple(reasons), fallback=level,
        saved_s=saved,
        unchecked=tuple(unchecked) if aot_hit else (),
        keys={"aot_key": p.aot_key, "inductor_key": p.fx_key}, stored=stored,
        guards=tuple(checks), counters=dict(sorted(counts.items())), place=place,
    )


def _load_forward(cache: InductorCache, p: CurrentPiece, entry: Entry, lookup: Lookup,
                  bundled: bool, counts: Counter[str], reasons: list[str]) -> bool:
    """An AOT hit loads its forward from the FX cache (unless bundled); a missing one undoes it."""
    if bundled or entry.fx_key is None:
        counts["autograd_cache_hit"] += 1
        reasons.append(f"the AOT key {p.aot_key and p.aot_key[:12]}… is present and its "
                       "guards hold" + (" (Inductor's output bundled in the entry)"
                                        if bundled else ""))
        return True
    fx = lookup(cache, "fx", entry.fx_key)
    forward, _ = _first_passing(fx.entries if fx else (), p.hints, exact=entry.fx_guards or "")
    if forward is None:
        counts["fxgraph_cache_miss"] += 1
        counts["autograd_cache_miss"] += 1
        state = "absent" if fx is None else "not there with the guards it recorded"
        reasons.append(f"the AOT entry is present, but the forward it needs (FX key "
                       f"{entry.fx_key[:12]}…) is {state}: AOTAutograd counts a miss")
        return False
    counts["fxgraph_cache_hit"] += 1
    counts["autograd_cache_hit"] += 1
    reasons.append(f"the AOT key {p.aot_key and p.aot_key[:12]}… is present, its guards hold, "
                   f"and its forward {entry.fx_key[:12]}… is in fxgraph/")
    return True


def _inductor_lookup(cache: InductorCache, p: CurrentPiece, lookup: Lookup,
                     counts: Counter[str], reasons: list[str], checks: list[GuardCheck],
                     unchecked: list[str]) -> None:
    """After an AOTAutograd miss the graph compiles; Inductor looks up its own FX key."""
    if p.fx_key is None:
        reasons.append(f"no FX key ({p.fx_note or 'FX graph cache off'})")
        return
    fx = lookup(cache, "fx", p.fx_key)
    if fx is None or not fx.entries:
        counts["fxgraph_cache_miss"] += 1
        reasons.append(f"the FX key {p.fx_key[:12]}… is absent too: Inductor compiles")
        return
    entry, seen = _first_passing(fx.entries, p.hints)
    checks += seen
    if entry is None:
        counts["fxgraph_cache_miss"] += 1
        reasons.append(f"the FX key {p.fx_key[:12]}… is present, but its guards fail too: "
                       "Inductor compiles")
        return
    counts["fxgraph_cache_hit"] += 1
    note = " (its guards not checked)" if any(c.passed is None for c in seen) else ""
    reasons.append(f"the FX key {p.fx_key[:12]}… is present{note}: Inductor's output is reused, "
                   "AOTAutograd runs again")
