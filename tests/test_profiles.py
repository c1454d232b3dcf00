"""Profiles, dynamic dimensions and single sizes, as users meet them on the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cachekey_cli.analysis import pipeline
from cachekey_cli.cli import run_cli
from cachekey_cli.vllm.compile import mode as cache_mode
from tests.baseline_support import fixture_arg, memo_pipeline
from tests.conftest import FIXTURES, analyse


def test_unknown_profile_is_a_usage_error_listing_the_names(capsys):
    assert run_cli(["diff", fixture_arg("mlp.py"), "--profile", "sglang"]) == 2
    err = capsys.readouterr().err
    assert "'vllm'" in err and "'torch-compile'" in err


def test_profile_names_are_the_ones_the_cli_offers():
    from cachekey_cli.analysis import profiles
    from cachekey_cli.cli import group

    assert group.PROFILES == profiles.NAMES
    for name in profiles.NAMES:
        assert profiles.get(name).name == name
    with pytest.raises(Exception) as err:
        profiles.get("sglang")
    assert "use one of: vllm, torch-compile" in err.value.one_line()


@pytest.mark.parametrize(
    ("env", "name", "aot", "mega"),
    [
        ({}, "aot-compile+mega-artifact", True, True),
        ({"VLLM_USE_MEGA_AOT_ARTIFACT": "0"}, "aot-compile, per-piece artifacts", True, False),
        ({"VLLM_USE_AOT_COMPILE": "0"}, "no aot-compile, per-piece artifacts", False, False),
        ({"VLLM_DISABLE_COMPILE_CACHE": "1"}, "no aot-compile, per-piece artifacts", False, False),
        # the backend reads the mega variable by itself: pieces still compile with aot=True
        ({"VLLM_USE_AOT_COMPILE": "0", "VLLM_USE_MEGA_AOT_ARTIFACT": "1"},
         "no aot-compile, mega-artifact pieces", False, True),
    ],
)
def test_cache_mode_is_read_as_vllm_reads_it(env, name, aot, mega):
    mode = cache_mode.read_mode((2, 13), env)
    assert (mode.name, mode.aot_compile, mode.mega) == (name, aot, mega)
    # vLLM's defaults follow the torch release: no AOT compile before 2.10, no mega before 2.12
    assert not cache_mode.read_mode((2, 9), {}).aot_compile
    assert not cache_mode.read_mode((2, 11), {}).mega


def test_profile_is_recorded_and_its_settings_are_listed(transformer_run):
    info = transformer_run.analysis.profile
    assert info.name == "vllm" and info.cache_mode == "aot-compile, per-piece artifacts"
    assert info.settings["inductor.enable_auto_functionalized_v2"] == "False"
    assert "'pre_grad_custom_pass'" in info.settings["inductor._cache_config_ignore_prefix"]
    assert info.settings["functorch.autograd_cache_normalize_inputs"] == "True"
    assert info.settings["standalone_compile.dynamic_shapes"] == "from_graph"
    assert any("PostGradPassManager" in x for x in info.not_reproduced)


def test_profiles_give_different_keys_and_json_says_which(capsys):
    assert run_cli(["diff", fixture_arg("mlp.py"), "--format", "json"]) in (0, 1)
    vllm = json.loads(capsys.readouterr().out)
    assert run_cli(["diff", fixture_arg("mlp.py"), "--format", "json", "--profile",
                    "torch-compile"]) == 0
    tc = json.loads(capsys.readouterr().out)
    assert vllm["profile"]["name"] == "vllm" and tc["profile"]["name"] == "torch-compile"
    assert [s["id"] for s in tc["subgraphs"]] == ["g0/graph"]
    assert vllm["subgraphs"][0]["variants"]["tuple_return"]["aot_key"] != \
        tc["subgraphs"][0]["variants"]["tuple_return"]["aot_key"]


def test_torch_compile_diff_says_there_is_no_second_variant(capsys):
    assert run_cli(["diff", fixture_arg("mlp.py"), "--profile", "torch-compile",
                    "--width", "100"]) == 0
    out = capsys.readouterr().out
    assert "torch.compile keys" in out and "no second variant to compare" in out
    assert "plain" not in out.split("Dedup")[0].split("╯")[-1]  # no plain column
    # torch.compile hands the shape env to every graph; the inputs here are still static
    assert "shapes   static" in out and "symbolic" not in out


def test_torch_compile_header_says_symbolic_where_dynamo_captured_symbols(capsys):
    assert run_cli(["diff", fixture_arg("dynamic_shapes.py"), "--profile", "torch-compile",
                    "--width", "100"]) == 0
    assert "shapes   symbolic (as Dynamo captured them)" in capsys.readouterr().out


def test_profile_change_between_baseline_and_current_is_config_drift(tmp_path, monkeypatch,
                                                                     capsys):
    memo_pipeline(monkeypatch)
    base = tmp_path / "base.json"
    assert run_cli(["snapshot", fixture_arg("mlp.py"), "-o", str(base)]) == 0
    before = base.read_bytes()
    code = run_cli(["check", fixture_arg("mlp.py"), "--baseline", str(base), "--profile",
                    "torch-compile", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and base.read_bytes() == before
    assert report["summary"]["categories"] == ["config"]
    assert "config profile: vllm → torch-compile" in report["context"]


def test_dynamic_dim_marks_the_token_dimension():
    run = analyse("transformer.py", dynamic_dims=("0:1",))
    assert run.analysis.model.dynamic_dims == ("0:1",)
    static = analyse("transformer.py")
    first = [p for p in run.analysis.pieces if not p.splitting_op][0]
    first_static = [p for p in static.analysis.pieces if not p.splitting_op][0]
    inputs = first.variants["tuple_return"].aot_key.component_map()["example_inputs[0]"].value
    static_inputs = first_static.variants["tuple_return"].aot_key.component_map()
    assert inputs != static_inputs["example_inputs[0]"].value
    assert first.variants["tuple_return"].aot_key.key != \
        first_static.variants["tuple_return"].aot_key.key


def test_dynamic_dims_from_the_model_file_equal_the_option(tmp_path):
    model = tmp_path / "marked.py"
    model.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(FIXTURES)!r})\n"
        "from transformer import build\n"
        'DYNAMIC_DIMS = ["0:1"]\n'
    )
    run = pipeline.run(pipeline.Options(model=str(model)))
    option = analyse("transformer.py", dynamic_dims=("0:1",))
    assert [p.variants["tuple_return"].aot_key.key for p in run.analysis.pieces] == \
        [p.variants["tuple_return"].aot_key.key for p in option.analysis.pieces]


@pytest.mark.parametrize(
    ("arg", "code", "message"),
    [
        ("1", 2, "is not ARG:DIM"),
        ("x:y", 2, "is not ARG:DIM"),
        ("5:0", 3, "the factory returns 1 positional args"),
        ("0:7", 3, "the tensor has 2 dimensions"),
        ("mask:0", 3, "no keyword argument 'mask'"),
    ],
)
def test_bad_dynamic_dims_are_one_line_errors(arg, code, message, capsys):
    assert run_cli(["diff", fixture_arg("mlp.py"), "--dynamic-dim", arg]) == code
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("cachekey: error:")


def test_compile_sizes_add_single_size_keys_and_snapshots_record_them(monkeypatch):
    monkeypatch.setenv("VLLM_ENABLE_INDUCTOR_MAX_AUTOTUNE", "0")
    monkeypatch.setenv("VLLM_ENABLE_INDUCTOR_COORDINATE_DESCENT_TUNING", "0")
    run = pipeline.run(pipeline.Options(
        model=str(FIXTURES / "custom_op_attention.py"), dynamic_dims=("0:1",),
        compile_sizes=(4, 8),
    ))
    compiled = [p for p in run.analysis.pieces if not p.splitting_op]
    for p in compiled:
        assert sorted(p.sizes) == [4, 8]
        four, eight = p.sizes[4].aot_key, p.sizes[8].aot_key
        assert four.key and eight.key and four.key != eight.key
        assert four.key != p.variants["tuple_return"].aot_key.key
        # vLLM's single-size tuning flags are set explicitly (here to False, from its env)
        assert four.component_map()["inductor_config[max_autotune]"].value == "False"
    from cachekey_cli import baseline

    snap = baseline.build(run.analysis)
    assert set(snap["subgraphs"][0]["sizes"]) == {"4", "8"}


def test_compile_size_keys_equal_the_vllm_path(monkeypatch):
    """vLLM's single-size compile: concrete fake inputs, from_example_inputs, its tuning flags
    (turned off here through vLLM's own variables, to keep the compile cheap)."""
    monkeypatch.setenv("VLLM_ENABLE_INDUCTOR_MAX_AUTOTUNE", "0")
    monkeypatch.setenv("VLLM_ENABLE_INDUCTOR_COORDINATE_DESCENT_TUNING", "0")
    from tests.oracles import vllm_path
    from tests.test_truth import _build

    run = pipeline.run(pipeline.Options(
        model=str(FIXTURES / "custom_op_attention.py"), dynamic_dims=("0:1",),
        compile_sizes=(8,),
    ))
    module, args, split = _build("custom_op_attention.py")
    real = vllm_path.piece_keys(module, args, split, mode="aot-per-piece", dynamic=((0, 1),),
                                size=8)
    compiled = [p for p in run.analysis.pieces if not p.splitting_op]
    assert len(real) == len(compiled) == 3
    for p in compiled:
        assert real[(p.graph, p.name)]["aot_key"] == [p.sizes[8].aot_key.key], p.id
        assert real[(p.graph, p.name)]["inductor_key"] == [p.sizes[8].inductor_key.key], p.id


def test_help_imports_no_torch():
    code = ("import sys; from cachekey_cli.cli import cli; "
            "sys.argv=['cachekey', '--help']\n"
            "try:\n    cli.main(standalone_mode=False)\nexcept SystemExit: pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                   env={**os.environ, "PYTHONPATH": str(FIXTURES.parent)})
