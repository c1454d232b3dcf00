"""What vLLM compiled into a prefix folder: the index and the per-piece artifacts.

- ``vllm_compile_cache.py`` (written by ``CompilerManager.save_to_file`` in
  vllm/compilation/backends.py) is a pprint'ed dict literal:
  ``{((start, end), graph_index, compiler): {'cache_key': AOT key,
  'graph_handle': (file name, absolute path)}}``. It is read with
  ``ast.literal_eval``, never executed.
- ``artifact_compile_range_<start>_<end>_subgraph_<i>`` (``InductorStandaloneAdaptor``
  in vllm/compilation/compiler_interface.py) is either a binary file written by
  torch's ``CompiledArtifact.save(format="binary")`` or an ``unpacked`` folder. A
  binary file is torch's ``BytesWriter`` layout: a 4-byte CRC32, then
  length-prefixed (big-endian uint64) fields: the header
  ``CacheCompiledArtifact``, torch's build key (``torch_key``), the AOT key
  (base64 text) and the payload. Only the head of the file is read. An unpacked
  artifact's AOT key is the name of the folder under its ``aotautograd/``.

Torch-free. Problems become notes on the folder, not errors: the factors decide
the folder, and these files only describe what it holds.
"""

from __future__ import annotations

import ast
import base64
import os
import re
from typing import Any

from cachekey_cli.reading import MIB, is_dir, read_head, size_of
from cachekey_cli.vllm.records import Artifact, IndexEntry

INDEX_NAME = "vllm_compile_cache.py"
INDEX_MAX_BYTES = 16 * MIB
HEAD_BYTES = 4 * 1024  # the header (build key, AOT key) takes under 200 bytes
ARTIFACT = re.compile(r"^artifact_compile_range_(\d+)_(\d+)_subgraph_(\d+)$")
CHECKSUM_BYTES = 4


def read_index(path: str) -> tuple[tuple[IndexEntry, ...], str | None]:
    """The index entries, sorted by range and piece, or a note saying why there are none."""
    try:
        if os.path.getsize(path) > INDEX_MAX_BYTES:
            return (), f"{INDEX_NAME} is larger than {INDEX_MAX_BYTES // MIB} MiB; not read"
        with open(path, encoding="utf-8") as fh:
            doc = ast.literal_eval(fh.read())
    except (OSError, UnicodeDecodeError) as exc:
        return (), f"{INDEX_NAME} cannot be read ({type(exc).__name__})"
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        return (), f"{INDEX_NAME} is not a Python literal (truncated?)"
    if not isinstance(doc, dict):
        return (), f"{INDEX_NAME} is not a dict literal"
    entries = [_entry(k, v) for k, v in doc.items()]
    entries.sort(key=lambda e: (e.compile_range or (0, 0), e.graph_index or 0, e.compiler))
    return tuple(entries), None


def _entry(key: Any, value: Any) -> IndexEntry:
    rng: tuple[int, int] | None = None
    index: int | None = None
    compiler = "?"
    if isinstance(key, tuple) and len(key) == 3:
        r, index_value, name = key
        if isinstance(r, tuple) and len(r) == 2 and all(isinstance(x, int) for x in r):
            rng = (r[0], r[1])
        index = index_value if isinstance(index_value, int) else None
        compiler = str(name)
    aot_key = handle = None
    if isinstance(value, dict):
        aot_key = value.get("cache_key") if isinstance(value.get("cache_key"), str) else None
        h = value.get("graph_handle")
        if isinstance(h, (tuple, list)) and h and isinstance(h[0], str):
            handle = h[0]
    elif isinstance(value, (tuple, list)) and value and isinstance(value[0], str):
        handle = value[0]  # newer vLLM stores the handle itself
    return IndexEntry(rng, index, compiler, aot_key, handle)


def read_artifacts(folder: str) -> tuple[Artifact, ...]:
    out = []
    with os.scandir(folder) as it:
        entries = sorted((e for e in it if e.name.startswith("artifact_")), key=_order)
    for entry in entries:
        m = ARTIFACT.match(entry.name)
        rng = (int(m.group(1)), int(m.group(2))) if m else None
        sub = int(m.group(3)) if m else None
        if is_dir(entry):
            keys = _subfolders(os.path.join(entry.path, "aotautograd"))
            out.append(Artifact(entry.name, "unpacked", size_of(entry.path), rng, sub,
                                keys[0] if len(keys) == 1 else None,
                                problem=None if len(keys) == 1 else
                                f"{len(keys)} folders under aotautograd/, expected 1"))
            continue
        size = size_of(entry.path)
        try:
            header = parse_header(read_head(entry.path, HEAD_BYTES))
        except (OSError, ValueError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) else str(exc)
            out.append(Artifact(entry.name, "binary", size, rng, sub, None, problem=problem))
            continue
        out.append(Artifact(entry.name, "binary", size, rng, sub, header.get("aot_key"),
                            torch_key=header.get("torch_key")))
    return tuple(out)


def _order(entry: os.DirEntry[str]) -> tuple[int, int, int, str]:
    m = ARTIFACT.match(entry.name)
    if not m:
        return (1 << 62, 0, 0, entry.name)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), entry.name)


def _subfolders(path: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if is_dir(e))
    except OSError:
        return []


def parse_header(head: bytes) -> dict[str, str]:
    """Header, build key and AOT key from the first bytes of a binary artifact."""
    pos = CHECKSUM_BYTES

    def take() -> bytes:
        nonlocal pos
        if pos + 8 > len(head):
            raise ValueError("the artifact is shorter than its header")
        size = int.from_bytes(head[pos : pos + 8], "big")
        if pos + 8 + size > len(head):
            raise ValueError("the artifact's header is cut short")
        pos += 8 + size
        return head[pos - size : pos]

    header = take()
    name = header.decode("utf-8", "replace")
    if header not in (b"CacheCompiledArtifact", b"AOTCompiledArtifact"):
        raise ValueError(f"unknown artifact header {name[:40]!r}")
    out = {"header": name, "torch_key": take().hex()}
    if header == b"CacheCompiledArtifact":
        encoded = take()
        try:
            out["aot_key"] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except ValueError:
            raise ValueError("the artifact's AOT key is not base64 text") from None
    return out
