"""Pitfalls and the raw factors layout.

Real pairs first (caches real vLLM wrote); then logic cases made by editing one
field of a real deployment (labelled as such), for causes a CPU machine cannot
produce for real (a torch upgrade, a second data-parallel rank) and for newer
vLLM's raw layout, which no installed vLLM writes here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cachekey_cli.vllm import cache_diff, layout
from cachekey_cli.vllm.identity import factors
from cachekey_cli.vllm.records import Deployment
from tests.conftest import FIXTURES

CACHES = FIXTURES / "vllm_cache"
REAL = json.loads((CACHES / "deploy-a/torch_compile_cache/7a9a2d9b97/rank_0_0/backbone/"
                   "cache_key_factors.json").read_text())


def read(name: str) -> Deployment:
    return layout.read(str(CACHES / name))


def test_real_cache_mode_switch():
    """deploy-a (mega) against artifacts-a (VLLM_USE_MEGA_AOT_ARTIFACT=0), both real."""
    r = cache_diff.diff(read("deploy-a"), read("artifacts-a"))
    (f,) = r.folders
    assert [(e.name, e.before, e.after) for e in f.env] == [
        ("VLLM_USE_MEGA_AOT_ARTIFACT", True, False)]
    assert [c.factor for c in f.factors] == ["compiler"]
    assert [p.kind for p in r.pitfalls] == ["cache-mode"]
    assert "the compiler hash moved with it" in r.pitfalls[0].detail


def test_real_same_code_at_another_path():
    """deploy-a-moved: the same files compiled from /tmp/cachekey-vllm-src-moved/ (real)."""
    r = cache_diff.diff(read("deploy-a"), read("deploy-a-moved"))
    (f,) = r.folders
    assert f.folder_differs and not f.env and [c.factor for c in f.factors] == ["code"]
    assert f.factors[0].details == ()  # every traced module has the same content
    (aot,) = r.aot
    assert aot.a.hash == aot.b.hash and not aot.sources  # the AOT folder ignores code
    assert [c.name for c in aot.forward] == ["file"]
    assert [p.kind for p in r.pitfalls] == ["code-paths"]
    assert "/tmp/cachekey-vllm-src-moved/tiny_decoder.py" in r.pitfalls[0].detail


def _edit_b(**env: object) -> tuple[Deployment, Deployment]:
    """Edited copy (not a real run): deploy-a's folder with some env values changed."""
    a = read("deploy-a")
    (folder,) = a.folders
    facts = replace(folder.factors, env={**folder.factors.env, **env})
    return a, replace(a, folders=(replace(folder, factors=facts),))


@pytest.mark.parametrize("name,value,kind", [
    ("VLLM_DP_RANK", 1, "per-engine-env"),
    ("VLLM_NIXL_SIDE_CHANNEL_PORT", 5601, "per-engine-env"),
    ("CUDA_HOME", "/usr/local/cuda-13.0", "path-env"),
    ("VLLM_GC_DEBUG", "./gc.log", "path-env"),
    ("VLLM_USE_AOT_COMPILE", False, "cache-mode"),
    ("VLLM_FLOAT32_MATMUL_PRECISION", "high", None),
])
def test_env_pitfall_kinds(name, value, kind):
    a, b = _edit_b(**{name: value})
    r = cache_diff.diff(a, b)
    (f,) = r.folders
    assert [e.name for e in f.env] == [name]
    assert [p.kind for p in r.pitfalls] == ([kind] if kind else [])


def test_compiler_pitfall_names_the_version_that_moved():
    """Edited copy: B's compiler hash and recorded torch version changed (a torch upgrade)."""
    a = read("deploy-a")
    (folder,) = a.folders
    (model,) = a.aot_models
    b = replace(
        a,
        folders=(replace(folder, factors=replace(folder.factors, compiler_hash="0123456789")),),
        aot_models=(replace(model, system={**model.system, "torch": "2.15.0+cu130"}),),
    )
    r = cache_diff.diff(a, b)
    assert [p.kind for p in r.pitfalls] == ["compiler"]
    assert "torch 2.14.0+cu130 → 2.15.0+cu130" in r.pitfalls[0].detail


def _raw(tmp: Path, name: str, code: list[dict], config: dict | None = None,
         **hashes: str) -> str:
    """A raw-layout factors file (as newer vLLM writes it), built from deploy-a's real env."""
    doc = {**REAL, "config": {} if config is None else config,
           "compiler": {"torch_version": "2.14.0"}, "code": {"files": code}, **hashes}
    path = tmp / name / "cache_key_factors.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    return str(path)


def test_raw_layout_names_files_and_config_keys(tmp_path):
    code_a = [{"path": "/srv/app/model.py", "hash": "1" * 64},
              {"path": "/srv/app/ops.py", "hash": "2" * 64}]
    code_b = [{"path": "/srv/app/model.py", "hash": "1" * 64},
              {"path": "/srv/app/ops.py", "hash": "3" * 64}]
    config_a = {"model": "tiny", "max_num_batched_tokens": 2048}
    a = layout.read(_raw(tmp_path, "a", code_a, config_a))
    b = layout.read(_raw(tmp_path, "b", code_b, {**config_a, "max_num_batched_tokens": 4096},
                             config_hash="b" * 10, code_hash="c" * 64))
    (fa,) = a.folders
    assert fa.factors.layout == "raw" and len(fa.factors.code or ()) == 2
    assert fa.factors.folder_hash == factors.hash_factors(
        {"env": REAL["env"], "config": config_a, "code": {"files": code_a},
         "compiler": {"torch_version": "2.14.0"}})[:10]
    r = cache_diff.diff(a, b)
    (f,) = r.folders
    assert f.folder_differs and not f.env
    config, code = f.factor("config"), f.factor("code")
    assert config is not None and code is not None and f.factor("compiler") is None
    assert [(c.name, c.before, c.after) for c in config.details] == [
        ("max_num_batched_tokens", "2048", "4096")]
    assert [(c.name, c.before, c.after) for c in code.details] == [
        ("/srv/app/ops.py", "2" * 64, "3" * 64)]
    assert r.pitfalls == ()


def test_raw_layout_code_paths_pitfall(tmp_path):
    moved = [{"path": "/opt/app/model.py", "hash": "1" * 64}]
    here = [{"path": "/srv/app/model.py", "hash": "1" * 64}]
    a = layout.read(_raw(tmp_path, "a", here))
    r = cache_diff.diff(a, layout.read(_raw(tmp_path, "b", moved, code_hash="f" * 64)))
    (f,) = r.folders
    code = f.factor("code")
    assert code is not None
    assert [(c.name, c.before, c.after) for c in code.details] == [
        ("/opt/app/model.py", None, "1" * 64), ("/srv/app/model.py", "1" * 64, None)]
    assert "code-paths" in [p.kind for p in r.pitfalls]


@pytest.mark.parametrize("b,kind", [
    ("deploy-a-again", "reuses"),
    ("deploy-b", "recompiles"),  # the env change moves the AOT folder too
    ("artifacts-a", "recompiles"),
    ("deploy-a-moved", "loads-aot"),  # real vLLM loaded it directly (docs/vllm-cache.md)
])
def test_warm_start_on_real_pairs(b, kind):
    assert cache_diff.diff(read("deploy-a"), read(b)).warm_start.kind == kind


def test_warm_start_source_check_fails():
    """Edited copy: deploy-b's AOT model under deploy-a's AOT folder name (no env change)."""
    a, b = read("deploy-a"), read("deploy-b")
    (model,) = b.aot_models
    b = replace(b, aot_models=(replace(model, hash=a.aot_models[0].hash),))
    w = cache_diff.diff(a, b).warm_start
    assert w.kind == "source-check-fails" and "tiny_ops changed" in w.text


def test_warm_start_without_mega_compiles_the_pieces_again():
    """Edited copy: artifacts-a with its hash folder renamed (the same sources elsewhere)."""
    a = read("artifacts-a")
    (folder,) = a.folders
    b = replace(a, folders=(replace(folder, hash="f4aefdeefc", factors=replace(
        folder.factors, code_hash="0" * 64, folder_hash="f4aefdeefc")),))
    assert cache_diff.diff(a, b).warm_start.kind == "recompiles-pieces"
