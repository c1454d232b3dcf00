"""The Python API: the results the CLI renders, options checked by name, no torch at import."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys

import pytest

import cachekey_cli
from cachekey_cli import api
from cachekey_cli.analysis import pipeline
from cachekey_cli.cli import run_cli
from cachekey_cli.errors import InputError
from tests.conftest import FIXTURES, ROOT, fixture_path


def test_import_and_attribute_access_do_not_import_torch():
    code = (
        "import sys, cachekey_cli\n"
        "fns = (cachekey_cli.analyze, cachekey_cli.snapshot, cachekey_cli.check, "
        "cachekey_cli.report)\n"
        "print('torch' in sys.modules, [f.__name__ for f in fns])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False ['analyze', 'snapshot', 'check', 'report']"


def test_analyze_returns_what_diff_renders(transformer_run, capsys):
    result = cachekey_cli.analyze(str(FIXTURES / "transformer.py"))
    assert type(result).__name__ == "DiffResult" and dataclasses.is_dataclass(result)
    ours = [(p.id, p.variants["tuple_return"].aot_key.key) for p in result.analysis.pieces]
    theirs = [(p.id, p.variants["tuple_return"].aot_key.key)
              for p in transformer_run.analysis.pieces]
    assert ours == theirs
    assert run_cli(["diff", fixture_path("transformer.py"), "--format", "markdown"]) == 1
    cli = capsys.readouterr().out
    # the same report but for the source path as given; the CLI adds its dedup section
    ours = api.report(result, "markdown").replace(str(FIXTURES / "transformer.py"),
                                                  fixture_path("transformer.py"))
    head, dedup, _ = cli.partition("#### Dedup: compile units")
    assert dedup and ours.startswith(head) and "### cachekey diff" in head


def test_a_module_tuple_keys_like_its_file():
    spec = importlib.util.spec_from_file_location("mlp_for_api", FIXTURES / "mlp.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    module, args = mod.build()
    from_tuple = cachekey_cli.analyze((module, args))
    from_file = cachekey_cli.analyze(str(FIXTURES / "mlp.py"))
    assert from_tuple.analysis.model.source == "Sequential"
    assert from_tuple.analysis.model.factory == "object"
    for kind in ("aot_key", "inductor_key"):
        assert [p.variants["tuple_return"].key(kind).key for p in from_tuple.analysis.pieces] == [
            p.variants["tuple_return"].key(kind).key for p in from_file.analysis.pieces]


def test_every_options_field_is_a_keyword_and_nothing_else():
    fields = [f.name for f in dataclasses.fields(pipeline.Options) if f.name != "model"]
    assert list(api.option_names()) == fields
    with pytest.raises(TypeError) as info:
        api.make_options("m.py", split_op="x", nope=1)
    assert str(info.value) == f"unknown options nope, split_op; valid options: {', '.join(fields)}"
    opts = api.make_options("m.py", split_ops="mylib::attn", inductor_config=["a=1", "b=2"],
                            init="meta", seq_len=8)
    assert opts.split_ops == ("mylib::attn",) and opts.inductor_config == ("a=1", "b=2")
    assert (opts.model, opts.init, opts.seq_len) == ("m.py", "meta", 8)
    with pytest.raises(TypeError, match="model must be a spec string"):
        api.make_options(42)


def test_snapshot_check_and_report_match_the_cli(tmp_path, capsys):
    mlp = fixture_path("mlp.py")
    path = tmp_path / "mlp.json"
    snap = cachekey_cli.snapshot(mlp, path, inductor_config="fallback_random=True")
    assert snap.model_id == "mlp.py:build" and path.exists()
    assert snap.config_overrides == {"inductor.fallback_random": "True"}
    # the CLI accepts the API's baseline, and both see the same drift
    assert run_cli(["check", mlp, "--baseline", str(path), "--width", "100"]) == 1
    cli = capsys.readouterr().out
    result = cachekey_cli.check(mlp, path)
    assert result.exit_code == 1 and result.categories == ("config",)
    assert cachekey_cli.report(result, width=100) == cli
    same = cachekey_cli.check(mlp, path, inductor_config=("fallback_random=True",))
    assert same.exit_code == 0 and not same.drifted
    assert cachekey_cli.check(mlp, path, allow=["config"]).exit_code == 0


def test_check_refuses_another_models_baseline(tmp_path):
    path = tmp_path / "mlp.json"
    cachekey_cli.snapshot(fixture_path("mlp.py"), path)
    with pytest.raises(InputError, match="is of model mlp.py:build, not multi_output.py"):
        cachekey_cli.check(fixture_path("multi_output.py"), path)
    with pytest.raises(cachekey_cli.InputError, match="does not exist"):
        cachekey_cli.check(fixture_path("mlp.py"), tmp_path / "missing.json")
