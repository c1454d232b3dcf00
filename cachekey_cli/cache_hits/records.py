"""The frozen records ``check --cache`` builds: what a cache holds and the answer per piece.

Torch-free. A piece's answer is one of three words:

- ``hit``: the cache holds this piece's own artifact, and the client will use it;
- ``miss``: the client finds nothing for this piece and compiles it again;
- ``stale``: the client loads an artifact for this piece that was compiled
  from something else (vLLM finds pieces by position, not by key): wrong code,
  not lost time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cachekey_cli.errors import ExitCode

WORDS = ("stale", "miss", "hit")  # also the order pieces are reported in
FALLBACK_LABELS = {"aotautograd": "Inductor's cache", "fxgraph": "Inductor's FX cache",
                   "cold": "cold compile", "unknown": "Inductor level unknown"}
FAIL_ON = ("miss", "cold")  # check --cache --fail-on: what fails the gate besides stale


@dataclass(frozen=True)
class Entry:
    """One file under an Inductor cache key's folder, read inertly."""

    name: str
    bytes: int
    guards: str | None  # the guard expression, "" when the entry has none
    fx_key: str | None = None  # an AOTAutograd entry's forward FX-graph key
    fx_guards: str | None = None  # the guard expression stored for that forward
    this_run: bool = False  # filed by an earlier piece of the run being predicted, not on disk
    # an AOTAutograd entry's own record of its compile (forward_time_taken_ns + backward's):
    # what a start that loads it does not pay
    compile_s: float | None = None


@dataclass(frozen=True)
class KeyFolder:
    """``aotautograd/<key>/`` or ``fxgraph/<prefix>/<key>/`` and the entries it holds."""

    kind: str  # "aot" or "fx"
    key: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class InductorCache:
    """A ``TORCHINDUCTOR_CACHE_DIR``: the key folder names under aotautograd/ and fxgraph/."""

    path: str
    aot_keys: frozenset[str]
    fx_keys: Mapping[str, str]  # FX key -> its folder (fxgraph/<prefix>/<key>)


@dataclass(frozen=True)
class GuardCheck:
    """One cache entry's guards against this run's input sizes."""

    entry: str
    expr: str
    passed: bool | None  # None: left unchecked
    detail: str = ""


@dataclass(frozen=True)
class PieceCache:
    """The answer for one compiled piece, and why."""

    id: str
    cache: str  # hit | miss | stale
    reasons: tuple[str, ...]
    unchecked: tuple[str, ...] = ()  # what a "hit" did not check (guards, keys)
    keys: Mapping[str, str | None] = field(default_factory=dict)  # this deployment's keys
    stored: Mapping[str, str | None] = field(default_factory=dict)  # what the cache holds there
    guards: tuple[GuardCheck, ...] = ()
    counters: Mapping[str, int] = field(default_factory=dict)  # torch's counters, predicted
    findings: tuple[str, ...] = ()  # component-level account, from a snapshot in the cache
    place: str = ""  # where the client looks: "aotautograd/<key>", "index (1, 2048) #0", …
    # under a vLLM-level miss, what Inductor's own cache serves (vllm/warm_start/fallback.py):
    # "aotautograd", "fxgraph", "cold" or "unknown"; None where vLLM loads the piece
    fallback: str | None = None
    fallback_reasons: tuple[str, ...] = ()
    saved_s: float | None = None  # the compile seconds the entry Inductor serves recorded
    # vLLM serves this piece from memory: the position of the earlier piece of the same start
    # whose artifact has this piece's AOT key (vllm/warm_start/reuse.py)
    reuses: int | None = None

    @property
    def label(self) -> str:
        """The word as a report shows it: ``hit (guards not checked)`` when something was not,
        ``miss → Inductor's cache`` when Inductor serves what vLLM does not."""
        if self.cache == "hit" and self.reuses is not None:
            return f"hit (reuses #{self.reuses})"
        if self.cache == "hit" and self.unchecked:
            what = "guards" if all(u.startswith("guard") for u in self.unchecked) else "key"
            return f"hit ({what} not checked)"
        if self.cache == "miss" and self.fallback in FALLBACK_LABELS:
            return f"miss → {FALLBACK_LABELS[self.fallback]}"
        return self.cache

    @property
    def compiles_cold(self) -> bool:
        """The start compiles this piece from scratch (or may: level unknown)."""
        return self.cache == "miss" and self.fallback not in ("aotautograd", "fxgraph")


@dataclass(frozen=True)
class CacheCheck:
    """``cachekey check MODEL --cache PATH``: every compiled piece against a real cache."""

    model: str
    profile: str
    path: str
    kind: str  # what PATH is: "Inductor cache", "vLLM cache root", "hash folder", …
    pieces: tuple[PieceCache, ...]
    facts: tuple[tuple[str, str], ...] = ()  # (label, value) lines for the header
    notes: tuple[str, ...] = ()  # one-line caveats (keys not exact, folder assumed, …)
    folder: tuple[str, ...] = ()  # why the folder differs: the factor diff, in lines
    snapshot: str | None = None  # the snapshot found in the cache, if one was used
    context: tuple[str, ...] = ()  # what changed around the model, from that snapshot
    fail_on: str = FAIL_ON[0]  # "cold": a miss that Inductor's cache serves does not fail

    def count(self, word: str) -> int:
        return sum(1 for p in self.pieces if p.cache == word)

    @property
    def ordered(self) -> tuple[PieceCache, ...]:
        """Stale pieces first (wrong code), then misses, then hits; stable within each."""
        return tuple(sorted(self.pieces, key=lambda p: WORDS.index(p.cache)))

    @property
    def exit_code(self) -> ExitCode:
        if self.fail_on == "cold":
            bad = any(p.cache == "stale" or p.compiles_cold for p in self.pieces)
        else:
            bad = any(p.cache != "hit" for p in self.pieces)
        return ExitCode.DRIFT if bad else ExitCode.OK

    def levels(self) -> dict[str, int]:
        """Under the vLLM-level misses: how many pieces each Inductor level serves."""
        out: dict[str, int] = {}
        for p in self.pieces:
            if p.cache == "miss" and p.fallback:
                out[p.fallback] = out.get(p.fallback, 0) + 1
        return out

    def sentence(self) -> str:
        n = len(self.pieces)
        stale, miss, hit = (self.count(w) for w in WORDS)
        unchecked = sum(1 for p in self.pieces if p.cache == "hit" and p.unchecked)
        if n == 0:
            return "No compiled piece to look up."
        pieces = "piece" if n == 1 else "pieces"
        reused = sum(1 for p in self.pieces if p.reuses is not None)
        if hit == n:
            tail = f" ({unchecked} not fully checked)" if unchecked else ""
            if reused:
                tail += (f" ({reused} of them from memory: "
                         f"{'it reuses' if reused == 1 else 'they reuse'} an earlier piece's "
                         "artifact with the same key)")
            return f"All {n} compiled {pieces} hit the cache{tail}." if n > 1 else \
                f"The compiled piece hits the cache{tail}."
        parts = []
        if stale:
            parts.append(f"{stale} stale (the client loads another piece's artifact)")
        if miss:
            levels = self.levels()
            served = levels.get("aotautograd", 0) + levels.get("fxgraph", 0)
            saved = [p.saved_s for p in self.pieces if p.cache == "miss" and p.saved_s is not None]
            if levels:
                how = [f"{levels.get('cold', 0)} cold compile"
                       f"{'' if levels.get('cold', 0) == 1 else 's'}",
                       f"{served} from Inductor's cache"
                       + (f", saving the {sum(saved):.1f} s their entries record" if saved
                          else "")]
                if levels.get("unknown"):
                    how.append(f"{levels['unknown']} unknown")
                parts.append(f"{miss} miss ({', '.join(how)})")
            else:
                parts.append(f"{miss} miss")
        parts.append(f"{hit} hit" + (f" ({reused} of them reusing an earlier piece's artifact "
                                     "in memory)" if reused else ""))
        verdict = "The check fails." if self.exit_code else \
            "No piece compiles cold; the check passes (--fail-on cold)."
        return f"{n} compiled {pieces}: " + ", ".join(parts) + ". " + verdict


@dataclass(frozen=True)
class CurrentPiece:
    """A compiled piece of the model as it is now: its keys and its inputs' sizes."""

    id: str
    position: int  # index among the compiled pieces (vLLM's graph_index)
    aot_key: str | None
    fx_key: str | None
    aot_note: str | None = None  # why there is no AOT key (torch's refusal)
    fx_note: str | None = None
    hints: tuple[int, ...] = ()  # the backed SymInt inputs' sizes, as torch's guards read them


def model_id(analysis: Any) -> str:
    """``file:factory`` of the analysed model, as a report names it."""
    return f"{analysis.model.source}:{analysis.model.factory}"
