"""The vLLM release table against real caches of vLLM 0.32.0, 0.33.0 and 0.34.0.

``fixtures/vllm_releases/<release>/`` holds what each release filed for vLLM's own tiny
Llama on this machine (``make_release_fixtures.sh``; summaries read with vLLM's own code).
The torch-free readers must name every folder as that release did, tell which release
wrote a cache, and say an upgrade is the cause when another release reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cachekey_cli.vllm import cache_diff, layout, releases
from cachekey_cli.vllm.identity import code_factor
from cachekey_cli.vllm.warm_start import folder_choice
from tests.conftest import FIXTURES

RELEASES = FIXTURES / "vllm_releases"
CHECKED = ("0.32.0", "0.33.0", "0.34.0")


def _summary(release: str, name: str) -> dict:
    return json.loads((RELEASES / release / "summaries" / f"{name}.json").read_text())


@pytest.mark.parametrize("release", CHECKED)
def test_each_release_names_its_folder_as_vllm_did(release):
    dep = layout.read(str(RELEASES / release / "serve-artifacts"))
    (folder,) = dep.folders
    (real,) = _summary(release, "serve-artifacts")["hash_folders"]
    assert folder.hash == real["hash"]
    assert folder.factors.folder_hash == folder.hash  # recomputed from the file alone
    row = releases.resolve(release).release
    assert folder.factors.layout == row.layout
    assert releases.writer(folder.factors.env) is row


def test_the_0_34_code_factor_recipe_equals_the_code_hash_vllm_wrote():
    """The traced files are gone, so the recipe is checked on their recorded entries: vLLM
    0.34.0's hash over its own per-file list is the code hash its factors file holds."""
    (folder,) = layout.read(str(RELEASES / "0.34.0" / "serve-artifacts")).folders
    entries = [{"path": e.path, **({"hash": e.hash} if e.hash else {})}
               for e in folder.factors.code or ()]
    assert code_factor.files_hash(entries) == folder.factors.code_hash
    paths = [e["path"] for e in entries]
    assert paths == [str(p) for p in sorted(Path(p) for p in paths)]  # pathlib order


def test_versions_resolve_to_rows_and_say_what_is_assumed():
    assert releases.resolve("0.33.0+cpu").release.version == "0.33.0"
    assert releases.resolve("0.33.0").assumed is None
    newer = releases.resolve("0.35.1")
    assert newer.release is releases.NEWEST and "newer than the newest" in (newer.assumed or "")
    between = releases.resolve("0.33.5")
    assert between.release.version == "0.33.0" and "0.33.5" in (between.assumed or "")
    older = releases.resolve("0.30.0")
    assert older.release is releases.RELEASES[0] and "older" in (older.assumed or "")


@pytest.mark.parametrize(("wrote", "now", "layout_too"), [
    ("0.33.0", "0.34.0", True), ("0.32.0", "0.33.0", False), ("0.34.0", "0.33.0", True)])
def test_an_upgrade_is_named_as_the_cause(wrote, now, layout_too):
    (folder,) = layout.read(str(RELEASES / wrote / "serve-artifacts")).folders
    line = folder_choice.release_change(folder, now)
    assert line is not None and line.startswith(f"vLLM release {wrote} → {now}:")
    assert ("layout changes too" in line) is layout_too
    assert folder_choice.release_change(folder, wrote) is None


def test_the_0_34_warm_start_on_a_0_33_cache_compiled_every_piece_cold():
    """What the upgrade example rests on: vLLM 0.34.0 started on the 0.33.0 cache, filed under
    a new folder and compiled all three pieces; AOTAutograd's cache served none."""
    warm = _summary("0.34.0", "upgrade-from-0.33.0-warm")
    assert [h["hash"] for h in warm["hash_folders"]] == ["35e938b327", "6ea9b80ff2"]
    assert warm["piece_outcome_counts"] == {"compiled": 3}
    assert warm["torch_counters"]["aot_autograd"]["autograd_cache_miss"] == 3
    (new,) = _summary("0.34.0", "serve-artifacts")["hash_folders"]
    assert new["hash"] == "6ea9b80ff2"  # the folder a fresh 0.34.0 bake names


def test_vllm_cache_diff_across_releases_names_the_release_first():
    from cachekey_cli.render.vllm_cache import text

    r = cache_diff.diff(layout.read(str(RELEASES / "0.33.0" / "serve-artifacts")),
                        layout.read(str(RELEASES / "0.34.0" / "serve-artifacts")))
    (f,) = r.folders
    lines = text.folder_diff_lines(f)
    assert lines[0].startswith("vLLM release 0.33.0 → 0.34.0: each release computes")
    assert lines[1] == "env: 3 variables only in 0.33.0's list, 16 only in 0.34.0's"
    assert not any("(not in this vLLM's factors)" in x for x in lines)
