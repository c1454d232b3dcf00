"""What one pytest process shares between tests: traced models, and the write claims.

Traced and keyed models are cached for the session by their options (a spec
string's model is traced once however many tests check it; a ``(module,
args)`` tuple is traced on every call, since the test may have changed it).
Under pytest-xdist each worker has its own cache, so each worker imports
torch once and keys only the models its tests name.

With ``--cachekey-update`` every process of the run (the xdist controller
and its workers, or the one process without xdist) shares a claims folder:
a baseline is read, compared and written under an exclusive lock on a file
named after it there, and a marker records that this run wrote it. A second
test (in any worker) that reaches the same baseline compares against what the
first one wrote and never writes it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one process only, no lock needed
    fcntl = None  # type: ignore[assignment]

WORKER_INPUT_KEY = "cachekey_claims"


@dataclass
class Session:
    """Per-process state, kept on the pytest config."""

    update: bool
    width: int | None
    claims: str | None = None  # folder shared by the run's processes (update only)
    owns_claims: bool = False  # this process made the folder and removes it
    runs: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def run(self, model: Any, options: Any) -> Any:
        """The pipeline's Run for ``model``, traced once per session for a spec string."""
        if isinstance(model, tuple):
            return _quiet_run(model, options)
        key = (options, os.getcwd())
        if key not in self.runs:
            self.runs[key] = _quiet_run(model, options)
        return self.runs[key]

    def make_claims(self) -> str:
        if self.claims is None:
            self.claims = tempfile.mkdtemp(prefix="cachekey-claims-")
            self.owns_claims = True
        return self.claims

    def close(self) -> None:
        if self.owns_claims and self.claims:
            shutil.rmtree(self.claims, ignore_errors=True)
        self.runs.clear()

    @contextlib.contextmanager
    def claim(self, path: str) -> Iterator[Claim]:
        """Hold the run-wide lock for the baseline at ``path`` (an absolute path)."""
        folder = self.make_claims()
        name = hashlib.sha256(os.path.realpath(path).encode()).hexdigest()[:32]
        lock_path = os.path.join(folder, name + ".lock")
        with open(lock_path, "a+b") as fh:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield Claim(os.path.join(folder, name + ".written"))
            finally:
                if fcntl is not None:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _quiet_run(model: Any, options: Any) -> Any:
    """api.run without the deprecation notices torch's own modules raise as it imports."""
    import warnings

    from cachekey_cli import api

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch(\.|$)")
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        return api.run(model, options)


@dataclass(frozen=True)
class Claim:
    marker: str  # exists once a test of this run has written the baseline

    @property
    def written_by(self) -> str | None:
        """The test that wrote the baseline in this run, if one did."""
        try:
            with open(self.marker, encoding="utf-8") as fh:
                return fh.read().strip() or "another test"
        except FileNotFoundError:
            return None

    def mark(self, nodeid: str) -> None:
        with open(self.marker, "w", encoding="utf-8") as fh:
            fh.write(nodeid)
