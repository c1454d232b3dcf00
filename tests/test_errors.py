"""Bad input: one line on stderr, the documented exit code, no traceback, nothing written."""

from __future__ import annotations

import json

import pytest

from cachekey_cli.cli import run_cli
from tests.conftest import fixture_path

CASES = {
    "missing file": ("nope/missing_model.py", "does not exist"),
    "directory": ("fixtures", "is a directory"),
    "syntax error": ("broken/syntax_error.py", "syntax error in"),
    "import error": ("broken/import_error.py", "No module named 'package_that_does_not_exist'"),
    "no factory": ("broken/no_factory.py", "has no factory function 'build'"),
    "factory raises": ("broken/factory_raises.py", "checkpoint path not configured"),
    "bad return": ("broken/bad_return.py", "must return (module, args)"),
    "forward fails": ("broken/forward_fails.py", "forward failed on the example inputs"),
    "unknown split op in file": ("broken/unknown_split_op.py", "unknown split op"),
    "unknown factory name": ("mlp.py:make_model", "has no factory function 'make_model'"),
}


def _target(rel: str) -> str:
    if rel == "fixtures":
        return fixture_path("")
    if rel.startswith("nope/"):
        return rel
    path, _, factory = rel.partition(":")
    return fixture_path(path) + (f":{factory}" if factory else "")


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_model_input(case, tmp_path, capsys):
    rel, needle = CASES[case]
    out = tmp_path / "report.json"
    code = run_cli(["diff", _target(rel), "--format", "json", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 3
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("cachekey: error: ") and " — " in lines[0]
    assert needle in lines[0]
    assert "Traceback" not in captured.err
    assert not out.exists()


def test_unknown_split_op_on_command_line(capsys):
    code = run_cli(["diff", fixture_path("mlp.py"), "--split-op", "nosuchns::attn"])
    err = capsys.readouterr().err
    assert code == 3 and "unknown split op 'nosuchns::attn'" in err


def test_bad_dotted_split_op(capsys):
    code = run_cli(["diff", fixture_path("mlp.py"), "--split-op", "torch.nn.functional.no_such_fn"])
    assert code == 3 and "unknown split op" in capsys.readouterr().err


def test_split_op_that_never_matches_warns(capsys):
    code = run_cli(["diff", fixture_path("mlp.py"), "--split-op", "aten::relu", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 1  # the single piece still drifts (bare return)
    assert "split op aten::relu never matched" in captured.out


def test_output_into_a_missing_folder_creates_it(tmp_path, capsys):
    target = tmp_path / "no" / "such" / "report.json"
    code = run_cli(["diff", fixture_path("mlp.py"), "--format", "json", "-o", str(target)])
    assert code in (0, 1), capsys.readouterr().err
    assert json.loads(target.read_text())["subgraphs"]


@pytest.mark.parametrize("where", ["directory", "parent-is-a-file"])
def test_unwritable_output_path(where, tmp_path, capsys):
    if where == "directory":
        target = tmp_path
    else:
        (tmp_path / "plain.txt").write_text("x")
        target = tmp_path / "plain.txt" / "report.json"
    code = run_cli(["diff", fixture_path("mlp.py"), "-o", str(target)])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("cachekey: error: ") and len(err.strip().splitlines()) == 1


def test_failed_run_keeps_previous_output(tmp_path, capsys):
    out = tmp_path / "report.json"
    out.write_text("previous report\n")
    code = run_cli(["diff", fixture_path("broken/factory_raises.py"), "-o", str(out)])
    assert code == 3
    assert out.read_text() == "previous report\n"


def test_traceback_flag_shows_the_stack(capsys):
    code = run_cli(["--traceback", "diff", fixture_path("broken/factory_raises.py")])
    err = capsys.readouterr().err
    assert code == 3 and "Traceback" in err and "ValueError" in err


def test_usage_error_is_exit_2(capsys):
    assert run_cli(["diff"]) == 2
    assert run_cli(["diff", fixture_path("mlp.py"), "--format", "yaml"]) == 2
    assert run_cli(["no-such-command"]) == 2


def test_bad_config_override_is_input_error(capsys):
    code = run_cli(["diff", fixture_path("mlp.py"), "--inductor-config", "no_such_flag=1"])
    assert code == 3 and "unknown inductor config key" in capsys.readouterr().err
    code = run_cli(["diff", fixture_path("mlp.py"), "--inductor-config", "fallback_random=maybe"])
    assert code == 3 and "bad value" in capsys.readouterr().err


@pytest.mark.parametrize(("target", "hint"), [
    ("fixtures/broken.py", "fix the model or the args returned by the factory"),
    ("vllm:./qwen3", "check the config.json and the serve arguments"),
])
def test_a_forward_that_fails_eagerly_points_at_what_built_the_model(target, hint):
    # a vllm: model has no factory: vLLM built it from a config.json and serve arguments
    import torch

    from cachekey_cli.analysis.capture import _classify_failure
    from cachekey_cli.errors import InputError
    from cachekey_cli.sources.model import LoadedModel, ModelSpec

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise ValueError("bad shape")

    model = LoadedModel(ModelSpec(target=target, factory="build", is_file=False), Broken(),
                        (torch.ones(2),), {}, None)
    error = _classify_failure(model, RuntimeError("dynamo"))
    assert isinstance(error, InputError) and "bad shape" in str(error)
    assert hint in error.hint
