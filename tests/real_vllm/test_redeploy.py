"""Unchanged redeploys of models whose layers repeat: cachekey against real vLLM warm starts.

vLLM's own Llama with 3 and with 32 identical layers (tiny configs, dummy weights), baked by
real vLLM on the piecewise path of a CUDA deployment in each AOT cache mode, then started
again with the same serve arguments. vLLM files one artifact per distinct AOT key and serves
every repeat from memory; ``cachekey check --cache`` must pass (exit 0) and label every
piece as the warm start treated it: loaded from the index, or reused in memory from the
piece whose key it has (``fixtures/vllm/run_vllm_serve_pieces.py`` records each piece's
outcome). Heavy: ``make test-vllm``.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.real_vllm import test_vllm_own_models as own
from tests.real_vllm.test_vllm_own_models import MODES, ROOT, SERVE, _env, _run, cachekey

pytestmark = own.pytestmark  # skipped where vLLM is not importable

PIECES = ROOT / "fixtures" / "vllm" / "run_vllm_serve_pieces.py"
MODELS = ROOT / "fixtures" / "vllm" / "models"


def start(model: str, mode: str, root, out) -> dict:
    _run([sys.executable, str(PIECES), str(MODELS / model), "--cache-root", str(root),
          "--mode", mode, "--platform", "cuda", "--json-out", str(out), "--", *SERVE],
         _env(mode, root))
    return dict(json.loads(out.read_text()))


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("model", ["tiny-llama-3l", "tiny-llama-32l"])
def test_unchanged_redeploy_passes_with_every_piece_labelled_as_vllm_served_it(
        model, mode, tmp_path):
    root = tmp_path / "root"
    bake = start(model, mode, root, tmp_path / "bake.json")
    outcomes = sorted(bake["piece_outcomes"], key=lambda o: o["graph_index"])
    keys = [o["aot_key"] for o in outcomes]
    assert len(set(keys)) == 3 < len(keys)  # first, middle, last: the middles repeat
    warm = start(model, mode, root, tmp_path / "warm.json")
    done = cachekey("check", f"vllm:{MODELS / model}", "--platform", "cuda", "--cache",
                    str(root), "--format", "json", "--", *SERVE, mode=mode, root=root)
    report = json.loads(done.stdout)
    assert report["summary"]["exit_code"] == 0 and report["summary"]["miss"] == 0
    first = {k: keys.index(k) for k in keys}
    if mode == "mega":  # the AOT-compiled model brings every piece: no per-piece lookup
        assert not warm["piece_outcomes"]
        assert any("Directly load AOT compilation" in x for x in warm["vllm_log"])
        assert [p["reuses"] for p in report["pieces"]] == [None] * len(keys)
    else:
        real = {o["graph_index"]: o["outcome"] for o in warm["piece_outcomes"]}
        assert set(real.values()) == {"loaded", "reused"}
        ours = [("reused" if p["reuses"] is not None else "loaded") for p in report["pieces"]]
        assert ours == [real[i] for i in range(len(keys))]
        assert [p["reuses"] for p in report["pieces"]] == [
            first[k] if real[i] == "reused" else None for i, k in enumerate(keys)]
    assert [p["keys"]["aot_key"] for p in report["pieces"]] == keys
