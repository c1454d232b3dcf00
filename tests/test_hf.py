"""hf: models: tiny Hugging Face configs of seven architectures, built offline and keyed.

Each config (tests/hf_configs.py) is written to a folder once per session and
analysed once (meta init, 16 tokens). transformers comes with the test extra;
without it these tests are skipped, except the one that checks the error.
"""

from __future__ import annotations

import json
import socket
import sys

import pytest

from cachekey_cli import sources
from cachekey_cli.analysis import pipeline
from cachekey_cli.baseline import model_name
from cachekey_cli.cli import run_cli
from cachekey_cli.errors import InputError
from cachekey_cli.sources import hf
from tests.hf_configs import CONFIGS, write

try:
    import transformers  # noqa: F401

    HAVE_TRANSFORMERS = True
except ImportError:  # pragma: no cover - the test extra installs it
    HAVE_TRANSFORMERS = False

needs_transformers = pytest.mark.skipif(
    not HAVE_TRANSFORMERS, reason="transformers is not installed (pip install -e '.[hf]')"
)

CLASSES = {
    "llama": "LlamaForCausalLM",
    "qwen2": "Qwen2ForCausalLM",
    "mistral": "MistralForCausalLM",
    "gemma": "GemmaForCausalLM",
    "phi3": "Phi3ForCausalLM",
    "gpt2": "GPT2LMHeadModel",
    "mixtral": "MixtralForCausalLM",
    "qwen2_moe": "Qwen2MoeForCausalLM",
}
_RUNS: dict[tuple[str, str], pipeline.Run] = {}


@pytest.fixture(scope="session")
def hf_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    for arch in CONFIGS:
        write(arch, root / arch)
    return root


def hf_run(root, arch: str, init: str = "auto") -> pipeline.Run:
    key = (arch, init)
    if key not in _RUNS:
        _RUNS[key] = pipeline.run(pipeline.Options(model=f"hf:{root / arch}", init=init))
    return _RUNS[key]


@needs_transformers
@pytest.mark.parametrize("arch", sorted(CLASSES))
def test_each_architecture_splits_per_layer_and_keys_every_piece(hf_root, arch):
    from cachekey_cli import torchapi

    a = hf_run(hf_root, arch).analysis
    assert a.model.factory == CLASSES[arch] and a.model.source == f"hf:{hf_root / arch}"
    assert len(a.graphs) == 1, a.graphs  # no graph break anywhere in the forward
    # two layers: [embed + layer 0 up to attention] attn [rest of 0, 1 up to attn] attn [rest]
    assert [p.splitting_op for p in a.pieces] == [False, True, False, True, False]
    assert a.model.matched_ops == ("torch.nn.functional.scaled_dot_product_attention",)
    for p in a.pieces:
        if p.splitting_op:
            continue
        keys = p.variants["tuple_return"]
        assert keys.inductor_key.key is not None, (p.id, keys.inductor_key.refusal)
        refusal = keys.aot_key.refusal
        if keys.aot_key.key is None:  # only autocast may stop the AOT cache, and only on 2.13
            assert "_enter_autocast" in str(refusal), refusal
            assert not torchapi.aot_cache_accepts_autocast()
    # the first piece takes the token ids: a batch of one sequence of 16
    inputs = hf_run(hf_root, arch).raw[(0, "submod_0", "tuple_return")].inputs
    ids = [x for x in inputs if getattr(x, "dtype", None) is not None and not x.is_floating_point()]
    assert [tuple(x.shape) for x in ids] == [(1, 16)], [getattr(x, "shape", x) for x in inputs]


@needs_transformers
def test_meta_init_keys_equal_real_weights(hf_root):
    """Uninitialized CPU storage (the default) keys exactly like materialized random weights."""
    meta = hf_run(hf_root, "qwen2")
    real = hf_run(hf_root, "qwen2", init="real")
    for p, q in zip(meta.analysis.pieces, real.analysis.pieces, strict=True):
        for kind in ("graph_hash", "aot_key", "inductor_key"):
            assert p.variants["tuple_return"].key(kind).key == q.variants[
                "tuple_return"].key(kind).key, (p.id, kind)


@needs_transformers
def test_dedup_on_a_qwen2_config_folder(tmp_path, capsys):
    """`cachekey dedup hf:DIR`: four identical layers share their keys."""
    folder = write("qwen2", tmp_path / "qwen2-4", num_hidden_layers=4)
    code = run_cli(["dedup", f"hf:{folder}", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    tuple_return = doc["variants"]["tuple_return"]
    assert tuple_return["pieces"] == 9 and tuple_return["compiled"] == 5
    assert tuple_return["unique"]["aot_key"] == 3  # layers 1-2 and 2-3 share one key
    assert tuple_return["missed"] == []


@needs_transformers
def test_seq_len_and_architecture_name_reach_the_model(hf_root):
    module, arch, args, kwargs = hf.build(f"hf:{hf_root / 'gpt2'}", "meta", 5)
    assert arch == "GPT2LMHeadModel" and tuple(args[0].shape) == (1, 5)
    assert kwargs == {"use_cache": False}
    assert next(module.parameters()).is_meta  # the caller gives it storage (materialize)
    loaded = sources.load(f"hf:{hf_root / 'gpt2' / 'config.json'}", seq_len=5)
    assert not next(loaded.module.parameters()).is_meta
    assert tuple(loaded.args[0].shape) == (1, 5) and loaded.spec.factory == "GPT2LMHeadModel"


@needs_transformers
def test_no_architectures_gives_the_base_model(tmp_path):
    config = {k: v for k, v in CONFIGS["qwen2"].items() if k != "architectures"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    _module, arch, _args, _kwargs = hf.build(f"hf:{tmp_path}", "meta", None)
    assert arch == "Qwen2Model"


def test_names_in_snapshots_drop_the_folders(tmp_path):
    folder = write("qwen2", tmp_path / "qwen2-tiny")
    assert model_name(f"hf:{folder}") == "hf:qwen2-tiny"
    assert model_name(f"hf:{folder / 'config.json'}") == "hf:qwen2-tiny"
    assert model_name("hf:Qwen/Qwen2-0.5B") == "hf:Qwen/Qwen2-0.5B"


@pytest.mark.parametrize(
    ("spec", "needle", "hint"),
    [
        ("hf:", "hf: needs a folder", "hf:./qwen2-config"),
        ("hf:no/such/folder", "does not exist", "ORG/NAME of a cached model"),
        ("hf:{tmp}", "has no config.json", "holds the model's config"),
    ],
)
def test_bad_paths_are_input_errors(tmp_path, spec, needle, hint):
    with pytest.raises(InputError) as info:
        hf.resolve(spec.format(tmp=tmp_path))
    assert needle in info.value.message and hint in info.value.hint


@needs_transformers
def test_org_name_comes_from_the_local_cache_and_never_the_network(tmp_path, monkeypatch):
    from huggingface_hub import constants

    snap = tmp_path / "models--tiny-org--qwen2" / "snapshots" / "0123abcd"
    write("qwen2", snap)
    (tmp_path / "models--tiny-org--qwen2" / "refs").mkdir()
    (tmp_path / "models--tiny-org--qwen2" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("cachekey tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    found = hf.resolve("hf:tiny-org/qwen2")
    assert found.config_path == str(snap / "config.json") and found.cached_repo == "tiny-org/qwen2"
    assert hf.read_config(found).model_type == "qwen2"
    with pytest.raises(InputError) as info:
        hf.resolve("hf:tiny-org/not-cached")
    assert "not in the local Hugging Face cache" in info.value.message
    assert "never downloads" in info.value.hint


@needs_transformers
def test_unknown_model_type_and_non_causal_architecture(tmp_path, capsys):
    write("qwen2", tmp_path / "a", model_type="no_such_model_type")
    write("qwen2", tmp_path / "b", architectures=["Qwen2ForSequenceClassification"])
    assert run_cli(["diff", f"hf:{tmp_path / 'a'}"]) == 3
    assert run_cli(["diff", f"hf:{tmp_path / 'b'}"]) == 3
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert "does not know model_type 'no_such_model_type'" in lines[0]
    assert "names architecture Qwen2ForSequenceClassification, not a causal LM" in lines[1]


def test_without_transformers_one_line_names_the_extra(tmp_path, monkeypatch, capsys):
    write("qwen2", tmp_path)
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers fails
    assert run_cli(["diff", f"hf:{tmp_path}"]) == 3
    err = capsys.readouterr().err
    assert err == (
        "cachekey: error: hf: models need transformers, which is not installed — install the "
        "extra: pip install 'cachekey-cli[hf]'\n"
    )


def test_seq_len_is_only_for_hf_models(capsys):
    from tests.conftest import fixture_path

    assert run_cli(["diff", fixture_path("mlp.py"), "--seq-len", "8"]) == 3
    assert "--seq-len is for hf: models" in capsys.readouterr().err
