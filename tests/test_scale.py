"""Scale: ``--init meta`` and the key memos must never change a key.

* ``--init meta`` (weights built on the meta device, then given uninitialized
  CPU storage) yields exactly the keys that real tensors of the same metadata give.
* The Keyer's memos (Inductor key per AOT key, AOT components per AOT key)
  yield exactly the keys of keying every piece from scratch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cachekey_cli import sources
from cachekey_cli.analysis import keys, pipeline
from cachekey_cli.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
SMALL_LLAMA = f"{ROOT / 'fixtures' / 'llama.py'}:build_4"


def _keys(run: pipeline.Run) -> dict[tuple[str, str, str], tuple]:
    out = {}
    for piece in run.analysis.pieces:
        for variant, vk in piece.variants.items():
            for kind in ("graph_hash", "aot_key", "inductor_key"):
                k = vk.key(kind)
                comps = tuple((c.name, c.hash) for c in k.components)
                out[(piece.id, variant, kind)] = (k.key, comps, k.refusal)
    return out


@pytest.fixture(scope="module")
def llama_runs() -> tuple[pipeline.Run, pipeline.Run]:
    real = pipeline.run(pipeline.Options(model=SMALL_LLAMA))
    meta = pipeline.run(pipeline.Options(model=SMALL_LLAMA, init="meta"))
    return real, meta


def test_meta_init_gives_the_keys_real_tensors_give(llama_runs):
    real, meta = llama_runs
    real_keys, meta_keys = _keys(real), _keys(meta)
    assert real_keys.keys() == meta_keys.keys()
    assert real_keys == meta_keys
    compiled = [v for (_, _, kind), v in real_keys.items() if kind == "inductor_key" and v[0]]
    assert compiled, "the model must have compiled pieces with Inductor keys"


def test_meta_init_materializes_on_cpu_without_compute():
    model = sources.load(SMALL_LLAMA, init="meta")
    tensors = [*model.module.parameters(), *model.module.buffers()]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    (ids,) = model.args
    assert ids.device.type == "cpu" and ids.dtype == torch.long
    assert int(ids.abs().sum()) == 0  # integer inputs are zero-filled, so indexing stays safe
    real = sources.load(SMALL_LLAMA)
    assert [(n, p.shape, p.dtype, p.stride()) for n, p in model.module.named_parameters()] == [
        (n, p.shape, p.dtype, p.stride()) for n, p in real.module.named_parameters()
    ]


def test_init_option_is_validated():
    with pytest.raises(InputError):
        sources.load(SMALL_LLAMA, init="bogus")


def test_memoized_keys_equal_unmemoized(llama_runs):
    real, _ = llama_runs
    timings = real.analysis.timings
    assert timings["inductor_keys_reused"] > 0, "the memo must have been exercised"
    fresh = {}
    with torch.inference_mode():
        for (gi, name, variant), raw in real.raw.items():
            vk = keys.Keyer(memo=False).key_piece(raw, variant)
            for kind in ("graph_hash", "aot_key", "inductor_key"):
                k = vk.key(kind)
                fresh[(f"g{gi}/{name}", variant, kind)] = (
                    k.key,
                    tuple((c.name, c.hash) for c in k.components),
                    k.refusal,
                )
    assert fresh == _keys(real)


def test_key_cost_timings_are_reported(llama_runs):
    timings = llama_runs[0].analysis.timings
    for name in ("aot_key_ms_median", "aot_key_ms_first", "inductor_key_ms_first"):
        assert timings[name] > 0


def test_progress_is_silent_without_a_tty_and_with_quiet(monkeypatch, capsys):
    import sys

    from cachekey_cli.cli import group as cli
    from cachekey_cli.progress import ProgressReporter

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert not cli.build_progress(cli.Globals()).enabled
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert not cli.build_progress(cli.Globals(quiet=True)).enabled
    assert cli.build_progress(cli.Globals()).enabled
    with ProgressReporter(enabled=False) as progress:
        for stage in ("load", "trace", "key"):
            progress.update(stage, 0, 3)
            progress.update(stage, 3, 3)
    assert capsys.readouterr() == ("", "")


def test_json_meta_carries_stage_timings_and_key_cost(transformer_run):
    from cachekey_cli import compare
    from cachekey_cli.render.diff import json as diff_json

    meta = diff_json.to_dict(compare.diff(transformer_run.analysis))["meta"]["timings"]
    for stage in ("import_torch", "load", "trace", "split", "key"):
        assert meta[stage] >= 0
    assert meta["aot_key_ms_first"] > 0
    assert "pieces_keyed_once_for_both_variants" in meta
