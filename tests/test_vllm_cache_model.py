"""vLLM's code factor for the current code (``--model``), and traced files in snapshots.

The collection must give the files vLLM's own decorator collected for the same
model (fixtures/vllm_cache/summaries: the list vLLM hashed), and the recipe must
give the hash vLLM wrote. ``test_live_vllm_*`` checks both against a fresh run
of real vLLM when a vLLM environment is there (CACHEKEY_VLLM_PYTHON), and is
skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cachekey_cli.baseline import load as baseline_load
from cachekey_cli.baseline.snapshot import stable_name
from cachekey_cli.cli import run_cli
from cachekey_cli.compare.context import traced_file_changes
from cachekey_cli.vllm import layout
from cachekey_cli.vllm.identity import code_check, model_factor
from cachekey_cli.vllm.identity.code_factor import code_hash, code_hash_from_contents
from tests.conftest import FIXTURES, ROOT

MODEL = FIXTURES / "vllm" / "tiny_decoder.py"
CACHES = FIXTURES / "vllm_cache"
VLLM_PYTHON = os.environ.get("CACHEKEY_VLLM_PYTHON", "")  # opt-in: make test-vllm sets it


def tail(path: str) -> str:
    """A traced path without its install location: torch/... or the file name."""
    _, sep, rest = path.partition("site-packages/")
    return rest if sep else Path(path).name


@pytest.fixture(scope="module")
def tiny_code():
    return model_factor.model_code(str(MODEL))


def test_traced_files_are_the_ones_vllms_decorator_collected(tiny_code):
    truth = json.loads((CACHES / "summaries" / "deploy-a.json").read_text())
    assert sorted(tail(f.path) for f in tiny_code.files) == sorted(
        tail(t["path"]) for t in truth["traced_files"])
    assert tiny_code.code_hash == code_hash(f.path for f in tiny_code.files)


def test_code_check_names_the_file_that_moved(tiny_code):
    """Against deploy-b (tiny_ops.py edited), only tiny_ops differs among the model's files."""
    for name, expected in (("deploy-a", "same"), ("deploy-b", "differs")):
        (check,) = code_check.check(tiny_code, layout.read(str(CACHES / name)))
        assert check.evidence == "AOT-compiled model"
        status = {f.cache_name: f.status for f in check.files}
        assert status["tiny_decoder"] == "same" and status["tiny_ops"] == expected
        # the cache hashed /tmp/cachekey-vllm-src/..., this trace fixtures/vllm/...
        assert not check.matches and check.only_in_cache == ()


def test_code_check_without_sources_says_only_the_hash_is_known(tiny_code):
    folder = CACHES / "deploy-a/torch_compile_cache/7a9a2d9b97"
    (check,) = code_check.check(tiny_code, layout.read(str(folder)))
    assert check.evidence == "" and {f.status for f in check.files} == {"unknown"}


def test_recipe_rules():
    """Sorted paths; '<string>' left out entirely; an unreadable file adds its path only."""
    a = code_hash_from_contents({"/b.py": "B", "/a.py": "A"})
    import hashlib

    assert a == hashlib.sha256(b"/a.py\nA\n/b.py\nB").hexdigest()
    assert code_hash_from_contents({"/a.py": "A", "<string>": None}) == hashlib.sha256(
        b"/a.py\nA").hexdigest()
    assert code_hash_from_contents({"/gone.py": None}) == hashlib.sha256(b"/gone.py").hexdigest()


def test_inspect_with_model_exits_1_when_the_code_hash_differs(capsys, tiny_code, monkeypatch):
    monkeypatch.setattr(model_factor, "model_code", lambda *a, **k: tiny_code)
    code = run_cli(["vllm-cache", "inspect", str(CACHES / "deploy-b"), "--model", str(MODEL),
                    "--width", "100"])
    out = capsys.readouterr().out
    assert code == 1
    assert "code hash differs" in out and "tiny_ops" in out


def test_stable_names():
    roots = ["/srv/app", "/venv/lib/python3.11/site-packages"]
    assert stable_name("/srv/app/model.py", roots) == "model.py"
    assert stable_name("/venv/lib/python3.11/site-packages/torch/nn/modules/linear.py",
                       roots) == "torch/nn/modules/linear.py"
    assert stable_name("/elsewhere/x.py", roots) == "/elsewhere/x.py"


def _snapshot_with(traced: list[dict[str, str | None]] | None) -> object:
    doc = json.loads((ROOT / "tests/golden/check/layer/old.json").read_text())
    doc.pop("traced_files", None)
    if traced is not None:
        doc["traced_files"] = traced
    return baseline_load.from_dict(doc, "test")


def test_old_snapshots_load_without_traced_files():
    assert _snapshot_with(None).traced_files == ()  # type: ignore[attr-defined]
    with pytest.raises(baseline_load._Bad):
        _snapshot_with([{"file": 3, "sha256": None}])


def test_traced_file_changes_in_words():
    old = _snapshot_with([{"file": "helper.py", "sha256": "a" * 64},
                          {"file": "gone.py", "sha256": "c" * 64}])
    new = _snapshot_with([{"file": "helper.py", "sha256": "b" * 64},
                          {"file": "new.py", "sha256": None}])
    assert traced_file_changes(old, new) == (  # type: ignore[arg-type]
        "traced file gone.py: no longer traced",
        "traced file helper.py: content changed (sha256 aaaaaaaa → bbbbbbbb)",
        "traced file new.py: newly traced",
    )
    assert traced_file_changes(_snapshot_with(None), new) == ()  # type: ignore[arg-type]


HELPER = "import torch\n\n\ndef act(x):\n    return torch.nn.functional.gelu(x) * {scale}\n"
MODEL_FILE = (
    "import torch\nfrom helper import act\n\n\nclass M(torch.nn.Module):\n"
    "    def __init__(self):\n        super().__init__()\n"
    "        self.lin = torch.nn.Linear(8, 8)\n\n"
    "    def forward(self, x):\n        return act(self.lin(x))\n\n\n"
    "def build():\n    return M(), (torch.randn(2, 8),)\n"
)


def test_explain_names_the_traced_file_that_changed(tmp_path):
    """Two snapshots of one model, a helper edited in between: explain names the helper."""
    (tmp_path / "model.py").write_text(MODEL_FILE)
    snaps = []
    for i, scale in enumerate(("1.0", "2.0")):
        (tmp_path / "helper.py").write_text(HELPER.format(scale=scale))
        out = tmp_path / f"snap{i}.json"
        run = subprocess.run(
            [sys.executable, "-m", "cachekey_cli", "-q", "snapshot", str(tmp_path / "model.py"),
             "-o", str(out), "--split-op", "aten::mm"],
            capture_output=True, text=True, cwd=ROOT,
        )
        assert run.returncode == 0, run.stderr
        snaps.append(out)
    doc = json.loads(snaps[0].read_text())
    assert [t["file"] for t in doc["traced_files"]] == [
        "helper.py", "model.py", "torch/nn/modules/linear.py"]
    # absolute paths, sorted: where the helper lands depends on where the clone lives
    assert str(tmp_path / "helper.py") in doc["meta"]["traced_paths"]
    run = subprocess.run(
        [sys.executable, "-m", "cachekey_cli", "explain", str(snaps[0]), str(snaps[1]),
         "--format", "json"], capture_output=True, text=True, cwd=ROOT,
    )
    report = json.loads(run.stdout)
    assert [c for c in report["context"] if c.startswith("traced file")] == [
        line for line in report["context"] if "helper.py: content changed" in line]
    assert len([c for c in report["context"] if c.startswith("traced file")]) == 1


@pytest.mark.skipif(
    not VLLM_PYTHON or not os.access(VLLM_PYTHON, os.X_OK),
    reason="no vLLM environment (set CACHEKEY_VLLM_PYTHON to a vLLM python)",
)
def test_live_vllm_code_hash_and_traced_files(tmp_path):
    """Real vLLM writes the factors (stopped before Inductor); cachekey's reading agrees."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("tiny_decoder.py", "tiny_ops.py"):
        shutil.copy(FIXTURES / "vllm" / name, src / name)
    summary_path = tmp_path / "summary.json"
    run = subprocess.run(
        [VLLM_PYTHON, str(FIXTURES / "vllm" / "run_vllm.py"), str(src / "tiny_decoder.py"),
         "--cache-root", str(tmp_path / "root"), "--stop-after", "factors",
         "--env", "VLLM_FLOAT32_MATMUL_PRECISION=high", "--json-out", str(summary_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    truth = json.loads(summary_path.read_text())
    (written,) = [p for h in truth["hash_folders"] for p in h["prefixes"]]
    # cachekey's recipe over vLLM's own traced-file list gives vLLM's code hash
    assert truth["stopped_after_factors"] and truth["code_hash_cachekey"] == written["code_hash"]
    (folder,) = layout.read(str(tmp_path / "root")).folders
    assert folder.hash == written["folder_hash_recomputed"] == folder.factors.folder_hash
    assert folder.factors.env["VLLM_FLOAT32_MATMUL_PRECISION"] == "high"
    assert folder.factors.env_hash == written["env_hash"]
    # the files cachekey traces for the same copy are the ones vLLM's decorator collected
    # (a fresh process: neighbour modules such as tiny_ops stay cached in sys.modules)
    run = subprocess.run(
        [sys.executable, "-m", "cachekey_cli", "vllm-cache", "inspect", str(tmp_path / "root"),
         "--model", str(src / "tiny_decoder.py"), "--format", "json"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert run.returncode == 1, run.stderr  # other torch paths: the code hash differs
    (check,) = json.loads(run.stdout)["code_checks"]
    ours = [f["path"] for f in check["files"]]
    assert sorted(map(tail, ours)) == sorted(tail(t["path"]) for t in truth["traced_files"])
    assert {p for p in ours if str(src) in p} == {
        t["path"] for t in truth["traced_files"] if str(src) in t["path"]}
