"""Frozen result types that flow from the core to the renderers.

Nothing here imports torch, so renderers and offline commands stay light.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

KEY_KINDS = ("graph_hash", "aot_key", "inductor_key")
VARIANTS = ("plain", "tuple_return")


@dataclass(frozen=True)
class Component:
    """One named input to a key: torch's per-component hash plus a short readable value."""

    name: str
    hash: str
    value: str | None = None  # None when torch's value is binary (pickled bytes)


@dataclass(frozen=True)
class KeyResult:
    """A key, the components it was built from, or the reason torch refused to build it."""

    kind: str
    key: str | None
    components: tuple[Component, ...] = ()
    refusal: str | None = None

    def component_map(self) -> dict[str, Component]:
        return {c.name: c for c in self.components}

    @property
    def bundled(self) -> bool:
        """No FX key because the AOT entry bundles Inductor's output (vLLM's mega artifact)."""
        return self.key is None and (self.refusal or "").startswith("bundled_autograd_cache")


@dataclass(frozen=True)
class VariantKeys:
    variant: str
    returns_tuple: bool  # before normalization
    normalized: bool  # make_graph_return_tuple was applied before keying
    graph_hash: KeyResult
    aot_key: KeyResult
    inductor_key: KeyResult
    output_code: str = ""  # the graph's return line as compiled, e.g. "return (x,)"
    # torch's standalone autograd_cache_key on the piece exactly as split (before
    # normalization): set when it refuses, e.g. NotImplementedError for a bare return
    unnormalized_refusal: str | None = None

    def key(self, kind: str) -> KeyResult:
        result: KeyResult = getattr(self, kind)
        return result


@dataclass(frozen=True)
class Piece:
    """One subgraph produced by the split, keyed in each variant."""

    graph: int  # index of the captured Dynamo graph
    name: str  # split_module's name, e.g. "submod_3"
    splitting_op: bool
    outputs: int
    op: str | None  # the splitting op's name for splitting-op pieces
    variants: Mapping[str, VariantKeys]
    # standalone_compile's dynamic_shapes for the general compile: "from_graph" (vLLM's
    # range compile), "from_example_inputs" or "from_tracing_context" (torch.compile)
    dynamic_shapes: str = "from_example_inputs"
    # vLLM's single-size compiles (--compile-size): size -> keys of the tuple_return piece
    sizes: Mapping[int, VariantKeys] = field(default_factory=dict)
    # the piece's inputs in order, in source terms where Dynamo named them after one
    # (``x``, ``self.fc.weight``), else the graph's own name (``s0``, ``add_2``)
    inputs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"g{self.graph}/{self.name}"


@dataclass(frozen=True)
class CapturedGraph:
    index: int
    nodes: int
    placeholders: int
    break_reason: str | None = None  # why Dynamo ended this graph, if it was a graph break
    break_location: str | None = None  # "file.py:LINE in fn"
    symbolic: bool = False  # a SymInt input, or a tensor input with a symbolic size or stride


@dataclass(frozen=True)
class Environment:
    torch: str
    python: str
    platform: str
    tuple_return: str  # "native" or "emulated"
    torch_git: str | None = None
    devices: tuple[str, ...] = ("cpu",)


@dataclass(frozen=True)
class ModelInfo:
    source: str  # as given on the command line, relative where possible
    factory: str
    split_ops: tuple[str, ...]
    split_ops_origin: str  # "default", "SPLIT_OPS" or "--split-op"
    matched_ops: tuple[str, ...] = ()  # the split ops that matched at least one node
    dynamic_dims: tuple[str, ...] = ()  # "ARG:DIM" marked dynamic before capture


@dataclass(frozen=True)
class ProfileInfo:
    """Which client's compile path the keys were taken on, and how faithfully."""

    name: str  # "vllm" or "torch-compile"
    client: str  # e.g. "vLLM 0.33.0 (torch side)" or "torch.compile (Inductor backend)"
    cache_mode: str | None = None  # vLLM's cache mode, from its environment variables
    compile_range: str | None = None  # the general-shape compile, e.g. "[1, max_tokens]"
    compile_sizes: tuple[int, ...] = ()  # single-size compiles keyed in addition
    settings: Mapping[str, str] = field(default_factory=dict)  # reproduced arguments and config
    not_reproduced: tuple[str, ...] = ()  # what the real client adds that we cannot
    notes: tuple[str, ...] = ()
    vllm_version: str | None = None  # the importable vLLM that keyed the pieces (None: torch side)
    # the folders this deployment files under, named by vLLM's own factor functions:
    hash_folder: str | None = None  # torch_compile_cache/<10 hex>/ (the factors' hash)
    aot_compile_folder: str | None = None  # torch_compile_cache/torch_aot_compile/<64 hex>/
    # env_hash, config_hash, code_hash, compiler_hash, rank_folder, prefix (cache_dir if set)
    folder_factors: Mapping[str, str] = field(default_factory=dict)
    # a raw-factor release's (vLLM 0.34.0) env, config and compiler factors as vLLM computed
    # them, to name the field that moved a folder; reports only, never written to a snapshot
    raw_factors: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TracedFile:
    """A file Dynamo traced (as vLLM's decorator collects them) and the sha256 of its bytes."""

    path: str  # absolute, as Dynamo saw it; "<string>" for exec'd code
    sha256: str | None  # None when the file could not be read


@dataclass(frozen=True)
class Analysis:
    """Everything the pipeline computed for one model."""

    environment: Environment
    model: ModelInfo
    graphs: tuple[CapturedGraph, ...]
    pieces: tuple[Piece, ...]
    config_overrides: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    normalize_inputs: bool | None = None
    timings: Mapping[str, float] = field(default_factory=dict)
    mode: str = "inference"  # "inference" (torch.inference_mode) or "training" (grad enabled)
    profile: ProfileInfo | None = None
    traced_files: tuple[TracedFile, ...] = ()  # sorted by path
    # Dynamo settings that bake values into the graph, as captured (torchapi.dynamo_settings)
    dynamo_config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ComponentChange:
    """A component whose hash differs between two sides of a comparison."""

    name: str
    before: str | None  # readable value on the left, or None
    after: str | None
    before_hash: str | None
    after_hash: str | None

    def describe(self, width: int = 80) -> str:
        if self.before_hash is None:
            return f"{self.name}: (absent) → {_short(self.after, width)}"
        if self.after_hash is None:
            return f"{self.name}: {_short(self.before, width)} → (absent)"
        if self.before is None or self.after is None:
            return f"{self.name}: [{self.before_hash[:8]}] → [{self.after_hash[:8]}]"
        return f"{self.name}: {_short(self.before, width)} → {_short(self.after, width)}"


def _short(text: str | None, width: int) -> str:
    if text is None:
        return "(binary)"
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


@dataclass(frozen=True)
class KindDrift:
    kind: str
    before: str | None
    after: str | None
    changes: tuple[ComponentChange, ...]
    note: str = ""


@dataclass(frozen=True)
class PieceDiff:
    piece: Piece
    drift: tuple[KindDrift, ...]
    explanation: str  # the full account: why, then which components moved
    story: str = ""  # only the why, for renderers that list components separately

    @property
    def drifted(self) -> bool:
        return bool(self.drift)


@dataclass(frozen=True)
class DiffResult:
    analysis: Analysis
    pieces: tuple[PieceDiff, ...]

    @property
    def drifted(self) -> tuple[PieceDiff, ...]:
        return tuple(p for p in self.pieces if p.drifted)
