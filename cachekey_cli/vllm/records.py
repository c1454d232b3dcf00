"""The frozen records the vLLM cache reader builds: folders, factors, artifacts, AOT models.

Torch-free. Each record keeps what vLLM wrote, plus what the reader worked out
from it (e.g. the folder name recomputed from the factors).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# the profile setting that says vLLM files no index for this model (compile/installed.py sets
# it, warm_start/lookup.py reads it)
INDEX_SETTING = "vllm.index"
NO_INDEX = ("none: the model is decorated use_aot_compile=False, so every start compiles each "
            "piece through Inductor's cache in the hash folder")


@dataclass(frozen=True)
class CodeEntry:
    """One traced file in newer vLLM's raw code factor: its path and vLLM's content hash."""

    path: str
    hash: str | None


@dataclass(frozen=True)
class Factors:
    """A ``cache_key_factors.json``: the raw env factors and the other three hashes.

    vLLM 0.33.0 writes ``env`` (raw), ``config_hash``, ``code_hash`` and
    ``compiler_hash``; newer vLLM also writes the raw ``config``, ``compiler`` and
    ``code`` factors (``layout`` "raw").
    """

    path: str
    layout: str  # "0.33" or "raw"
    env: Mapping[str, Any]
    env_hash: str  # vLLM's hash_factors(env), recomputed
    config_hash: str
    code_hash: str
    compiler_hash: str
    folder_hash: str  # the hash folder's name these factors give, recomputed
    config: Mapping[str, Any] | None = None
    compiler: Any = None
    code: tuple[CodeEntry, ...] | None = None


@dataclass(frozen=True)
class IndexEntry:
    """One entry of ``vllm_compile_cache.py``: which artifact serves which piece."""

    compile_range: tuple[int, int] | None
    graph_index: int | None
    compiler: str
    aot_key: str | None
    handle: str | None  # the artifact's file name


@dataclass(frozen=True)
class Artifact:
    """``artifact_compile_range_<a>_<b>_subgraph_<i>``: a binary file or an unpacked folder."""

    name: str
    format: str  # "binary" or "unpacked"
    bytes: int
    compile_range: tuple[int, int] | None
    subgraph: int | None
    aot_key: str | None  # from the binary header, or the unpacked aotautograd folder name
    torch_key: str | None = None  # torch's build key in a binary header (hex)
    problem: str | None = None  # why the header could not be read


@dataclass(frozen=True)
class PrefixFolder:
    """``torch_compile_cache/<hash>/rank_<r>_<dp>/<prefix>/`` and what vLLM filed there."""

    hash: str | None  # None when only a factors file was given, outside its folders
    rank: str | None
    prefix: str | None
    path: str
    factors: Factors
    files: Mapping[str, int]  # file or folder name -> bytes
    index: tuple[IndexEntry, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.rank or '?'}/{self.prefix or '?'}"

    @property
    def name_matches(self) -> bool | None:
        """Whether the folder is named by its factors (None when the name is unknown)."""
        return None if self.hash is None else self.hash == self.factors.folder_hash


@dataclass(frozen=True)
class InlinedSource:
    """A module whose code Dynamo traced, as the AOT-compiled model records it."""

    module: str
    sha256: str  # of the module's whole source text
    lines: int


@dataclass(frozen=True)
class AotModel:
    """``torch_compile_cache/torch_aot_compile/<hash>/rank_<r>_<dp>/model`` (AOT compile)."""

    hash: str
    rank: str
    path: str
    bytes: int
    aot_keys: tuple[str, ...]  # the inductor_cache/aotautograd/ folder names
    forward_file: str | None = None
    forward_name: str | None = None
    forward_line: int | None = None
    sources: tuple[InlinedSource, ...] = ()
    system: Mapping[str, str] = field(default_factory=dict)  # python, torch, triton, gpu…
    problem: str | None = None  # why the model file was not read


@dataclass(frozen=True)
class Deployment:
    """Everything found under one PATH given on the command line."""

    path: str
    kind: str  # what PATH is: "cache root", "torch_compile_cache", "hash folder", …
    folders: tuple[PrefixFolder, ...]
    aot_models: tuple[AotModel, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def hashes(self) -> tuple[str, ...]:
        return tuple(sorted({f.hash for f in self.folders if f.hash}))
