"""Does the current code give a cache folder's code hash, and if not, which traced file differs?

Torch-free: ``model_factor`` traces the model and hands over a ``ModelCode``.
Per-file evidence comes from what the cache recorded besides the bare hash:

- newer vLLM's raw ``code`` factor lists every traced path with a content hash
  (``hash_factors({"content": text})``), compared path by path;
- the AOT-compiled model (``torch_aot_compile/…/model``) records each traced
  module's whole source, compared by content with the file whose path ends
  in that module's name (``torch/nn/modules/linear.py`` for
  ``torch.nn.modules.linear``).

vLLM 0.33.0's ``cache_key_factors.json`` alone holds only the hash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cachekey_cli.results import TracedFile
from cachekey_cli.vllm.identity.code_factor import read_text
from cachekey_cli.vllm.identity.factors import hash_factors
from cachekey_cli.vllm.records import AotModel, Deployment, PrefixFolder


@dataclass(frozen=True)
class ModelCode:
    """vLLM's code factor for the current code: the traced files and the hash over them."""

    model: str
    files: tuple[TracedFile, ...]
    code_hash: str
    # the model file, when MODEL is one: a script started as ``python model.py`` runs it
    # as ``__main__``, the name vLLM's AOT-compiled model then records for it
    main: str | None = None

    def hash_for(self, layout: str) -> str:
        """The code hash in the recipe of the releases that write factors files of ``layout``
        (``code_hash`` is the 0.32.0/0.33.0 one)."""
        from cachekey_cli.vllm import releases

        release = releases.for_layout(layout)
        if release.code_factor == "joined":
            return self.code_hash
        return release.code_factor_of(f.path for f in self.files)[0]

    def raw_code(self) -> dict[str, list[dict[str, str]]]:
        """vLLM 0.34.0's raw code factor of these files: ``{"files": [{"path", "hash"}]}``."""
        from cachekey_cli.vllm.identity import code_factor

        return {"files": code_factor.code_files(f.path for f in self.files)}


@dataclass(frozen=True)
class FileStatus:
    path: str
    sha256: str | None
    status: str  # same | differs | not recorded | unknown
    cache_name: str | None = None  # the module or path the cache recorded for it


@dataclass(frozen=True)
class CodeCheck:
    where: str  # rank/prefix
    folder: str | None  # hash folder name
    cache_code_hash: str
    code_hash: str
    files: tuple[FileStatus, ...]
    only_in_cache: tuple[str, ...]  # traced modules or paths the current trace did not reach
    evidence: str  # "raw code factor", "AOT-compiled model" or "" (hash only)

    @property
    def matches(self) -> bool:
        return self.cache_code_hash == self.code_hash

    @property
    def changed(self) -> tuple[FileStatus, ...]:
        return tuple(f for f in self.files if f.status in ("differs", "not recorded"))


def check(code: ModelCode, deployment: Deployment) -> tuple[CodeCheck, ...]:
    return tuple(_check(code, f, _aot_for(deployment, f)) for f in deployment.folders)


def _aot_for(deployment: Deployment, folder: PrefixFolder) -> AotModel | None:
    models = [m for m in deployment.aot_models if m.rank == folder.rank and m.sources]
    return models[0] if len(models) == 1 else None


def _check(code: ModelCode, folder: PrefixFolder, aot: AotModel | None) -> CodeCheck:
    facts = folder.factors
    if facts.code is not None:
        recorded = {e.path: e.hash for e in facts.code}
        files = []
        for f in code.files:
            text = read_text(f.path)
            ours = None if text is None else hash_factors({"content": text})
            if f.path not in recorded:
                status = "not recorded"
            else:
                status = "same" if recorded[f.path] == ours else "differs"
            files.append(FileStatus(f.path, f.sha256, status, f.path if f.path in recorded
                                    else None))
        seen = {f.path for f in code.files}
        only = tuple(p for p in sorted(recorded) if p not in seen)
        evidence = "raw code factor"
    elif aot is not None:
        by_module = {s.module: s.sha256 for s in aot.sources}
        files = []
        matched: set[str] = set()
        for f in code.files:
            module = module_for(f.path, by_module, code.main)
            if module is None:
                files.append(FileStatus(f.path, f.sha256, "not recorded"))
                continue
            matched.add(module)
            status = "same" if by_module[module] == f.sha256 else "differs"
            files.append(FileStatus(f.path, f.sha256, status, module))
        only = tuple(m for m in sorted(by_module) if m not in matched)
        evidence = "AOT-compiled model"
    else:
        files = [FileStatus(f.path, f.sha256, "unknown") for f in code.files]
        only, evidence = (), ""
    return CodeCheck(folder.where, folder.hash, facts.code_hash, code.code_hash,
                     tuple(files), only, evidence)


MAIN = "__main__"


def model_file(model: str) -> str | None:
    """The file of MODEL ``model.py[:factory]``, absolute; None for a module or ``hf:``."""
    path = model.rsplit(":", 1)[0] if ":" in model and not model.startswith("hf:") else model
    return os.path.abspath(path) if path.endswith(".py") and os.path.isfile(path) else None


def module_for(path: str, modules: dict[str, str], main: str | None = None) -> str | None:
    """The module a traced file was recorded under: ``__main__`` for ``main`` (the
    script a warm start runs, which vLLM resolves through ``sys.modules``), else the
    longest module name whose dotted path ends the file's path."""
    if main is not None and MAIN in modules and os.path.abspath(path) == os.path.abspath(main):
        return MAIN
    norm = path.replace("\\", "/")
    best = None
    for module in modules:
        tail = module.replace(".", "/")
        if norm.endswith(f"/{tail}.py") or norm == f"{tail}.py" or \
                norm.endswith(f"/{tail}/__init__.py"):
            if best is None or len(module) > len(best):
                best = module
    return best
