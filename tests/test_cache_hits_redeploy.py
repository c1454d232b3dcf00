"""Redeploys of a model whose layers repeat, against real vLLM 0.33.0 warm starts.

The bakes are vLLM's own three-layer Llama (``fixtures/vllm/models/tiny-llama-3l``,
``--platform cuda -- --dtype float32 --max-num-batched-tokens 2048``) in each cache
mode: four compiled pieces, #1 and #2 identical, so vLLM files three artifacts
and serves #2 from memory. Each warm start ran on a pristine copy of the bake with
one change, and its summary records what vLLM did with every piece: ``loaded``
from the index, ``reused`` in memory, or ``compiled``
(``fixtures/vllm_cache/make_redeploy_fixtures.sh``).

Here the lookup (``vllm/warm_start/lookup.py``) gets each piece's key and the folders
as that warm start's vLLM computed them, and must call every piece as vLLM
treated it. The cases are the redeploys vLLM's own test suite says keep or move
the compile hash; each case is named after the vLLM test it ports (``no_vllm_test`` where
vLLM's suite asserts nothing about that field). The same
cases end to end, with cachekey computing the keys and folders itself, are in
``tests/real_vllm/`` (``make test-vllm``).
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from cachekey_cli.cache_hits.records import CurrentPiece
from cachekey_cli.results import ProfileInfo, TracedFile
from cachekey_cli.vllm.identity.code_check import ModelCode
from cachekey_cli.vllm.warm_start import lookup
from tests.conftest import FIXTURES

CACHES = FIXTURES / "vllm_cache"
MODES = {"artifacts": "aot-compile, per-piece artifacts", "mega": "aot-compile+mega-artifact",
         "no-aot": "no aot-compile, per-piece artifacts"}
# (case, the vLLM test that asserts what the change does to the compile hash, modes run).
# Read from vLLM's repository (tests/config/test_config_utils.py, tests/test_envs.py,
# tests/compile/test_config.py, tests/compile/test_aot_compile.py); where vLLM has no such
# test, the name says what vLLM's own compute_hash does with the field instead.
ALL = ("artifacts", "mega", "no-aot")
CASES = [
    ("a", "test_aot_compile.py::test_gpt2_cache_hit", ALL),  # and test_envs_compile_factors_stable
    ("b", "test_config_utils.py::test_cache_config_hash_ignores_kv_cache_sizing_knobs", ALL),
    ("c", "test_config_utils.py::test_load_config_compute_hash_stable", ("artifacts",)),
    ("d", "test_envs.py::test_nixl_side_channel_host_is_not_compile_factor", ("artifacts",)),
    ("e", "no_vllm_test::seed_left_out_by_ModelConfig_compute_hash", ("artifacts",)),
    ("f", "test_config_utils.py::test_envs_compile_factors_relocation_invariant", ("artifacts",)),
    ("g", "no_vllm_test::max_num_seqs_in_SchedulerConfig_compute_hash", ("artifacts",)),
    ("h", "no_vllm_test::max_num_batched_tokens_in_SchedulerConfig_compute_hash", ALL),
    ("i", "no_vllm_test::pass_config_in_PassConfig_compute_hash", ("artifacts",)),
    # and tests/compile/test_config.py::test_VLLM_DISABLE_COMPILE_CACHE
    ("j", "test_aot_compile.py::test_disable_compile_cache_skips_aot_load", ALL),
    ("k", "test_config_utils.py::test_cache_config_hash_ignores_kv_cache_sizing_knobs[bytes]",
     ("artifacts",)),
    ("k2", "no_vllm_test::num_gpu_blocks_override_left_out_by_CacheConfig_compute_hash",
     ("artifacts",)),
    ("l", "test_config_utils.py::test_load_config_compute_hash_stable[load_format]",
     ("artifacts",)),
]
PARAMS = [pytest.param(mode, case, id=f"{mode}-{case}-{test.split('::')[-1]}")
          for case, test, modes in CASES for mode in modes]


def summary(mode: str, case: str) -> dict:
    return json.loads((CACHES / "summaries" / f"redeploy-{mode}-{case}.json").read_text())


def _used(warm: dict, bake: dict, key: str, items: list[dict]) -> dict:
    """The folder the warm start used: the one it added to the bake's, else the bake's."""
    baked = {x[key] for x in bake}
    new = [x for x in items if x[key] not in baked]
    return new[0] if new else next(x for x in items if x[key] in baked)


def _aot_folder(warm: dict, bake: dict) -> str | None:
    """The AOT-compile folder the warm start used: the one whose Inductor cache it added (it
    saves no model there when the cache is disabled), else the bake's."""
    def folders(s: dict) -> list[str]:
        parts = [x["path"].split("/") for x in s["inductor_caches"]]
        return [p[p.index("torch_aot_compile") + 1] for p in parts if "torch_aot_compile" in p]

    baked = folders(bake)
    new = [f for f in folders(warm) if f not in baked]
    return (new or baked or [None])[0]


def _keys(warm: dict, bake: dict) -> list[str]:
    """Each piece's AOT key as vLLM computed it in this start (a loaded piece: the bake's)."""
    outcomes = warm["piece_outcomes"] or bake["piece_outcomes"]
    return [o["aot_key"] for o in sorted(outcomes, key=lambda o: o["graph_index"])]


def truth(warm: dict, bake: dict) -> list[tuple[str, int | None]]:
    """What vLLM did with each piece: (hit or miss, the piece it reused)."""
    if not warm["piece_outcomes"]:  # the mega AOT-compiled model loaded: nothing compiled
        assert any("Directly load AOT compilation" in x for x in warm["vllm_log"])
        return [("hit", None)] * len(bake["piece_outcomes"])
    out = []
    first: dict[str, int] = {}
    for o in sorted(warm["piece_outcomes"], key=lambda o: o["graph_index"]):
        reused = first.get(o["aot_key"]) if o["outcome"] == "reused" else None
        first.setdefault(o["aot_key"], o["graph_index"])
        out.append(("miss" if o["outcome"] == "compiled" else "hit", reused))
    return out


def predict(mode: str, case: str, monkeypatch: pytest.MonkeyPatch):
    warm, bake = summary(mode, case), summary(mode, "bake")
    for name in ("VLLM_USE_AOT_COMPILE", "VLLM_USE_MEGA_AOT_ARTIFACT",
                 "VLLM_DISABLE_COMPILE_CACHE", "VLLM_NIXL_SIDE_CHANNEL_HOST"):
        if name in warm["env"]:
            monkeypatch.setenv(name, warm["env"][name])
        else:
            monkeypatch.delenv(name, raising=False)
    # the driver points Inductor at <root>/torchinductor; with VLLM_USE_AOT_COMPILE=0 vLLM
    # leaves it there, and the check reads it from the same environment
    inductor = CACHES / f"redeploy-{mode}" / "torchinductor"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(inductor))
    folder = _used(warm, bake["hash_folders"], "hash", warm["hash_folders"])
    (prefix,) = folder["prefixes"]
    aot = _aot_folder(warm, bake)
    info = ProfileInfo(name="vllm", client="vLLM 0.33.0", cache_mode=MODES[mode],
                       not_reproduced=(), compile_range=str(list(warm["piece_lookups"][0]["range"]))
                       if warm["piece_lookups"] else "[1, 2048]", vllm_version="0.33.0",
                       hash_folder=folder["hash"],
                       aot_compile_folder=aot if mode != "no-aot" else None)
    analysis = SimpleNamespace(profile=info, environment=SimpleNamespace(torch=warm["torch"]),
                               model=SimpleNamespace(source="tiny-llama-3l", factory="Llama"),
                               config_overrides={})
    files = tuple(TracedFile(f["path"], f.get("sha256")) for f in warm["traced_files"])
    code = ModelCode("tiny-llama-3l", files, prefix["code_hash"])
    (bake_folder,) = bake["hash_folders"]
    (bake_prefix,) = bake_folder["prefixes"]
    torch_key = str(bake_prefix["artifacts"][0]["torch_key"]) if bake_prefix["artifacts"] \
        else "0" * 64
    now = [CurrentPiece(f"g0/submod_{2 * i}", i, k, None)
           for i, k in enumerate(_keys(warm, bake))]
    dep = lookup.read(str(CACHES / f"redeploy-{mode}"))
    return lookup.check(analysis, dep, now, None, code=code, torch_key=torch_key)


@pytest.mark.parametrize(("mode", "case"), PARAMS)
def test_redeploy_is_predicted_as_the_real_warm_start_did(mode, case, monkeypatch):
    warm, bake = summary(mode, case), summary(mode, "bake")
    real = truth(warm, bake)
    result = predict(mode, case, monkeypatch)
    assert [(p.cache, p.reuses) for p in result.pieces] == real
    assert result.exit_code == (1 if any(word == "miss" for word, _ in real) else 0)
    # under vLLM's misses, Inductor's own cache: as torch counted it on that warm start
    counted = warm["torch_counters"].get("aot_autograd", {})
    levels = result.levels()
    assert levels.get("aotautograd", 0) == counted.get("autograd_cache_hit", 0)
    assert levels.get("cold", 0) + levels.get("fxgraph", 0) == counted.get("autograd_cache_miss", 0)


def test_the_bakes_file_one_artifact_per_distinct_key():
    """What the suite rests on: vLLM compiled three pieces and reused the fourth (#2 is #1)."""
    for mode in MODES:
        bake = summary(mode, "bake")
        outcomes = sorted(bake["piece_outcomes"], key=lambda o: o["graph_index"])
        assert [o["outcome"] for o in outcomes] == ["compiled", "compiled", "reused", "compiled"]
        assert outcomes[1]["aot_key"] == outcomes[2]["aot_key"]


def test_an_unchanged_per_piece_redeploy_passes_with_the_repeat_labelled(monkeypatch):
    result = predict("artifacts", "a", monkeypatch)
    assert [p.label for p in result.pieces] == ["hit", "hit", "hit (reuses #1)", "hit"]
    assert result.exit_code == 0
    assert result.sentence().startswith("All 4 compiled pieces hit the cache (1 of them from "
                                        "memory")


def test_disabled_cache_is_an_answer_not_an_error(monkeypatch):
    result = predict("artifacts", "j", monkeypatch)
    assert dict(result.facts)["cache use"] == "disabled (VLLM_DISABLE_COMPILE_CACHE=1)"
    assert [p.label for p in result.pieces][2] == "hit (reuses #1)"
    assert result.exit_code == 1  # pieces compile: the check fails, as documented


def test_a_cold_redeploy_names_what_the_bake_recorded_as_its_cost(monkeypatch):
    """A moved folder compiles every piece cold: the report gives the bake's own recorded
    compile time as the estimate, which is close to what the bake logged for its compile."""
    import re

    result = predict("artifacts", "h", monkeypatch)
    (note,) = [n for n in result.notes if n.startswith("the bake in PATH recorded")]
    recorded = float(re.search(r"recorded ([\d.]+) s", note).group(1))
    (logged,) = [float(m.group(1)) for line in summary("artifacts", "bake")["vllm_log"]
                 for m in [re.search(r"Compiling a graph .* takes ([\d.]+) s", line)] if m]
    assert 0.5 * logged < recorded <= logged  # the log adds Dynamo's and vLLM's own time
