"""Shared, session-scoped analyses: each fixture model is traced and keyed once per run."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # tests/test_pytest_plugin.py runs pytest on generated suites

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

# The vllm profile reads vLLM's cache mode from the environment. Its default on
# torch >= 2.12 bundles every piece in one AOT artifact, where Inductor files no
# separate FX-graph key; the suite runs in the per-piece mode so that both key
# kinds are exercised, and tests of the other modes set them explicitly.
for _name in ("VLLM_USE_AOT_COMPILE", "VLLM_DISABLE_COMPILE_CACHE", "VLLM_USE_STANDALONE_COMPILE"):
    os.environ.pop(_name, None)
os.environ["VLLM_USE_MEGA_AOT_ARTIFACT"] = "0"

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

# set in the process by cachekey itself: the vllm profile sets VLLM_TARGET_DEVICE=cpu where it
# is unset (vLLM picks its platform from it at import). It is an env factor of vLLM's folder,
# so a test that leaves it behind moves the folder every later prediction from a baked
# fixture cache expects.
PROCESS_SET = ("VLLM_TARGET_DEVICE",)


@pytest.fixture(autouse=True)
def _process_environment_restored():
    before = {k: os.environ.get(k) for k in PROCESS_SET}
    yield
    for k, v in before.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def fixture_path(name: str) -> str:
    return os.path.relpath(FIXTURES / name, os.getcwd())


_RUNS: dict[tuple, object] = {}


def analyse(name: str, mode: str = "aot-per-piece", **options):
    """pipeline.run for a fixture, memoized for the whole session.

    ``mode`` names the vLLM cache mode the caller has put in the environment
    (tests/oracles/vllm_path.environment); it only keys the memo.
    """
    from cachekey_cli.analysis import pipeline

    key = (name, mode, tuple(sorted(options.items())))
    if key not in _RUNS:
        _RUNS[key] = pipeline.run(pipeline.Options(model=str(FIXTURES / name), **options))
    return _RUNS[key]


@pytest.fixture(scope="session")
def transformer_run():
    return analyse("transformer.py")


def _cold_inductor_cache(tmp_path_factory, spec: str) -> Path:
    """A real torch.compile of ``spec`` into a fresh Inductor cache (tests/oracles/warm_run.py)."""
    from tests.oracles import warm_run

    cache = tmp_path_factory.mktemp("baked") / "inductor"
    module, args, dims = warm_run.load(spec)
    warm_run.compile_counting(cache, module, args, dims)
    return cache


@pytest.fixture(scope="session")
def two_graphs_cache(tmp_path_factory):
    """fixtures/perturbed.py:two_graphs compiled once: two Dynamo graphs, custom-op layers."""
    return _cold_inductor_cache(tmp_path_factory, f"{FIXTURES / 'perturbed.py'}:two_graphs")


@pytest.fixture(scope="session")
def custom_op_cache(tmp_path_factory):
    return _cold_inductor_cache(tmp_path_factory, f"{FIXTURES / 'perturbed.py'}:build")


@pytest.fixture(scope="session")
def guard_cache(tmp_path_factory):
    """fixtures/guard_shapes.py compiled at (8, 9): its entry guards on an odd last size."""
    return _cold_inductor_cache(tmp_path_factory, f"{FIXTURES / 'guard_shapes.py'}:build")
