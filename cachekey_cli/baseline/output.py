"""Write reports and baselines atomically: a temporary file in the same folder, then rename.

A failed or killed run therefore never leaves a half-written file, and never
clobbers the previous one. Missing folders on the way are created at the write.
"""

from __future__ import annotations

import os
import tempfile

from cachekey_cli.errors import InputError, OutputError


def _nearest_existing(folder: str) -> str:
    """``folder`` itself, or the closest folder above it that exists."""
    while not os.path.exists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return folder


def check_writable(path: str) -> None:
    """Fail early, before any expensive work, if ``path`` cannot be written.

    A missing folder is not an error: the write creates it, as a first
    ``snapshot -o keys/new.json`` or ``pytest --cachekey-update`` expects. What
    must hold is that the closest existing folder above is a writable folder.
    """
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise OutputError(f"output path {path} is a directory", "give a file name")
    existing = _nearest_existing(folder)
    if not os.path.isdir(existing):
        raise OutputError(
            f"cannot write {path}: {existing} is a file, not a folder", "choose another path"
        )
    if not os.access(existing, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OutputError(f"cannot write {path}: permission denied", "choose a writable path")


def write_atomic(path: str, text: str) -> None:
    """``text`` into ``path`` through a temporary file and a rename; missing folders
    are created here, at the write, so a run that fails earlier leaves none behind."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cachekey-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}", "choose a writable path") from exc
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would
        # (or keep the mode of the file being replaced)
        if os.path.exists(path):
            mode = os.stat(path).st_mode & 0o777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputError(f"cannot write {path}: {exc.strerror}", "choose a writable path") from exc
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def same_file(a: str, b: str) -> bool:
    if os.path.exists(a) and os.path.exists(b):
        try:
            return os.path.samefile(a, b)
        except OSError:
            pass
    return os.path.realpath(a) == os.path.realpath(b)


def protect_inputs(inputs: tuple[str, ...], outputs: dict[str, str | None]) -> None:
    """Exit 3 before any work if a report would be written over a snapshot being read."""
    for option, out in outputs.items():
        for path in inputs:
            if out and same_file(out, path):
                raise InputError(
                    f"{option} {out} is the snapshot {path} being compared",
                    "write the report to another file; the snapshot is never modified",
                )
