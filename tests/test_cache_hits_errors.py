"""Bad input to ``check --cache``: one line on stderr, nothing written, exit 3.

Inductor caches start from a real torch.compile's (conftest ``two_graphs_cache``);
vLLM folders from a real vLLM 0.33.0 cache (fixtures/vllm_cache/artifacts-a).
Each case breaks one thing. Nothing in a cache is unpickled or run, so a
damaged entry is reported, never executed.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from cachekey_cli.cli import run_cli
from tests.baseline_support import fixture_arg, memo_pipeline
from tests.conftest import FIXTURES, ROOT
from tests.test_vllm_cache_errors import _drop_file_permission_bypass

PERTURBED = f"{fixture_arg('perturbed.py')}:two_graphs"
TINY = fixture_arg("vllm/tiny_decoder.py")
ARTIFACTS = FIXTURES / "vllm_cache/artifacts-a/torch_compile_cache/dfccc35c6f/rank_0_0/backbone"
MIB = 1024 * 1024


def _run(capsys, args: list[str], out_file: Path) -> str:
    code = run_cli(["check", *args, "-o", str(out_file)])
    out, err = capsys.readouterr()
    assert code == 3, err
    assert out == "" and not out_file.exists()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cachekey: error: ") and " — " in lines[0]
    return lines[0]


def _inductor(cache: Path) -> list[str]:
    return [PERTURBED, "--profile", "torch-compile", "--cache", str(cache)]


def _vllm(path: Path) -> list[str]:
    return [TINY, "--dynamic-dim", "0:0", "--cache", str(path)]


def _entry(cache: Path) -> Path:
    return next(p for p in sorted((cache / "aotautograd").rglob("*")) if p.is_file())


# Inductor cache directories, broken before any tracing
def _empty(tmp: Path, _: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return _inductor(tmp / "empty")


def _not_a_cache(tmp: Path, _: Path) -> list[str]:
    (tmp / "other").mkdir()
    (tmp / "other" / "notes.txt").write_text("hello")
    return _inductor(tmp / "other")


def _loop(tmp: Path, _: Path) -> list[str]:
    os.symlink(tmp / "loop", tmp / "loop")
    return _inductor(tmp / "loop")


def _missing(tmp: Path, _: Path) -> list[str]:
    return _inductor(tmp / "nowhere")


# Inductor cache entries, broken: found after tracing, when the key's entries are read
def _truncated_entry(tmp: Path, baked: Path) -> list[str]:
    cache = tmp / "c"
    shutil.copytree(baked, cache)
    entry = _entry(cache)
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    return _inductor(cache)


def _not_a_pickle(tmp: Path, baked: Path) -> list[str]:
    cache = tmp / "c"
    shutil.copytree(baked, cache)
    _entry(cache).write_bytes(b"CacheCompiledArtifact, not a pickle at all")
    return _inductor(cache)


def _huge_entry(tmp: Path, baked: Path) -> list[str]:
    cache = tmp / "c"
    shutil.copytree(baked, cache)
    with open(_entry(cache), "r+b") as fh:  # sparse: no disk, no memory
        fh.truncate(513 * MIB)
    return _inductor(cache)


def _not_an_entry(tmp: Path, baked: Path) -> list[str]:
    cache = tmp / "c"
    shutil.copytree(baked, cache)
    _entry(cache).write_bytes(pickle.dumps([1, 2, 3]))
    return _inductor(cache)


# Inductor cache entries that are pickles in form but ask for what pickle itself refuses. The
# inert reader must say "not a pickle", never fail with another exception (exit 4) or crash.
PROTO4, STOP = pickle.PROTO + b"\x04", pickle.STOP
ONE, TWO = pickle.BININT1 + b"\x01", pickle.BININT1 + b"\x02"
AN_OBJECT = (pickle.SHORT_BINUNICODE + b"\x01m" + pickle.SHORT_BINUNICODE + b"\x01C"
             + pickle.STACK_GLOBAL + pickle.EMPTY_TUPLE + pickle.REDUCE)  # m.C(), never built
MALFORMED = {
    "APPEND on an int": PROTO4 + ONE + TWO + pickle.APPEND + STOP,
    "APPENDS on a dict": PROTO4 + pickle.EMPTY_DICT + pickle.MARK + ONE + pickle.APPENDS + STOP,
    "SETITEM on a list": PROTO4 + pickle.EMPTY_LIST + ONE + TWO + pickle.SETITEM + STOP,
    "ADDITEMS on an int": PROTO4 + ONE + pickle.MARK + TWO + pickle.ADDITEMS + STOP,
    "BUILD on an int": PROTO4 + ONE + pickle.EMPTY_DICT + pickle.BUILD + STOP,
    "a list as a dict key": PROTO4 + pickle.EMPTY_DICT + pickle.EMPTY_LIST + ONE
    + pickle.SETITEM + STOP,
    "REDUCE with a list of arguments": PROTO4 + AN_OBJECT[:-2] + pickle.EMPTY_LIST
    + pickle.REDUCE + STOP,
    "POP below a MARK": PROTO4 + ONE + pickle.MARK + TWO + pickle.TUPLE2 + STOP,
}
DEEP = 10**6  # tuples, one in the next: hashing them as a dict key overflowed the C stack


def _write_entry(tmp: Path, baked: Path, data: bytes) -> list[str]:
    cache = tmp / "c"
    shutil.copytree(baked, cache)
    _entry(cache).write_bytes(data)
    return _inductor(cache)


def _malformed(name: str):
    return lambda tmp, baked: _write_entry(tmp, baked, MALFORMED[name])


def _additems_on_an_object(tmp: Path, baked: Path) -> list[str]:
    """ADDITEMS on an object is what a set subclass pickles to: read, then not an entry."""
    data = PROTO4 + AN_OBJECT + pickle.MARK + ONE + TWO + pickle.ADDITEMS + STOP
    return _write_entry(tmp, baked, data)


DEEP_KEY = (PROTO4 + pickle.EMPTY_DICT + pickle.EMPTY_TUPLE + pickle.TUPLE1 * DEEP + ONE
            + pickle.SETITEM + STOP)


def _deep_key(tmp: Path, baked: Path) -> list[str]:
    return _write_entry(tmp, baked, DEEP_KEY)


# vLLM folders (the suite runs vLLM's per-piece mode, conftest)
def _prefix(tmp: Path) -> Path:
    prefix = tmp / "torch_compile_cache" / "dfccc35c6f" / "rank_0_0" / "backbone"
    shutil.copytree(ARTIFACTS, prefix)
    return prefix


def _index_not_a_literal(tmp: Path, _: Path) -> list[str]:
    prefix = _prefix(tmp)
    (prefix / "vllm_compile_cache.py").write_text("import os; os.system('echo owned')\n")
    return _vllm(prefix)


def _truncated_artifact(tmp: Path, _: Path) -> list[str]:
    prefix = _prefix(tmp)
    artifact = prefix / "artifact_compile_range_1_2048_subgraph_1"
    artifact.write_bytes(artifact.read_bytes()[:40])
    return _vllm(prefix.parent)


def _wrong_header(tmp: Path, _: Path) -> list[str]:
    prefix = _prefix(tmp)
    artifact = prefix / "artifact_compile_range_1_2048_subgraph_0"
    data = bytearray(artifact.read_bytes())
    data[12:33] = b"NotACompiledArtifact!"
    artifact.write_bytes(bytes(data))
    return _vllm(prefix.parent.parent)


def _huge_index(tmp: Path, _: Path) -> list[str]:
    prefix = _prefix(tmp)
    with open(prefix / "vllm_compile_cache.py", "r+b") as fh:
        fh.truncate(17 * MIB)
    return _vllm(prefix)


def _vllm_empty(tmp: Path, _: Path) -> list[str]:
    (tmp / "empty").mkdir()
    return _vllm(tmp / "empty")


CASES = {
    "empty folder": (_empty, "Inductor cache", "is empty"),
    "not a cache": (_not_a_cache, "is not an Inductor cache directory", "aotautograd"),
    "symlink loop": (_loop, "is a symlink loop", "loop"),
    "missing": (_missing, "does not exist", "nowhere"),
    "truncated entry": (_truncated_entry, "is not a pickle torch wrote", "truncated"),
    "wrong header (not a pickle)": (_not_a_pickle, "is not a pickle torch wrote", "cache entry"),
    "huge file": (_huge_entry, "larger than the 512 MiB", "cache entry"),
    "not an entry": (_not_an_entry, "is not a cache entry torch wrote", "cache entry"),
    "index not a literal": (_index_not_a_literal, "is not a Python literal", "index"),
    "truncated artifact": (_truncated_artifact, "shorter than its header", "subgraph_1"),
    "wrong artifact header": (_wrong_header, "unknown artifact header", "subgraph_0"),
    "huge index": (_huge_index, "larger than 16 MiB", "index"),
    "vLLM: empty folder": (_vllm_empty, "is empty", "folder"),
    "10^6 nested tuples as a dict key": (
        _deep_key, "is not a pickle torch wrote (the pickle nests values more than 1000 levels "
        "deep)", "cache entry"),
    "ADDITEMS on an object": (_additems_on_an_object, "is not a cache entry torch wrote",
                              "cache entry"),
    **{
        name: (_malformed(name), "is not a pickle torch wrote", words)
        for name, words in [
            ("APPEND on an int", "appends to a value of type int"),
            ("APPENDS on a dict", "appends to a value of type dict"),
            ("SETITEM on a list", "sets an item of a value of type list"),
            ("ADDITEMS on an int", "adds set items to a value of type int"),
            ("BUILD on an int", "sets the state of a value of type int"),
            ("a list as a dict key", "a dict key or set item in the pickle is a list"),
            ("REDUCE with a list of arguments", "with a list, not an argument tuple"),
            ("POP below a MARK", "stack underflows"),
        ]
    },
}


def test_a_deeply_nested_pickle_is_refused_not_a_crash(tmp_path):
    """In a process of its own (torch-free, fast), before the CLI case below runs it in this
    one: a crash here (hash() overflowing the C stack was exit -11) fails a test, not the run."""
    entry = tmp_path / "entry"
    entry.write_bytes(DEEP_KEY)
    code = ("import sys\nfrom cachekey_cli.pickled import NotAPickle, skeleton\n"
            "try:\n    skeleton(open(sys.argv[1], 'rb').read())\n"
            "except NotAPickle as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code, str(entry)], capture_output=True,
                         text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (out.returncode, out.stderr) == (0, ""), (out.returncode, out.stderr[-2000:])
    assert out.stdout == "the pickle nests values more than 1000 levels deep\n"


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_cache_is_one_line_exit_3_and_nothing_written(case, two_graphs_cache, tmp_path,
                                                          capsys, monkeypatch):
    memo_pipeline(monkeypatch)
    make, expected, mentioned = CASES[case]
    line = _run(capsys, make(tmp_path, two_graphs_cache), tmp_path / "report.json")
    assert expected in line and mentioned in line


def test_nothing_in_a_damaged_index_runs(tmp_path, capsys, monkeypatch):
    """The index is read with ast.literal_eval: code in it is an error, never executed."""
    marker = tmp_path / "ran"
    prefix = _prefix(tmp_path)
    (prefix / "vllm_compile_cache.py").write_text(f"open({str(marker)!r}, 'w')\n")
    _run(capsys, _vllm(prefix), tmp_path / "report.json")
    assert not marker.exists()


def test_nothing_in_a_cache_entry_runs(two_graphs_cache, tmp_path, capsys, monkeypatch):
    """An entry that would run code when unpickled is read inertly: the code never runs."""
    memo_pipeline(monkeypatch)
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    cache = tmp_path / "c"
    shutil.copytree(two_graphs_cache, cache)
    _entry(cache).write_bytes(pickle.dumps(Boom()))
    line = _run(capsys, _inductor(cache), tmp_path / "report.json")
    assert "is not a cache entry torch wrote" in line
    assert not marker.exists()


def test_permission_denied_is_one_line_and_exit_3(two_graphs_cache):
    folder = Path(tempfile.mkdtemp(prefix="cachekey-perm-"))
    try:
        cache = folder / "inductor"
        shutil.copytree(two_graphs_cache, cache)
        (cache / "aotautograd").chmod(0)
        as_root = os.geteuid() == 0
        try:
            out = subprocess.run(
                [sys.executable, "-m", "cachekey_cli", "check", PERTURBED, "--profile",
                 "torch-compile", "--cache", str(cache)],
                capture_output=True, text=True, cwd=ROOT,
                preexec_fn=_drop_file_permission_bypass if as_root else None,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        except subprocess.SubprocessError as exc:  # prctl refused (no CAP_SETPCAP)
            pytest.skip(f"cannot drop root's file-permission bypass here: {exc}")
        assert out.returncode == 3, out.stderr
        assert out.stdout == ""
        (line,) = [x for x in out.stderr.splitlines() if x.startswith("cachekey")]
        assert "permission denied" in line and "aotautograd" in line
    finally:
        for path in folder.rglob("*"):
            path.chmod(0o700)
        shutil.rmtree(folder)


def test_the_report_is_never_written_over_the_snapshot_baked_into_the_cache(
        two_graphs_cache, tmp_path, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(two_graphs_cache, cache)
    baked = cache / "cachekeys.json"
    baked.write_text('{"a snapshot": "kept as it is"}')
    code = run_cli(["check", *_inductor(cache), "-o", str(baked)])
    err = capsys.readouterr().err.strip()
    assert code == 3 and "\n" not in err
    assert f"--output {baked} is the snapshot {baked} being compared" in err
    assert baked.read_text() == '{"a snapshot": "kept as it is"}'
