"""``check --cache`` on real vLLM 0.33.0 caches: the stale load, predicted as vLLM did it.

The caches and the truth were made with real vLLM on this machine
(fixtures/vllm_cache/make_stale_fixtures.sh, README there): a cache baked with
``OUT_SCALE = 1.0``, then, with ``OUT_SCALE = 2.0`` (a constant in a module Dynamo
never traces), a warm start on it (``*-warm.json``: which pieces vLLM loaded, its
output against eager) and a cold compile into a fresh root (``scale2-*.json``:
the keys the changed model really has). A piece vLLM loaded whose stored key is
not its own is the stale load.

Here the core (``vllm/warm_start/lookup.py``) gets each piece's own key as vLLM
computed it (from the cold run), which is what the profile gives where it
reproduces vLLM's keys exactly, and vLLM's own code hash and torch build key.
Torch-free and fast. The full command, in a vLLM environment with a snapshot
baked into the cache, is in the opt-in live test at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from cachekey_cli.cache_hits.records import CurrentPiece
from cachekey_cli.results import ProfileInfo, TracedFile
from cachekey_cli.vllm.identity.code_check import ModelCode
from cachekey_cli.vllm.warm_start import lookup
from tests.conftest import FIXTURES, ROOT

CACHES = FIXTURES / "vllm_cache"
SUMMARIES = CACHES / "summaries"
PER_PIECE = "aot-compile, per-piece artifacts"
MEGA = "aot-compile+mega-artifact"


def summary(name: str) -> dict:
    return json.loads((SUMMARIES / f"{name}.json").read_text())


def _prefix(s: dict) -> dict:
    """The one prefix folder a cold run filed."""
    (folder,) = s["hash_folders"]
    (prefix,) = folder["prefixes"]
    return prefix


def index_keys(s: dict) -> list[str]:
    """The AOT key vLLM filed for each piece, by graph index (its index, in position order)."""
    entries = sorted(_prefix(s)["index"], key=lambda e: e["key"])
    return [e["value"]["cache_key"] for e in entries]


def aot_keys(s: dict) -> list[str]:
    (model,) = s["torch_aot_compile"]
    return list(model["aotautograd"])


def _analysis(s: dict, mode: str, compile_range: str | None = None) -> SimpleNamespace:
    info = ProfileInfo(name="vllm", client="vLLM 0.33.0", cache_mode=mode, not_reproduced=(),
                       compile_range=compile_range)
    return SimpleNamespace(profile=info, environment=SimpleNamespace(torch=s["torch"]),
                           model=SimpleNamespace(source="scaled_decoder.py", factory="build"))


def _code(s: dict) -> ModelCode:
    files = tuple(TracedFile(f["path"], f.get("sha256")) for f in s["traced_files"])
    return ModelCode("scaled_decoder.py", files, _prefix(s)["code_hash"])


def _torch_key(s: dict) -> str:
    """The build key of the torch vLLM ran with, from its artifacts' headers."""
    return str(_prefix(s)["artifacts"][0]["torch_key"])


def predict(cache: str, now: dict, keys: list[str], mode: str, torch_key: str | None = None,
            compile_range: str | None = None):
    """lookup.check on a fixture cache, for a deployment described by a vLLM run's summary."""
    pieces = [CurrentPiece(f"g0/submod_{2 * i}", i, k, None) for i, k in enumerate(keys)]
    dep = lookup.read(str(CACHES / cache))
    return lookup.check(_analysis(now, mode, compile_range), dep, pieces, None,
                             code=_code(now),
                             torch_key=torch_key or _torch_key(summary("stale-artifacts")))


def truth(warm: dict, stored: list[str], own: list[str]) -> list[str]:
    """What vLLM did: a piece it loaded is a hit when the stored key is its own, else stale."""
    loaded = {p["graph_index"] for p in warm["piece_lookups"] if p["loaded"]}
    return [("hit" if stored[i] == own[i] else "stale") if i in loaded else "miss"
            for i in range(len(own))]


def test_untraced_constant_per_piece_mode_is_stale_exactly_where_vllm_loaded_another_graph():
    baked, warm, cold = (summary(n) for n in ("stale-artifacts", "stale-artifacts-warm",
                                                "scale2-artifacts"))
    own = index_keys(cold)
    real = truth(warm, index_keys(baked), own)
    assert real == ["hit", "hit", "stale"]  # what vLLM did (pinned: the fixtures' record)
    assert warm["max_abs_error_vs_eager"] > 0.1 > cold["max_abs_error_vs_eager"]
    assert _prefix(cold)["code_hash"] == _prefix(baked)["code_hash"]  # the folder did not move
    result = predict("stale-artifacts", cold, own, PER_PIECE)
    assert [p.cache for p in result.pieces] == real
    assert result.ordered[0].cache == "stale" and result.exit_code == 1
    stale = result.pieces[2]  # the AOT-compiled model loads: its graph is the old one
    assert stale.reasons[0].startswith("vLLM loads the AOT-compiled model, whose graph is not")
    assert index_keys(baked)[2] in stale.stored["aot_keys"] and own[2] not in \
        stale.stored["aot_keys"]


def test_the_unchanged_model_hits_every_piece():
    baked = summary("stale-artifacts")
    result = predict("stale-artifacts", baked, index_keys(baked), PER_PIECE)
    assert [p.cache for p in result.pieces] == ["hit"] * 3 and result.exit_code == 0


@pytest.mark.parametrize(("mode", "name"), [("artifacts", PER_PIECE), ("mega", MEGA)])
def test_the_unchanged_model_hits_and_an_env_flag_misses(mode, name, monkeypatch):
    """Warm starts of the unchanged model on the baked caches: as is (vLLM loaded every piece,
    compiled none), and with VLLM_ENABLE_INDUCTOR_MAX_AUTOTUNE=0 (a new folder, all compiled)."""
    monkeypatch.setenv("VLLM_USE_MEGA_AOT_ARTIFACT", "1" if mode == "mega" else "0")
    baked = summary(f"stale-{mode}")
    same, env = summary(f"stale-{mode}-same-warm"), summary(f"stale-{mode}-env-warm")
    assert "num_inductor_compiles" not in same["vllm_counters"]  # what vLLM did
    assert same["vllm_counters"]["num_aot_artifacts_loaded"] == 1
    assert env["vllm_counters"]["num_inductor_compiles"] == 3
    own = index_keys(baked) if mode == "artifacts" else aot_keys(baked)
    hit = predict(f"stale-{mode}", baked, own, name)
    assert [p.cache for p in hit.pieces] == ["hit"] * 3 and hit.exit_code == 0
    monkeypatch.setenv("VLLM_ENABLE_INDUCTOR_MAX_AUTOTUNE", "0")
    miss = predict(f"stale-{mode}", baked, own, name)
    assert [p.cache for p in miss.pieces] == ["miss"] * 3
    assert [p.fallback for p in miss.pieces] == ["cold"] * 3  # a new AOT folder: empty cache
    assert_second_level(miss, env)
    assert "VLLM_ENABLE_INDUCTOR_MAX_AUTOTUNE" in miss.pieces[0].reasons[0] + " ".join(
        miss.folder)


def test_untraced_constant_mega_mode_is_stale_where_the_aot_model_holds_another_graph(
        monkeypatch):
    monkeypatch.setenv("VLLM_USE_MEGA_AOT_ARTIFACT", "1")
    baked, warm, cold = (summary(n) for n in ("stale-mega", "stale-mega-warm", "scale2-mega"))
    assert warm["vllm_counters"]["num_aot_artifacts_loaded"] == 1  # vLLM loaded it directly
    assert "num_inductor_compiles" not in warm["vllm_counters"]
    assert warm["max_abs_error_vs_eager"] > 0.1
    own = aot_keys(cold)
    changed = sorted(set(own) - set(aot_keys(baked)))
    assert len(changed) == 1
    result = predict("stale-mega", cold, own, MEGA)
    assert {p.aot_key: p.cache for p in _with_keys(result, own)} == {
        k: ("stale" if k in changed else "hit") for k in own}


def _with_keys(result, own):
    return [SimpleNamespace(aot_key=k, cache=p.cache) for k, p in zip(own, result.pieces,
                                                                       strict=True)]


def test_traced_constant_moves_the_folder_and_the_check_names_the_new_one():
    baked, cold = summary("stale-artifacts"), summary("eps-artifacts")
    new = cold["hash_folders"][0]["hash"]
    old = baked["hash_folders"][0]["hash"]
    assert new != old
    result = predict("stale-artifacts", cold, index_keys(cold), PER_PIECE)
    assert [p.cache for p in result.pieces] == ["miss"] * 3
    assert all(new in p.reasons[0] for p in result.pieces)
    assert f"folder {old} → {new}" in " ".join(result.folder)


def test_traced_constant_mega_mode_fails_the_source_check(monkeypatch):
    monkeypatch.setenv("VLLM_USE_MEGA_AOT_ARTIFACT", "1")
    cold = summary("eps-artifacts")  # the traced files with EPS = 1e-5
    result = predict("stale-mega", cold, index_keys(cold), MEGA)
    assert [p.cache for p in result.pieces] == ["miss"] * 3
    assert "source check fails (tiny_ops changed)" in result.pieces[0].reasons[0]


def test_a_folder_whose_index_points_at_the_old_artifacts_is_stale_exactly_where_keys_moved():
    """The EPS deployment's folder holding the unchanged model's index and artifacts."""
    old, warm, cold = (summary(n) for n in ("stale-artifacts", "eps-pointing-warm",
                                              "eps-artifacts"))
    own = index_keys(cold)
    real = truth(warm, index_keys(old), own)
    assert real == ["stale"] * 3  # EPS is in every piece's RMSNorm
    result = predict("stale-eps-pointing", cold, own, PER_PIECE)
    assert [p.cache for p in result.pieces] == real
    # no AOT-compiled model there: Dynamo traces, and the index serves the old artifacts
    assert "artifact_compile_range_1_2048_subgraph_2" in result.pieces[2].reasons[0]
    assert result.pieces[2].stored["artifact_aot_key"] == index_keys(old)[2] != own[2]


def test_another_compile_range_is_a_miss():
    """vLLM looks the index up by (range, position): max_num_batched_tokens 4096, not 2048."""
    baked = summary("stale-artifacts")
    same = predict("stale-artifacts", baked, index_keys(baked), PER_PIECE,
                   compile_range="[1, 2048]")
    assert [p.cache for p in same.pieces] == ["hit"] * 3
    other = predict("stale-artifacts", baked, index_keys(baked), PER_PIECE,
                    compile_range="[1, 4096]")
    assert [p.cache for p in other.pieces] == ["miss"] * 3
    assert "no entry for compile range (1, 4096)" in other.pieces[0].reasons[0]


def test_another_torch_build_is_a_miss_naming_both_builds():
    baked = summary("stale-artifacts")
    result = predict("stale-artifacts", baked, index_keys(baked), PER_PIECE, torch_key="ab" * 32)
    assert [p.cache for p in result.pieces] == ["miss"] * 3
    reason = result.pieces[0].reasons[0]
    assert "build key 3d5bd302" in reason and "this torch's is abababab" in reason
    assert "torch 2.14.0+cu130" in reason


SCRIPT = "/tmp/cachekey-vllm-script-src/script_decoder.py"  # where make_script_fixtures ran it


def _script_code(s: dict) -> ModelCode:
    """The current code as a script start sees it: the model file is the script, __main__."""
    files = tuple(TracedFile(f["path"], f.get("sha256")) for f in s["traced_files"])
    (code_hash,) = {p["code_hash"] for h in s["hash_folders"] for p in h["prefixes"]
                    if p["files"] and "vllm_compile_cache.py" in p["files"]
                    and h["hash"] == _folder_compiled(s)}
    return ModelCode(SCRIPT, files, code_hash, SCRIPT)


def _folder_compiled(s: dict) -> str:
    """The hash folder this run filed its pieces under (the newest, where it compiled)."""
    entries = [(h["hash"], p) for h in s["hash_folders"] for p in h["prefixes"]]
    return [h for h, p in entries if p.get("index")][-1] if len(entries) == 1 else next(
        h for h, _ in entries if h != summary("script-artifacts")["hash_folders"][0]["hash"])


def _script_keys(s: dict) -> list[str]:
    (prefix,) = [p for h in s["hash_folders"] for p in h["prefixes"]
                 if h["hash"] == _folder_compiled(s)]
    return [e["value"]["cache_key"] for e in sorted(prefix["index"], key=lambda e: e["key"])]


def _script_paths() -> list[str]:
    root = CACHES / "script-artifacts"
    (backbone,) = root.glob("torch_compile_cache/*/rank_0_0/backbone")
    return [str(root), str(backbone)]


SCRIPT_CASES = {  # warm start -> the cold run whose traced files and keys are the code's now
    "same": "script-artifacts",
    "edit": "script-artifacts-edit-warm",  # it traced and compiled again: its own record
    "scale": "script-scale2-artifacts",
}


@pytest.mark.parametrize("case", sorted(SCRIPT_CASES))
@pytest.mark.parametrize("where", ["root", "backbone"])
def test_a_script_that_starts_vllm_is_predicted_as_its_warm_start_did(case, where, monkeypatch):
    """``python script_decoder.py`` (the model class in the script vLLM runs, recorded by the
    AOT-compiled model as module __main__), made with real vLLM by make_script_fixtures.sh:
    the unchanged script, the script edited in place (a traced constant), and a constant it
    reads in __init__ from an untraced file. cachekey's answer, from the cache root and from
    the backbone folder, is what the real warm start did, piece by piece."""
    monkeypatch.setenv("VLLM_USE_MEGA_AOT_ARTIFACT", "0")
    baked, warm = summary("script-artifacts"), summary(f"script-artifacts-{case}-warm")
    now = summary(SCRIPT_CASES[case])
    own = _script_keys(now)
    loaded = [p["loaded"] for p in warm["piece_lookups"]]
    real = truth(warm, _script_keys(baked), own) if any(loaded) else ["miss"] * len(own)
    assert real == {"same": ["hit"] * 3, "edit": ["miss"] * 3,
                    "scale": ["hit", "hit", "stale"]}[case]  # what vLLM did (pinned)
    said = " | ".join(warm["vllm_log"])
    if case == "edit":
        assert "Compiling a graph" in said and "Directly load" not in said, said
    else:
        assert "Directly load AOT compilation" in said and "Compiling a graph" not in said, said
    path = dict(zip(("root", "backbone"), _script_paths(), strict=True))[where]
    pieces = [CurrentPiece(f"g0/submod_{2 * i}", i, k, None) for i, k in enumerate(own)]
    analysis = _analysis(now, PER_PIECE)
    analysis.model = SimpleNamespace(source=SCRIPT, factory="build")
    result = lookup.check(analysis, lookup.read(path), pieces, None,
                               code=_script_code(now), torch_key=_torch_key(baked))
    assert [p.cache for p in result.pieces] == real
    if case == "edit":
        assert "source check fails (__main__ changed)" in result.pieces[0].reasons[0]
        # the second level: torch's own counters on that warm start, and its one compile
        counted = warm["torch_counters"]["aot_autograd"]
        levels = [p.fallback for p in result.pieces]
        assert levels.count("aotautograd") == counted["autograd_cache_hit"] == 2
        assert levels.count("cold") == counted["autograd_cache_miss"] == 1
        assert levels[-1] == "cold"  # LAST_SCALE is in the last piece only
        # the entries' own record of their compile (torch's forward_time_taken_ns): 10.2 s of
        # the 10.4 s the three entries record; vLLM logged 11.14 s for the cold bake and
        # 2.26 s for this start
        assert result.sentence().startswith(
            "3 compiled pieces: 3 miss (1 cold compile, 2 from Inductor's cache, saving the "
            "10.2 s their entries record)")
        assert dataclasses.replace(result, fail_on="cold").exit_code == 1
        assert [p.label for p in result.pieces][:2] == ["miss → Inductor's cache"] * 2
    else:
        assert all(p.fallback is None for p in result.pieces)


HF_CASES = [(m, c) for m in ("hf-llama", "hf-gpt2") for c in ("same", "eps", "dtype", "env")]


def _files_as_recorded(s: dict) -> bool:
    import hashlib

    for f in s["traced_files"]:
        if f["path"].startswith("<"):
            continue
        try:
            if hashlib.sha256(Path(f["path"]).read_bytes()).hexdigest() != f.get("sha256"):
                return False
        except OSError:
            return False
    return True


def ran_keys(warm: dict, baked: dict) -> list[str]:
    """The key of each piece vLLM ran on the warm start: the index of the folder it used (a
    new one it filed under, or the baked one)."""
    new = [h for h in warm["hash_folders"] if h["hash"] not in
           {b["hash"] for b in baked["hash_folders"]}]
    (folder,) = new or warm["hash_folders"]
    entries = sorted(folder["prefixes"][0]["index"], key=lambda e: e["key"])
    return [e["value"]["cache_key"] for e in entries]


@pytest.mark.parametrize(("model", "case"), HF_CASES, ids=[f"{m}-{c}" for m, c in HF_CASES])
def test_hf_models_prediction_equals_what_vllm_did(model, case, monkeypatch):
    """Small HF Llama and GPT-2 under real vLLM (fixtures/vllm_cache/make_hf_fixtures.sh): the
    warm start on the baked cache with the same code, the second layer's eps or the dtype
    changed (both in a file Dynamo never traces), or an env flag set. What vLLM did, per
    piece: it ran a piece whose key is not the piece's own (stale: the AOT-compiled model's
    old graph, or another piece's artifact), loaded its own (hit), or compiled its own (miss)."""
    baked = summary(model)
    warm = summary(f"{model}-{case}-warm")
    cold = baked if case == "same" else summary(f"{model}-{case}-cold")
    if case == "env":
        monkeypatch.setenv("VLLM_ENABLE_INDUCTOR_MAX_AUTOTUNE", "0")
    own = index_keys(cold)
    if warm.get("failed"):
        # vLLM stopped while running compiled code the AOT-compiled model brought (the summary
        # keeps its traceback): it ran the old graph's piece, which cannot run this model
        assert "torch_aot_compile" in warm["stderr_tail"] and len(own) == 1
        real = ["stale"]
    else:
        ran = ran_keys(warm, baked)
        loaded = {p["graph_index"] for p in warm["piece_lookups"] if p["loaded"]}
        real = [("stale" if ran[i] != own[i] else "hit" if i in loaded else "miss")
                for i in range(len(own))]
    result = predict(f"{model}-artifacts", cold, own, PER_PIECE)
    assert [p.cache for p in result.pieces] == real, (result.pieces, warm.get("piece_lookups"))
    new = {h["hash"] for h in warm.get("hash_folders", ())} - {h["hash"] for h in
                                                               baked["hash_folders"]}
    if real == ["miss"] and len(new) == 1 and case != "env" and _files_as_recorded(cold):
        # the warm start's code factor is hashed from the files on disk, as vLLM does: where
        # they are as the run found them (the machine that made the fixtures), the name is vLLM's
        assert next(iter(new)) in result.pieces[0].reasons[0]
    if case == "env":  # a new AOT-compile folder: its Inductor cache starts empty, all cold
        assert_second_level(result, warm)
    # (elsewhere the fixture's inductor_cache/ kept aotautograd/ only: the forward an
    # AOTAutograd hit loads from fxgraph/ was trimmed when the fixture was made, so the
    # level there is the trimmed cache's; the script fixtures keep both and are checked)


def assert_second_level(result, warm: dict) -> None:
    """Under vLLM's misses, the Inductor level cachekey predicts is what torch's counters on
    the real warm start say: an AOTAutograd hit per piece served, a miss per cold compile."""
    missed = [p for p in result.pieces if p.cache == "miss"]
    counted = warm["torch_counters"]["aot_autograd"]  # every warm start calling this counted
    assert missed and counted, (missed, counted)
    levels = [p.fallback for p in missed]
    assert levels.count("aotautograd") == counted.get("autograd_cache_hit", 0), (levels, counted)
    assert levels.count("cold") == counted.get("autograd_cache_miss", 0), (levels, counted)


VLLM_PYTHON = os.environ.get("CACHEKEY_VLLM_PYTHON", "")
SRC = Path("/tmp/cachekey-vllm-stale-src")  # where the fixtures' traced files lived


def _vllm_release(python: str) -> str | None:
    """The vLLM version of that python's environment, or None."""
    if not python or not os.access(python, os.X_OK):
        return None
    done = subprocess.run([python, "-c", "import importlib.metadata as m; "
                           "print(m.version('vllm'))"], capture_output=True, text=True)
    return done.stdout.strip() or None


VLLM_RELEASE = _vllm_release(VLLM_PYTHON)


@pytest.mark.skipif(VLLM_RELEASE is None, reason="no vLLM environment (set "
                    "CACHEKEY_VLLM_PYTHON to a vLLM python)")
@pytest.mark.skipif(VLLM_RELEASE is not None and VLLM_RELEASE.split("+")[0] != "0.33.0",
                    reason="the stale fixtures were baked by vLLM 0.33.0: under another "
                    "release every folder and key moves (tests/test_vllm_releases.py)")
@pytest.mark.parametrize(("cache", "mode"), [("stale-artifacts", "0"), ("stale-mega", "1")])
def test_live_snapshot_into_the_cache_then_check_calls_the_changed_piece_stale(
        cache, mode, tmp_path):
    """In a vLLM environment: bake a snapshot into the fixture cache with OUT_SCALE = 1.0, then
    check with 2.0: the piece whose graph moved is stale, the others hit. Both runs take the
    config the fixtures were compiled with, so the keys and the folder are vLLM's exactly."""
    if SRC.exists():
        shutil.rmtree(SRC)
    SRC.mkdir(parents=True)
    for name in ("tiny_decoder.py", "tiny_ops.py", "scale_config.py", "scaled_decoder.py"):
        shutil.copy(FIXTURES / "vllm" / name, SRC / name)
    root = tmp_path / cache
    shutil.copytree(CACHES / cache, root)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VLLM_USE_MEGA_AOT_ARTIFACT": mode}

    def cachekey(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([VLLM_PYTHON, "-m", "cachekey_cli", *args], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=600)

    model = str(SRC / "scaled_decoder.py")
    config = ("--vllm-config", str(FIXTURES / "vllm" / "cpu_config.json"))
    done = cachekey("-q", "snapshot", model, *config, "--into", str(root))
    assert done.returncode == 0, done.stderr
    (SRC / "scale_config.py").write_text("OUT_SCALE = 2.0\n")
    done = cachekey("-q", "check", model, *config, "--cache", str(root), "--format", "json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert not any("torch side only" in n for n in doc["notes"]), doc["notes"]  # exact keys
    said = [p["cache"] for p in doc["pieces"]]
    if mode == "0" and not _files_as_recorded(summary(cache)):
        # the vLLM venv that made the fixture lived at another path, and vLLM's code hash
        # covers the path of every traced file (torch's own among them): this deployment's
        # folder is another one, which the cache lacks, and the report says why
        assert any("only their absolute paths moved" in line for line in doc["folder"])
        assert said == ["miss", "miss", "stale"], said
        return
    if mode == "0":  # the hash folder vLLM's own factors name for this deployment is there
        assert doc["facts"]["folder"].endswith("(this deployment's)"), doc["facts"]
    assert said == ["hit", "hit", "stale"]
    assert any("2.0" in f for f in doc["pieces"][2]["findings"])


def test_a_snapshot_baked_at_the_root_is_found_from_a_folder_inside(tmp_path):
    from cachekey_cli import cache_hits

    project = tmp_path / "project"
    root = project / "caches" / "root"
    shutil.copytree(CACHES / "stale-artifacts", root)
    prefix = next(root.glob("torch_compile_cache/*/rank_0_0/backbone"))
    # a project's own baseline above the cache root is not the cache's
    (project / "cachekeys.json").write_text("{}")
    for path in (root, root / "torch_compile_cache", prefix.parent.parent, prefix.parent, prefix):
        assert cache_hits.find_snapshot("vllm", str(path), cache_hits.read("vllm", str(path))) \
            is None, path
    (root / "cachekeys.json").write_text("{}")
    for path in (root, root / "torch_compile_cache", prefix.parent.parent, prefix.parent, prefix,
                 prefix / "cache_key_factors.json"):
        found = cache_hits.find_snapshot("vllm", str(path), cache_hits.read("vllm", str(path)))
        assert found == str(root / "cachekeys.json"), path
    assert cache_hits.baked.find(str(prefix)) is None  # an Inductor cache: PATH itself only


def test_snapshot_into_a_folder_that_is_no_cache_is_exit_3_before_tracing(tmp_path, capsys):
    from cachekey_cli.cli import run_cli

    (tmp_path / "notes.txt").write_text("not a cache")
    code = run_cli(["snapshot", str(FIXTURES / "vllm/scaled_decoder.py"), "--into",
                    str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 3 and "is not a vLLM cache folder" in err
    assert not (tmp_path / "cachekeys.json").exists()


@pytest.mark.skipif(VLLM_RELEASE is None, reason="no vLLM environment (set "
                    "CACHEKEY_VLLM_PYTHON to a vLLM python)")
@pytest.mark.parametrize("mode", ["artifacts", "mega"])
def test_live_script_that_starts_vllm_checked_from_its_folder(mode, tmp_path):
    """In a vLLM environment, end to end as a user does it: bake a cache by running the
    script from its folder, ask cachekey (from that folder, the root and, per piece, the
    backbone folder as PATH) before each warm start, then start it and read what vLLM logged
    and torch counted: after the edit, the pieces cachekey says Inductor's cache serves are
    the AOTAutograd hits of the warm start, the cold ones its misses."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("tiny_decoder.py", "tiny_ops.py", "scale_config.py", "script_decoder.py",
                 "run_vllm.py"):
        shutil.copy(FIXTURES / "vllm" / name, src / name)
    root = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT),
           "VLLM_USE_MEGA_AOT_ARTIFACT": "1" if mode == "mega" else "0"}

    def start(tag: str) -> dict:
        out = tmp_path / f"{tag}.json"
        done = subprocess.run([VLLM_PYTHON, "script_decoder.py", "--mode", mode,
                               "--cache-root", str(root), "--json-out", str(out)],
                              cwd=src, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(out.read_text())

    def cachekey(path: Path) -> list[str]:
        return [p["cache"] for p in check(path)["pieces"]]

    def check(path: Path) -> dict:
        done = subprocess.run(
            [VLLM_PYTHON, "-m", "cachekey_cli", "-q", "check", "script_decoder.py:build",
             "--vllm-config", str(FIXTURES / "vllm" / "cpu_config.json"), "--cache", str(path),
             "--format", "json"], cwd=src, env=env, capture_output=True, text=True,
            timeout=600)
        assert done.returncode in (0, 1), done.stderr[-2000:]
        return dict(json.loads(done.stdout))

    start("cold")
    (backbone,) = root.glob("torch_compile_cache/*/rank_0_0/backbone")
    paths = [root, backbone] if mode == "artifacts" else [root]  # mega: the root alone
    assert all(cachekey(p) == ["hit"] * 3 for p in paths)
    same = start("same")
    assert all(p["loaded"] for p in same["piece_lookups"])
    assert any("Directly load AOT compilation" in line for line in same["vllm_log"])
    text = (src / "script_decoder.py").read_text()
    (src / "script_decoder.py").write_text(text.replace("LAST_SCALE = 1.0", "LAST_SCALE = 2.0"))
    assert all(cachekey(p) == ["miss"] * 3 for p in paths)
    levels = [p["inductor_level"] for p in check(root)["pieces"]]
    edited = start("edit")
    assert not any(p.get("loaded") for p in edited.get("piece_lookups", []))
    assert any("Source code has changed" in line for line in edited["vllm_log"])
    counted = edited["torch_counters"]["aot_autograd"]
    assert levels.count("aotautograd") == counted["autograd_cache_hit"] == 2, (levels, counted)
    assert levels.count("cold") == counted["autograd_cache_miss"] == 1, (levels, counted)
