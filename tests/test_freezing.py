"""Freezing (``torch._inductor.config.freezing``): what each profile says, what a snapshot
keeps of the weights, and what a warm start does with a weight Inductor does not inline.

The key-level facts (which key moves with a weight under freezing, checked against real
compiles) are rows of tests/test_what_moves.py; these share its analyses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile

import pytest

from tests.conftest import FIXTURES, analyse
from tests.oracles import fixtures

pytestmark = pytest.mark.compile

FROZEN = {"mode": "aot-per-piece", "inductor_config": ("freezing=True",), "functorch_config": ()}


def build(folder: str):
    return fixtures.build(FIXTURES / "moves" / folder / "model.py")


def _frozen(folder: str, profile: str):
    return analyse(f"moves/{folder}/model.py", profile=profile, **FROZEN)


def test_each_profile_says_what_freezing_does_to_weights():
    tc = _frozen("base", "torch-compile").analysis.profile.notes
    assert any(n.startswith("freezing is on: under torch.compile a weight change is drift")
               for n in tc), tc
    vllm = _frozen("base", "vllm").analysis.profile.notes
    assert any(n.startswith("freezing is on: vLLM does not freeze") and "max_autotune" in n
               for n in vllm), vllm
    plain = analyse("moves/base/model.py", profile="torch-compile", mode="aot-per-piece",
                    inductor_config=(), functorch_config=())
    assert not any("freezing" in n for n in plain.analysis.profile.notes)


def test_snapshot_keeps_a_digest_of_an_inlined_weight_never_its_values():
    from cachekey_cli import baseline
    run = _frozen("base", "torch-compile")
    text = baseline.dumps(baseline.build(run.analysis, "tuple_return"))
    gm = run.analysis.pieces[0].variants["tuple_return"].inductor_key.component_map()["gm"]
    line = re.search(r"# constant _frozen_param\d+ \(self\.bias\): float32\[4\] values "
                     r"[0-9a-f]{8}", gm.value or "")
    assert line, gm.value
    assert json.dumps(line.group(0))[1:-1] in text  # recorded in the snapshot
    module, _ = build("base")
    for value in module.bias.tolist():
        assert repr(value) not in text and f"{value:.6f}" not in text


def test_a_weight_inductor_does_not_inline_is_read_on_a_warm_start():
    """A (3, 4) frozen parameter is keyed by shape and dtype: the second model, with other
    values, hits the first one's FX entry, and the cached graph computes with its own values."""
    import torch
    from torch._dynamo.utils import counters

    path = tempfile.mkdtemp(prefix="freezing-warm-")
    old = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = path
    seen = []
    try:
        for folder in ("large_bias", "large_bias_weights"):
            module, args = build(folder)
            module.eval()
            torch._dynamo.reset()
            counters.clear()
            with torch._inductor.config.patch(freezing=True), torch.inference_mode():
                out = torch.compile(module)(*args)
                expected = module(*args)
            seen.append((dict(counters["inductor"]), torch.equal(out, expected)))
    finally:
        torch._dynamo.reset()
        if old is None:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = old
        shutil.rmtree(path, ignore_errors=True)
    (first, first_ok), (second, second_ok) = seen
    assert first.get("fxgraph_cache_miss") == 1 and first_ok
    assert second.get("fxgraph_cache_hit") == 1, second
    assert second_ok, "the cached graph reads the second model's weights"
