"""The registry sweep's config writer (``fixtures/vllm/registry_sweep.py``), and the coverage
table it wrote against the installed vLLM's registry.

Fast: no cachekey run, no compile. It checks that a few architectures of different families
get a tiny config from transformers' own class, that an architecture without one is a row
saying so, and that ``docs/vllm-coverage.md`` names every text-generation architecture of the
release it was written for (``make sweep-vllm`` writes it again).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
from pathlib import Path

import pytest

from cachekey_cli.vllm import probe

ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "fixtures" / "vllm" / "registry_sweep.py"

pytestmark = pytest.mark.skipif(
    not probe.installed(), reason="vLLM is not importable: make test-vllm"
)

# architecture -> (model_type, fields the tiny config must have)
SAMPLES = {
    "LlamaForCausalLM": ("llama", {"num_hidden_layers": 3}),
    "Qwen3MoeForCausalLM": ("qwen3_moe", {"num_experts": 4, "num_experts_per_tok": 2}),
    "DeepseekV2ForCausalLM": ("deepseek_v2", {"n_routed_experts": 4, "kv_lora_rank": 32}),
    "MambaForCausalLM": ("mamba", {"state_size": 16}),
    "InternLM3ForCausalLM": ("llama", {}),  # an alias of vLLM's LlamaForCausalLM
}


def _sweep():
    spec = importlib.util.spec_from_file_location("registry_sweep", SWEEP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_configs_build_from_transformers_own_classes(tmp_path):
    from transformers import AutoConfig

    sweep = _sweep()
    archs = sweep.registry_architectures()
    wanted = {a: archs[a] for a in [*SAMPLES, "AliceAIForCausalLM"] if a in archs}
    rows = {r["architecture"]: r for r in sweep.write_configs(tmp_path, wanted)}
    for arch, (model_type, fields) in SAMPLES.items():
        if arch not in archs:
            continue
        row = rows[arch]
        assert row["status"] == "config" and row["model_type"] == model_type, row
        config = AutoConfig.from_pretrained(row["folder"])
        assert config.architectures == [arch]
        assert (config.hidden_size, config.vocab_size) == (64, 256)
        for name, value in fields.items():
            assert getattr(config, name) == value, (arch, name)
    if "AliceAIForCausalLM" in rows:
        alice = rows["AliceAIForCausalLM"]
        assert alice["status"] == "no config" and "no transformers config" in alice["reason"]


def test_the_coverage_table_names_every_registry_architecture():
    results = (ROOT / "fixtures" / "vllm_releases" / importlib.metadata.version("vllm")
               / "registry-sweep.json")
    if not results.exists():
        pytest.skip("no sweep of this release yet: make sweep-vllm")
    table = (ROOT / "docs" / "vllm-coverage.md").read_text()
    if json.loads(results.read_text())["meta"]["vllm"] not in table:
        pytest.skip("the table is another release's")
    named = set(re.findall(r"^\| `([^`]+)` \|", table, re.M))
    missing = set(_sweep().registry_architectures()) - named
    assert not missing, f"not in docs/vllm-coverage.md (make sweep-vllm): {sorted(missing)}"


def test_a_class_vllm_cannot_inspect_here_is_named_with_its_own_error(tmp_path):
    """Mistral Large 4's module refuses non-GPU hosts inside vLLM's inspection subprocess;
    vLLM logs that and then fails the config with only "failed to be inspected". cachekey's
    one line carries the module's own error instead, and says no serve argument fixes it."""
    import os
    import subprocess
    import sys

    sweep = _sweep()
    archs = sweep.registry_architectures()
    if "MistralLarge4ForCausalLM" not in archs:
        pytest.skip("this vLLM has no MistralLarge4ForCausalLM")
    (row,) = sweep.write_configs(tmp_path, {"MistralLarge4ForCausalLM":
                                            archs["MistralLarge4ForCausalLM"]})
    env = {**os.environ, "VLLM_CACHE_ROOT": str(tmp_path / "vllm")}
    done = subprocess.run(
        [sys.executable, "-m", "cachekey_cli", "-q", "diff", f"vllm:{row['folder']}",
         "--platform", "cuda", "--", "--dtype", "float32"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    line = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 3, done.stderr[-2000:]
    assert line.startswith("cachekey: error: vLLM could not inspect the model class"), line
    assert "NotImplementedError: Mistral Large 4 is only supported on NVIDIA and AMD GPUs" \
        in line, line
