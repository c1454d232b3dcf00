"""``cachekey vllm-cache`` on caches real vLLM 0.33.0 wrote (fixtures/vllm_cache/).

The oracle for every value the torch-free reader finds is the summary
fixtures/vllm/run_vllm.py wrote in the same run, with vLLM's and torch's own
code (``hash_factors``, torch's ``BytesReader``, the files on disk):
fixtures/vllm_cache/summaries/<deployment>.json.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cachekey_cli.cli import run_cli
from cachekey_cli.vllm import cache_diff, layout
from cachekey_cli.vllm.identity import code_check
from tests.conftest import FIXTURES, ROOT

CACHES = FIXTURES / "vllm_cache"
GOLDEN = Path(__file__).parent / "golden" / "vllm_cache"
REGEN = os.environ.get("CACHEKEY_REGEN_GOLDEN") == "1"
DEPLOYMENTS = ("deploy-a", "deploy-a-again", "deploy-b", "artifacts-a", "deploy-a-moved")


def summary(name: str) -> dict:
    return json.loads((CACHES / "summaries" / f"{name}.json").read_text())


def rel(name: str) -> str:
    return os.path.relpath(CACHES / name, os.getcwd())


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_reader_finds_what_vllm_filed(name):
    truth = summary(name)
    d = layout.read(str(CACHES / name))
    assert d.kind == "cache root"
    found = [(f.hash, f.rank, f.prefix) for f in d.folders]
    assert found == [(h["hash"], p["rank"], p["prefix"])
                     for h in truth["hash_folders"] for p in h["prefixes"]]
    (folder,) = d.folders
    (want,) = truth["hash_folders"][0]["prefixes"]
    facts = folder.factors
    assert facts.layout == "hashes" and len(facts.env) == want["env_vars"] == 245
    assert facts.env_hash == want["env_hash"]  # vLLM's own hash_factors gave this one
    assert (facts.config_hash, facts.code_hash, facts.compiler_hash) == (
        want["config_hash"], want["code_hash"], want["compiler_hash"])
    assert facts.folder_hash == want["folder_hash_recomputed"] == folder.hash
    assert folder.name_matches is True
    assert sorted(folder.files) == want["files"]
    assert [(a.name, a.aot_key, a.torch_key) for a in folder.artifacts] == [
        (a["name"], a["aot_key"], a["torch_key"]) for a in want["artifacts"]]
    assert [(m.hash, m.rank, list(m.aot_keys)) for m in d.aot_models] == [
        (m["hash"], m["rank"], m["aotautograd"]) for m in truth["torch_aot_compile"]]


def test_index_and_artifacts_agree_with_torchs_reader():
    truth = summary("artifacts-a")["hash_folders"][0]["prefixes"][0]
    (folder,) = layout.read(str(CACHES / "artifacts-a")).folders
    assert [(e.compile_range, e.graph_index, e.compiler, e.aot_key, e.handle)
            for e in folder.index] == [
        ((1, 2048), i, "inductor_standalone", e["value"]["cache_key"],
         e["value"]["graph_handle"][0]) for i, e in enumerate(truth["index"])]
    assert len(folder.artifacts) == 3
    assert all(a.format == "binary" and a.compile_range == (1, 2048) for a in folder.artifacts)
    # every piece's AOT key appears three times: index, artifact header, aotautograd folder
    model = layout.read(str(CACHES / "artifacts-a")).aot_models[0]
    assert {a.aot_key for a in folder.artifacts} == {e.aot_key for e in folder.index} == set(
        model.aot_keys)


@pytest.mark.parametrize("name", ["deploy-a", "deploy-b"])
def test_aot_model_sources_are_the_traced_files_vllm_hashed(name):
    """Each module the AOT model records has the content of a file vLLM's decorator traced."""
    truth = summary(name)
    (model,) = layout.read(str(CACHES / name)).aot_models
    traced = {t["path"]: t["sha256"] for t in truth["traced_files"]}
    by_module = {s.module: s.sha256 for s in model.sources}
    assert len(by_module) == len(traced) == 4
    for path, digest in traced.items():
        module = code_check.module_for(path, by_module)
        assert module is not None and by_module[module] == digest, path
    assert model.system == {"python": "3.11.7", "torch": truth["torch"], "triton": "3.8"}
    assert model.forward_name == "TinyDecoder.forward"
    assert model.forward_file == "/tmp/cachekey-vllm-src/tiny_decoder.py"


class _Runs:
    """Unpickling this would create the file it names."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize("damage", ["truncated", "runs code", "nested 10^6 deep"])
def test_a_damaged_aot_model_is_a_note_and_nothing_in_it_runs(damage, tmp_path):
    """The model file is walked with pickletools, never unpickled: damage becomes a note."""
    shutil.copytree(CACHES / "deploy-a", tmp_path / "deploy-a")
    (path,) = (tmp_path / "deploy-a").rglob("torch_aot_compile/*/*/model")
    marker = tmp_path / "ran"
    real = path.read_bytes()
    path.write_bytes({
        "truncated": real[: len(real) // 2],
        "runs code": pickle.dumps({"original_code": _Runs(marker), "system_info": _Runs(marker),
                                   "source_info": _Runs(marker)}),
        "nested 10^6 deep": b"\x80\x04)" + b"\x85" * 10**6 + b".",
    }[damage])
    (model,) = layout.read(str(tmp_path / "deploy-a")).aot_models
    assert model.problem == {
        "truncated": "not a readable AOT model (the pickle is truncated)",
        "runs code": None,
        "nested 10^6 deep": "not a readable AOT model (the pickle nests values more than 1000 "
                            "levels deep)",
    }[damage]
    assert (model.sources, dict(model.system), model.forward_name) == ((), {}, None)
    assert not marker.exists()


def test_cachekeys_code_hash_recipe_matched_vllm_in_every_run():
    """run_vllm.py computed cachekey's recipe over vLLM's own traced-file list in each run."""
    for name in DEPLOYMENTS:
        truth = summary(name)
        written = truth["hash_folders"][0]["prefixes"][0]["code_hash"]
        assert truth["code_hash_cachekey"] == written, name


def test_identical_deployments_diff_to_nothing():
    r = cache_diff.diff(layout.read(str(CACHES / "deploy-a")),
                        layout.read(str(CACHES / "deploy-a-again")))
    assert not r.differs and int(r.exit_code) == 0
    (f,) = r.folders
    assert not f.env and not f.factors and not f.folder_differs
    assert not r.pitfalls and [d.differs for d in r.aot] == [False]


def test_diff_names_exactly_the_env_variable_and_the_code_change():
    r = cache_diff.diff(layout.read(str(CACHES / "deploy-a")),
                        layout.read(str(CACHES / "deploy-b")))
    assert r.differs and int(r.exit_code) == 1
    (f,) = r.folders
    assert f.folder_differs and (f.a.hash, f.b.hash) == ("7a9a2d9b97", "b553b5b23f")
    assert [(e.name, e.before, e.after) for e in f.env] == [
        ("VLLM_LORA_RESOLVER_CACHE_DIR", None, "/srv/deploy-b/lora")]
    assert [c.factor for c in f.factors] == ["code"]
    (code,) = f.factors
    b_traced = {Path(t["path"]).name: t["sha256"] for t in summary("deploy-b")["traced_files"]}
    a_traced = {Path(t["path"]).name: t["sha256"] for t in summary("deploy-a")["traced_files"]}
    assert [(c.name, c.before, c.after) for c in code.details] == [
        ("tiny_ops", a_traced["tiny_ops.py"], b_traced["tiny_ops.py"])]
    assert f.torch_keys is None
    (aot,) = r.aot
    assert aot.a.hash != aot.b.hash and not aot.system and not aot.forward
    assert [p.kind for p in r.pitfalls] == ["path-env"]
    assert not r.only_a and not r.only_b and not r.aot_only_a and not r.aot_only_b


def test_diff_of_two_factors_files_pairs_them():
    a = CACHES / "deploy-a/torch_compile_cache/7a9a2d9b97/rank_0_0/backbone"
    b = CACHES / "deploy-b/torch_compile_cache/b553b5b23f/rank_0_0/backbone"
    r = cache_diff.diff(layout.read(str(a / "cache_key_factors.json")), layout.read(str(b)))
    (f,) = r.folders
    assert [e.name for e in f.env] == ["VLLM_LORA_RESOLVER_CACHE_DIR"]
    assert [c.factor for c in f.factors] == ["code"] and f.factors[0].details == ()


@pytest.mark.parametrize("form", [
    "", "torch_compile_cache", "torch_compile_cache/7a9a2d9b97",
    "torch_compile_cache/7a9a2d9b97/rank_0_0", "torch_compile_cache/7a9a2d9b97/rank_0_0/backbone",
    "torch_compile_cache/7a9a2d9b97/rank_0_0/backbone/cache_key_factors.json",
])
def test_every_path_form_finds_the_same_folder(form):
    d = layout.read(str(CACHES / "deploy-a" / form))
    assert [(f.hash, f.rank, f.prefix) for f in d.folders] == [
        ("7a9a2d9b97", "rank_0_0", "backbone")]
    assert len(d.aot_models) == (1 if form in ("", "torch_compile_cache") else 0)


def test_cli_exit_codes_and_formats(capsys):
    a, a2, b = rel("deploy-a"), rel("deploy-a-again"), rel("deploy-b")
    assert run_cli(["vllm-cache", "diff", a, a2]) == 0
    capsys.readouterr()
    assert run_cli(["vllm-cache", "diff", a, b, "--format", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "cachekey-vllm-cache-diff" and doc["differs"] is True
    (folder,) = doc["folders"]
    assert folder["env"] == [{"name": "VLLM_LORA_RESOLVER_CACHE_DIR",
                              "a": {"present": True, "value": None},
                              "b": {"present": True, "value": "/srv/deploy-b/lora"}}]
    assert [f["factor"] for f in folder["factors"]] == ["code"]
    assert run_cli(["vllm-cache", "inspect", rel("artifacts-a"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "cachekey-vllm-cache-inspect"
    assert len(doc["folders"][0]["artifacts"]) == 3
    assert run_cli(["vllm-cache", "diff", a, b, "--format", "markdown"]) == 1
    md = capsys.readouterr().out
    assert "`VLLM_LORA_RESOLVER_CACHE_DIR`" not in md and "VLLM_LORA_RESOLVER_CACHE_DIR" in md
    assert "traced module tiny_ops" in md and "#### Known pitfalls" in md


@pytest.mark.parametrize("args,golden", [
    (["diff", "deploy-a", "deploy-b"], "diff_a_b.txt"),
    (["diff", "deploy-a", "deploy-a-again"], "diff_a_a.txt"),
    (["diff", "deploy-a", "deploy-a-moved"], "diff_a_moved.txt"),
    (["inspect", "artifacts-a"], "inspect_artifacts.txt"),
    (["diff", "deploy-a", "deploy-b", "--format", "markdown"], "diff_a_b.md"),
])
def test_golden_reports(args, golden, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = ["vllm-cache", args[0]] + [f"fixtures/vllm_cache/{x}" for x in args[1:3]] + args[3:]
    run_cli([*argv, "--width", "100"])
    text = capsys.readouterr().out
    path = GOLDEN / golden
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    elif not path.exists():
        pytest.fail(f"missing golden {path}; run with CACHEKEY_REGEN_GOLDEN=1")
    assert text == path.read_text()


def test_inspect_and_diff_do_not_import_torch_or_vllm():
    code = (
        "import sys\n"
        "from cachekey_cli.cli import run_cli\n"
        "a = run_cli(['vllm-cache', 'inspect', 'fixtures/vllm_cache/artifacts-a'])\n"
        "b = run_cli(['vllm-cache', 'diff', 'fixtures/vllm_cache/deploy-a',"
        " 'fixtures/vllm_cache/deploy-b', '--format', 'json'])\n"
        "print('RESULT', a, b, 'torch' in sys.modules, 'vllm' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "RESULT 0 1 False False"
