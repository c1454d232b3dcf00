"""--vllm-config where vLLM is importable: vLLM's own classes judge the file; no stray import.

Runs in the vLLM environment (``make test-vllm``); the first test pays for
``import vllm`` (about 20 s), the others reuse it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cachekey_cli.cli import run_cli
from cachekey_cli.vllm import probe

ROOT = Path(__file__).resolve().parents[2]
MLP = str(ROOT / "fixtures" / "mlp.py")

pytestmark = pytest.mark.skipif(
    not probe.installed(), reason="vLLM is not importable: make test-vllm"
)


def test_importing_cachekey_imports_no_vllm():
    code = ("import sys, cachekey_cli, cachekey_cli.cli, cachekey_cli.analysis.profiles; "
            "from cachekey_cli.vllm import probe; "
            "from cachekey_cli.vllm.compile import installed, live; "
            "from cachekey_cli.vllm.config import from_file, from_serve; "
            "print(sorted(m for m in sys.modules if m == 'vllm' or m.startswith('vllm.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_probe_finds_the_installed_vllm():
    import vllm

    from cachekey_cli.vllm import probe

    assert probe.probe() == probe.Probe(vllm.__version__)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"compilation_config": {"bogus": 1}},
         "compilation_config.bogus: Unexpected keyword argument"),
        ({"compilation_config": {"pass_config": {"fuse_nothing": True}}},
         "compilation_config.pass_config.fuse_nothing: Unexpected keyword argument"),
        ({"compilation_config": {"compile_sizes": "eight"}},
         "compilation_config.compile_sizes: Input should be a valid"),
        ({"no_such_config": {}}, "'no_such_config' is not a VllmConfig field"),
        ([1, 2], "is not a JSON object"),
    ],
)
def test_an_invalid_field_is_one_line_naming_it(tmp_path, capsys, doc, message):
    cfg = tmp_path / "vllm.json"
    cfg.write_text(json.dumps(doc))
    assert run_cli(["-q", "diff", MLP, "--vllm-config", str(cfg)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"cachekey: error: --vllm-config {cfg}") and "\n" not in err
    assert message in err


def test_a_file_that_is_not_json_or_not_there_is_an_input_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{compilation_config: }")
    assert run_cli(["-q", "diff", MLP, "--vllm-config", str(bad)]) == 3
    assert "is not JSON" in capsys.readouterr().err
    assert run_cli(["-q", "diff", MLP, "--vllm-config", str(tmp_path / "missing.json")]) == 3
    assert "cannot read --vllm-config" in capsys.readouterr().err


def test_split_ops_given_twice_must_agree(tmp_path, capsys):
    cfg = tmp_path / "vllm.json"
    cfg.write_text(json.dumps({"compilation_config": {"splitting_ops": ["a::b"]},
                               "device_config": {"device": "cpu"}}))
    code = run_cli(["-q", "diff", MLP, "--vllm-config", str(cfg), "--split-op", "c::d"])
    assert code == 2
    assert "compilation_config.splitting_ops ['a::b'] disagree" in capsys.readouterr().err


def test_split_ops_of_the_model_file_against_the_config_is_an_input_error(tmp_path, capsys):
    model = tmp_path / "model.py"
    model.write_text((ROOT / "fixtures" / "mlp.py").read_text() + '\nSPLIT_OPS = ["c::d"]\n')
    cfg = tmp_path / "vllm.json"
    cfg.write_text(json.dumps({"compilation_config": {"splitting_ops": ["a::b"]},
                               "device_config": {"device": "cpu"}}))
    assert run_cli(["-q", "diff", str(model), "--vllm-config", str(cfg)]) == 3
    err = capsys.readouterr().err.strip()
    assert "SPLIT_OPS ['c::d'] and compilation_config.splitting_ops ['a::b']" in err
    assert "\n" not in err


def test_the_environment_is_as_before_after_an_analysis(capsys, monkeypatch):
    # Building a VllmConfig on some platforms sets variables that are compile factors (vLLM's
    # CPU platform sets VLLM_DISABLE_SHARED_EXPERTS_STREAM=1, every time); this machine's
    # platform sets none, so the build here does what such a platform does
    from cachekey_cli.vllm.config import from_file

    real_build = from_file.build_config

    def build_setting_a_variable(*args, **kwargs):
        os.environ["VLLM_DISABLE_SHARED_EXPERTS_STREAM"] = "1"
        return real_build(*args, **kwargs)

    monkeypatch.setattr(from_file, "build_config", build_setting_a_variable)
    monkeypatch.delenv("VLLM_DISABLE_SHARED_EXPERTS_STREAM", raising=False)
    before = dict(os.environ)
    cfg = str(ROOT / "fixtures" / "vllm" / "cpu_config.json")
    assert run_cli(["-q", "diff", MLP, "--vllm-config", cfg, "--format", "json"]) in (0, 1)
    assert dict(os.environ) == before
    first = json.loads(capsys.readouterr().out)["profile"]
    assert run_cli(["-q", "diff", MLP, "--vllm-config", cfg, "--format", "json"]) in (0, 1)
    second = json.loads(capsys.readouterr().out)["profile"]
    assert first["folder_factors"]["env_hash"] == second["folder_factors"]["env_hash"]
    assert first["hash_folder"] == second["hash_folder"]


def test_a_local_build_of_a_checked_release_gets_no_warning():
    from cachekey_cli.vllm.compile.installed import InstalledVllmProfile

    assert InstalledVllmProfile("0.33.0+cpu", None).warnings() == []
    assert InstalledVllmProfile("0.32.0", None).warnings() == []
    assert InstalledVllmProfile("0.34.0", None).warnings() == []
    (newer,) = InstalledVllmProfile("0.35.0", None).warnings()
    assert "newer than the newest release checked" in newer


def test_the_torch_side_can_be_asked_for_where_vllm_is_importable(capsys, monkeypatch):
    monkeypatch.setenv("CACHEKEY_VLLM_TORCH_SIDE", "1")
    assert run_cli(["-q", "diff", MLP, "--format", "json"]) in (0, 1)
    profile = json.loads(capsys.readouterr().out)["profile"]
    assert profile["client"].startswith("vLLM 0.33.0 (torch side")
    assert profile["not_reproduced"] and profile["vllm_version"] is None
    assert any("CACHEKEY_VLLM_TORCH_SIDE=1" in n for n in profile["notes"])
    cfg = str(ROOT / "fixtures" / "vllm" / "cpu_config.json")
    assert run_cli(["-q", "diff", MLP, "--vllm-config", cfg]) == 3
    assert "CACHEKEY_VLLM_TORCH_SIDE=1 keys on the torch side" in capsys.readouterr().err


@pytest.mark.skipif(not probe.missing_kernels(), reason="vLLM's kernels are installed here")
def test_verify_where_vllm_has_no_kernels_is_one_line_naming_them(capsys):
    cfg = str(ROOT / "fixtures" / "vllm" / "cpu_config.json")
    assert run_cli(["-q", "diff", MLP, "--vllm-config", cfg, "--verify"]) == 3
    out, err = capsys.readouterr()
    ours = [line for line in err.splitlines() if line.startswith("cachekey")]  # not torch's
    assert out == "" and len(ours) == 1
    assert "--verify compiles on the client's path, and this vLLM has no compiled kernels" in \
        ours[0]


NO_AOT_MODEL = '''
import torch
from vllm.compilation.decorators import support_torch_compile


@support_torch_compile(use_aot_compile=False)
class Model(torch.nn.Module):
    def __init__(self, *, vllm_config=None, prefix=""):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).relu()


def build():
    return Model(), (torch.randn(2, 4),)
'''


def test_a_model_decorated_without_aot_compile_is_not_called_exact(tmp_path, capsys):
    import importlib.metadata

    from cachekey_cli.vllm import releases

    installed = importlib.metadata.version("vllm")
    if not releases.resolve(installed).release.backend_aot_flag:
        pytest.skip(f"vLLM {installed}'s @support_torch_compile has no use_aot_compile")
    model = tmp_path / "no_aot.py"
    model.write_text(NO_AOT_MODEL)
    cfg = str(ROOT / "fixtures" / "vllm" / "cpu_config.json")
    assert run_cli(["-q", "diff", str(model), "--vllm-config", cfg, "--format", "json"]) in (0, 1)
    profile = json.loads(capsys.readouterr().out)["profile"]
    assert any("use_aot_compile=False" in x for x in profile["not_reproduced"])
