"""``check --cache`` on small Hugging Face models (needs transformers; skipped without it).

As tests/test_cache_hits.py, on fixtures/hf_small.py: a real ``torch.compile`` of
the Llama (or GPT-2) into a fresh cache, then each perturbation predicted and
counted by a real warm compile, Dynamo graph by Dynamo graph.
"""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from tests.baseline_support import fixture_arg  # noqa: E402
from tests.test_cache_hits import _truth  # noqa: E402

pytestmark = pytest.mark.compile

HF = fixture_arg("hf_small.py")


@pytest.fixture(scope="session")
def llama_cache(tmp_path_factory):
    from tests.conftest import _cold_inductor_cache

    return _cold_inductor_cache(tmp_path_factory, f"{HF}:llama")


@pytest.fixture(scope="session")
def gpt2_cache(tmp_path_factory):
    from tests.conftest import _cold_inductor_cache

    return _cold_inductor_cache(tmp_path_factory, f"{HF}:gpt2")


CASES = [("", (), "hit"), ("_eps", (), "miss"), ("_bf16", (), "miss"),
         ("", ("fallback_random=True",), "miss")]


@pytest.mark.parametrize(("suffix", "flags", "word"), CASES, ids=["same", "eps", "bf16", "flag"])
def test_llama_prediction_equals_warm_counters(llama_cache, suffix, flags, word, tmp_path,
                                               capsys, monkeypatch):
    _, got, _ = _truth(tmp_path, llama_cache, f"{HF}:llama{suffix}", flags, capsys, monkeypatch)
    assert set(got) == {word}


@pytest.mark.parametrize(("suffix", "flags", "word"), CASES, ids=["same", "eps", "bf16", "flag"])
def test_gpt2_prediction_equals_warm_counters(gpt2_cache, suffix, flags, word, tmp_path,
                                              capsys, monkeypatch):
    _, got, _ = _truth(tmp_path, gpt2_cache, f"{HF}:gpt2{suffix}", flags, capsys, monkeypatch)
    assert set(got) == {word}
