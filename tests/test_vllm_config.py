"""--vllm-config and the vllm profile where vLLM is not importable (this environment).

The vLLM side of the same features is proven against real vLLM runs in
tests/real_vllm/ (``make test-vllm``).
"""

from __future__ import annotations

import json

import pytest

from cachekey_cli.cli import run_cli
from cachekey_cli.vllm import probe
from tests.baseline_support import fixture_arg

pytestmark = pytest.mark.skipif(
    probe.installed(), reason="vLLM is installed: see tests/real_vllm/"
)


def test_vllm_config_needs_vllm_and_says_so(tmp_path, capsys):
    cfg = tmp_path / "vllm.json"
    cfg.write_text(json.dumps({"compilation_config": {"compile_sizes": []}}))
    code = run_cli(["diff", fixture_arg("mlp.py"), "--vllm-config", str(cfg)])
    err = capsys.readouterr().err.strip()
    assert code == 3
    assert err == ("cachekey: error: --vllm-config needs vLLM, and vLLM is not installed — "
                   "run cachekey where vLLM is installed, or drop --vllm-config")


MODELS = "fixtures/vllm/models"


@pytest.mark.parametrize("command", [["diff"], ["snapshot", "-o", "x.json"], ["dedup"],
                                     ["check", "--cache", "CACHE"]])
def test_a_vllm_model_needs_vllm_and_says_so_in_one_line(command, tmp_path, capsys,
                                                         monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)
    cache = str(ROOT / "fixtures" / "vllm_cache" / "artifacts-a")
    rest = [cache if x == "CACHE" else x for x in command[1:]]
    code = run_cli([command[0], f"vllm:{ROOT / MODELS / 'tiny-llama'}", *rest, "--",
                    "--max-num-batched-tokens", "2048"])
    err = capsys.readouterr().err.strip()
    assert code == 3, err
    assert err == ("cachekey: error: the vllm: model source needs vLLM 0.33.0 installed, and "
                   "it is not installed — run cachekey where vLLM is installed "
                   "(pip install vllm==0.33.0)")
    assert not (tmp_path / "x.json").exists()


def test_serve_arguments_and_platform_are_for_vllm_models(capsys):
    code = run_cli(["diff", fixture_arg("mlp.py"), "--", "--dtype", "bfloat16"])
    assert code == 2 and "serve arguments after -- are for vllm: models" in capsys.readouterr().err
    code = run_cli(["diff", fixture_arg("mlp.py"), "--platform", "cuda"])
    assert code == 2 and "--platform is for vllm: models" in capsys.readouterr().err


def test_a_missing_vllm_kernel_is_named():
    from cachekey_cli.vllm.models import _missing_kernel

    said = AttributeError("'_OpNamespace' '_C' object has no attribute 'gelu_new'")
    assert _missing_kernel(said) == "gelu_new"
    assert _missing_kernel(AttributeError("'Linear' object has no attribute 'x'")) is None


def test_vllm_config_is_for_the_vllm_profile(tmp_path, capsys):
    code = run_cli(["diff", fixture_arg("mlp.py"), "--profile", "torch-compile",
                    "--vllm-config", str(tmp_path / "x.json")])
    assert code == 2
    assert "--vllm-config is for --profile vllm" in capsys.readouterr().err


def test_without_vllm_the_profile_is_the_torch_side_and_says_what_is_missing(transformer_run):
    assert probe.probe() == probe.Probe(None)
    info = transformer_run.analysis.profile
    assert info.client == "vLLM 0.33.0 (torch side; vLLM not importable)"
    assert info.vllm_version is None and info.not_reproduced
    assert info.hash_folder is None and info.aot_compile_folder is None
    assert not info.folder_factors  # no folder is claimed without vLLM's own factors


def test_an_unchecked_vllm_release_gets_one_warning():
    from cachekey_cli.vllm.compile.installed import InstalledVllmProfile

    for checked in ("0.32.0", "0.33.0", "0.34.0"):
        assert InstalledVllmProfile(checked, None).warnings() == []
    (warning,) = InstalledVllmProfile("0.34.1", None).warnings()
    assert warning.startswith("vLLM 0.34.1 is newer than the newest release checked (0.32.0, "
                              "0.33.0, 0.34.0): vLLM 0.34.0's cache rules assumed")
    assert "\n" not in warning


def test_the_header_names_vllm_its_mode_range_and_folders(transformer_run):
    """How a report made with vLLM importable reads (its ProfileInfo: tests/real_vllm/)."""
    import dataclasses

    from cachekey_cli.compare.components import diff
    from cachekey_cli.render.diff import markdown as diff_markdown
    from cachekey_cli.render.diff import rich as diff_rich

    info = dataclasses.replace(
        transformer_run.analysis.profile, client="vLLM 0.33.0 (importable)",
        compile_range="[1, 2048]", not_reproduced=(), vllm_version="0.33.0",
        hash_folder="9cba4f2ddb", aot_compile_folder="27d32074b962" + "0" * 52,
        folder_factors={"rank_folder": "rank_0_0", "prefix": "backbone"})
    result = diff(dataclasses.replace(transformer_run.analysis, profile=info))
    text = diff_rich.render(result, width=140, color=False)
    assert "vLLM 0.33.0 (importable)" in text and "not reproduced" not in text
    assert "aot-compile, per-piece artifacts; range [1, 2048]" in text
    assert "vllm folder  torch_compile_cache/9cba4f2ddb/rank_0_0/backbone;" in text
    assert "torch_compile_cache/torch_aot_compile/27d32074b962" in text
    md = diff_markdown.render(result)
    assert "(vLLM 0.33.0 (importable)) · vLLM mode `aot-compile, per-piece artifacts` · " \
        "range [1, 2048]" in md
    assert "vLLM folder: `torch_compile_cache/9cba4f2ddb/rank_0_0/backbone;" in md


def test_an_inspection_failure_is_named_by_its_last_exception_line():
    # vLLM's registry logs the subprocess's traceback and carries on; the cause is the last
    # "SomeError: message" line of it
    from cachekey_cli.vllm.config.from_serve import inspection_cause

    logged = ("Error raised in subprocess:\nTraceback (most recent call last):\n"
              '  File "x.py", line 3, in <module>\n    raise NotImplementedError(...)\n'
              "NotImplementedError: Mistral Large 4 is only supported on NVIDIA and AMD GPUs.\n")
    assert inspection_cause([logged]) == (
        "NotImplementedError: Mistral Large 4 is only supported on NVIDIA and AMD GPUs.")
    assert inspection_cause(["no traceback here"]) is None
    assert inspection_cause([]) is None
