"""Reading files and folders of a cache safely: size caps and one-line errors.

Every failure becomes an ``InputError`` (exit 3) that names the path and how to
fix it: missing, not readable (permission), a symlink loop, too large, a folder
where a file was expected.
"""

from __future__ import annotations

import errno
import os
import stat

from cachekey_cli.errors import InputError

MIB = 1024 * 1024


def describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "is a symlink loop"
    if isinstance(exc, FileNotFoundError):
        return "does not exist"
    if isinstance(exc, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    return f"cannot be read: {exc.strerror or type(exc).__name__}"


def fix_for(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "point at the real folder, not a link that refers back to itself"
    if isinstance(exc, FileNotFoundError):
        return "check the path (a VLLM_CACHE_ROOT, its torch_compile_cache, or a folder inside)"
    if isinstance(exc, PermissionError):
        return "run as a user who can read the cache, or copy it somewhere readable"
    return "check the path"


def stat_path(path: str, what: str) -> os.stat_result:
    """``os.stat`` following links; InputError for a missing path, a loop, no permission."""
    try:
        return os.stat(path)
    except OSError as exc:
        raise InputError(f"{what} {path} {describe_os_error(exc)}", fix_for(exc)) from None


def read_limited(path: str, what: str, limit: int) -> bytes:
    """A regular file's bytes, refusing files larger than ``limit`` before reading them."""
    try:
        with open(path, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError(f"{what} {path} is not a regular file", "pass a file vLLM wrote")
            if info.st_size > limit:
                raise InputError(
                    f"{what} {path} is {info.st_size / MIB:.1f} MiB, larger than the "
                    f"{limit // MIB} MiB such a file can be",
                    "check that this is the file vLLM wrote",
                )
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputError(f"{what} {path} {describe_os_error(exc)}", fix_for(exc)) from None
    if len(data) > limit:  # grew while reading
        raise InputError(f"{what} {path} is larger than {limit // MIB} MiB", "check the file")
    return data


def read_head(path: str, size: int) -> bytes:
    """Up to ``size`` bytes from the start of a file (artifact headers); OSError passes."""
    with open(path, "rb") as fh:
        return fh.read(size)


def list_dir(path: str, what: str) -> list[os.DirEntry[str]]:
    """A folder's entries, sorted by name; InputError when it cannot be listed."""
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise InputError(f"{what} {path} {describe_os_error(exc)}", fix_for(exc)) from None


def is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def size_of(path: str) -> int:
    """Bytes in a file, or in all files under a folder (links not followed); 0 if unreadable."""
    try:
        info = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total
