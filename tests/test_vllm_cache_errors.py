"""Bad input to ``cachekey vllm-cache``: one line on stderr, nothing on stdout, exit 3.

The cases start from a real ``cache_key_factors.json`` vLLM 0.33.0 wrote
(fixtures/vllm_cache/deploy-a) and break it one way each.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cachekey_cli.cli import run_cli
from tests.conftest import FIXTURES, ROOT

PREFIX = FIXTURES / "vllm_cache/deploy-a/torch_compile_cache/7a9a2d9b97/rank_0_0/backbone"
REAL = (PREFIX / "cache_key_factors.json").read_bytes()
MIB = 1024 * 1024


def _folder(root: Path, rank: str = "rank_0_0", data: bytes = REAL) -> Path:
    prefix = root / "torch_compile_cache" / "7a9a2d9b97" / rank / "backbone"
    prefix.mkdir(parents=True)
    (prefix / "cache_key_factors.json").write_bytes(data)
    return prefix


def _factors(tmp: Path, data: bytes) -> list[str]:
    path = tmp / "cache_key_factors.json"
    path.write_bytes(data)
    return ["inspect", str(path)]


def _without(key: str) -> bytes:
    doc = json.loads(REAL)
    del doc[key]
    return json.dumps(doc).encode()


def _with(**fields: object) -> bytes:
    return json.dumps({**json.loads(REAL), **fields}).encode()


def _missing(tmp: Path) -> list[str]:
    return ["inspect", str(tmp / "no-such-cache")]


def _empty_folder(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return ["diff", str(tmp / "empty"), str(PREFIX)]


def _not_a_cache(tmp: Path) -> list[str]:
    (tmp / "notes").mkdir()
    (tmp / "notes" / "README.txt").write_text("not a cache\n")
    return ["inspect", str(tmp / "notes")]


def _two_ranks(tmp: Path) -> list[str]:
    return ["diff", str(_folder(tmp / "a")), str(_folder(tmp / "b", rank="rank_1_0"))]


def _symlink_loop(tmp: Path) -> list[str]:
    os.symlink("loop", tmp / "loop")
    return ["inspect", str(tmp / "loop")]


def _factors_link_loop(tmp: Path) -> list[str]:
    prefix = tmp / "backbone"
    prefix.mkdir()
    os.symlink("cache_key_factors.json", prefix / "cache_key_factors.json")
    return ["diff", str(PREFIX), str(prefix)]


def _huge(tmp: Path) -> list[str]:
    path = tmp / "cache_key_factors.json"
    with open(path, "wb") as fh:  # sparse: 17 MiB on paper, a few KiB on disk
        fh.write(REAL)
        fh.truncate(17 * MIB)
    return ["inspect", str(path)]


def _hash_without_factors(tmp: Path) -> list[str]:
    (tmp / "1234567890" / "rank_0_0" / "backbone").mkdir(parents=True)
    return ["inspect", str(tmp / "1234567890")]


def _factors_is_a_folder(tmp: Path) -> list[str]:
    (tmp / "backbone" / "cache_key_factors.json").mkdir(parents=True)
    return ["inspect", str(tmp / "backbone")]


CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "missing": (_missing, "does not exist"),
    "empty folder": (_empty_folder, "is empty"),
    "empty file": (lambda t: _factors(t, b""), "is empty"),
    "not a cache folder": (_not_a_cache, "is not a vLLM cache folder"),
    "truncated JSON": (lambda t: _factors(t, REAL[: len(REAL) // 2]), "is truncated"),
    "JSON array": (lambda t: _factors(t, b"[1, 2, 3]\n"), "is a JSON array, not an object"),
    "missing keys": (lambda t: _factors(t, _without("code_hash")), "has no 'code_hash'"),
    "two different ranks": (_two_ranks, "nothing to compare"),
    "symlink loop": (_symlink_loop, "is a symlink loop"),
    "factors file is a symlink loop": (_factors_link_loop, "is a symlink loop"),
    "huge file": (_huge, "larger than the 16 MiB"),
    "not JSON": (lambda t: _factors(t, b"{env: nope}"), "is not valid JSON"),
    "not UTF-8": (lambda t: _factors(t, b"\xff\xfe{}"), "is not UTF-8"),
    "env not an object": (lambda t: _factors(t, _with(env=[["VLLM_PORT", None]])),
                          "has 'env' as a JSON array"),
    "hash folder without factors": (_hash_without_factors, "holds no cache_key_factors.json"),
    "factors file is a folder": (_factors_is_a_folder, "is a folder, not a file"),
    "raw layout half written": (
        lambda t: _factors(t, _with(config={})),
        "has config but not compiler, code"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_and_exit_3(case, tmp_path, capsys):
    make, expected = CASES[case]
    out_file = tmp_path / "report.json"
    code = run_cli(["vllm-cache", *make(tmp_path), "--format", "json", "-o", str(out_file)])
    out, err = capsys.readouterr()
    assert code == 3, err
    assert out == "" and not out_file.exists()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cachekey: error: ") and " — " in lines[0]
    assert expected in lines[0]


def _drop_file_permission_bypass() -> None:
    """In the child: give up root's power to read any file (CAP_DAC_OVERRIDE, _READ_SEARCH).

    Dropping them from the bounding set survives exec, so a root test run meets a
    real EACCES on a mode-000 file, like any other user.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_permission_denied_is_one_line_and_exit_3():
    folder = Path(tempfile.mkdtemp(prefix="cachekey-perm-"))
    try:
        prefix = _folder(folder)
        (prefix / "cache_key_factors.json").chmod(0)
        as_root = os.geteuid() == 0
        try:
            out = subprocess.run(
                [sys.executable, "-m", "cachekey_cli", "vllm-cache", "inspect", str(folder)],
                capture_output=True, text=True, cwd=ROOT,
                preexec_fn=_drop_file_permission_bypass if as_root else None,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        except subprocess.SubprocessError as exc:  # prctl refused (no CAP_SETPCAP)
            pytest.skip(f"cannot drop root's file-permission bypass here: {exc}")
        assert out.returncode == 3, out.stderr
        assert out.stdout == ""
        (line,) = out.stderr.splitlines()
        assert line.startswith("cachekey: error: factors file ") and "permission denied" in line
    finally:
        for path in folder.rglob("*"):
            path.chmod(0o700)
        shutil.rmtree(folder)
