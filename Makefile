# cachekey: every target sets up what it needs, so a fresh clone only needs
# `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
# torch 2.13.0: the build machines have its CPU wheel locally; elsewhere add the CPU
# index (PyPI's Linux wheel is the multi-GB CUDA build). Any pip arguments
# work here, e.g. TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128".
TORCH ?= torch==2.13.0
# the second torch the suite runs on (`make test-torch214`), in its own venv; its build
# machines have the 2.14.1 wheel locally too (a CUDA build that runs on the CPU)
TORCH214 ?= torch==2.14.1
VENV214 ?= .venv-torch214
# the third (`make test-torch215`): torch 2.15.0 from the registry (a CUDA build, several GB,
# that runs on the CPU), named in requirements-torch215.txt; PIP_CONSTRAINT=/dev/null for
# that install, as build machines may cap pip below it
TORCH215 ?= -r requirements-torch215.txt
TORCH_ENV ?=
VENV215 ?= .venv-torch215
BIN := $(VENV)/bin
STAMP := $(VENV)/.cachekey-installed
DEMO_MODEL ?= fixtures/transformer.py
# make test-vllm: real vLLM (VLLM=0.32.0, 0.33.0 or 0.34.0; default the newest) with the torch it
# pins, in a venv of its own, about 9 GB each (fixtures/vllm_releases/install_vllm.sh);
# VLLM_VENV=/path/to/an/existing/vllm-venv reuses one (cachekey is installed into it).
VLLM ?= 0.34.0
VLLM_VENV ?= .venv-vllm-$(VLLM)
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.cachekey-vllm-installed

.PHONY: demo test test-torch214 test-torch215 test-vllm sweep-vllm lint bench bench-vllm bench-plugin clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(TORCH_ENV) $(BIN)/python -m pip install --quiet $(TORCH)
	$(TORCH_ENV) $(BIN)/python -m pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

# Exit code 1 means "drift found", which is what the demo model is built to show.
demo: $(STAMP)
	@$(BIN)/cachekey diff $(DEMO_MODEL); rc=$$?; \
	if [ $$rc -gt 1 ]; then exit $$rc; fi

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the same suite on torch 2.14.1, in a second venv
test-torch214:
	$(MAKE) test VENV=$(VENV214) TORCH="$(TORCH214)"

# and on torch 2.15.0, in a third
test-torch215:
	$(MAKE) test VENV=$(VENV215) TORCH="$(TORCH215)" TORCH_ENV="env PIP_CONSTRAINT=/dev/null"

# Heavy and not part of `make test`: real vLLM compiles on the CPU, compared with cachekey's
# keys (tests/real_vllm/), plus, from cachekey's own venv, the live checks that call into vLLM's
# venv: vLLM's code hash, and snapshot --into then check --cache on a real vLLM cache.
# The torch pin of this project does not apply in vLLM's venv (vLLM pins its own torch).
$(VLLM_BIN)/python:
	$(PYTHON) -m venv $(VLLM_VENV)

$(VLLM_STAMP): pyproject.toml Makefile | $(VLLM_BIN)/python
	fixtures/vllm_releases/install_vllm.sh $(VLLM) $(VLLM_BIN)/python
	$(VLLM_BIN)/python -m pip install --quiet --no-deps -e .
	$(VLLM_BIN)/python -m pip install --quiet "click>=8.1" "rich>=13" pytest
	touch $(VLLM_STAMP)

test-vllm: $(VLLM_STAMP) $(STAMP)
	$(VLLM_BIN)/python -m pytest -q -p no:cacheprovider tests/real_vllm
	CACHEKEY_VLLM_PYTHON="$(abspath $(VLLM_BIN))/python" $(BIN)/python -m pytest -q \
		-p no:cacheprovider tests/test_vllm_cache_model.py tests/test_cache_hits_vllm.py -k live

# The coverage table of vLLM's text-generation architectures (docs/vllm-coverage.md, raw
# results in fixtures/vllm_releases/$(VLLM)/registry-sweep.json): a tiny config of each from
# transformers' own config class, keyed by cachekey in a fresh process, then every keyed one
# compared with a real vLLM compile, one at a time (heavy: 70 minutes on 2 cores, 2026-12-08).
sweep-vllm: $(VLLM_STAMP)
	$(VLLM_BIN)/python fixtures/vllm/registry_sweep.py --real

lint: $(STAMP)
	$(BIN)/ruff check cachekey_cli tests benchmarks
	$(BIN)/mypy cachekey_cli

# the vLLM venv too: `cachekey diff vllm:` is measured against vLLM's own floor in it
bench: $(STAMP) $(VLLM_STAMP)
	VLLM_VENV="$(abspath $(VLLM_VENV))" $(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/plugin.py

# only that: four deployed shapes, cachekey diff vllm: against vLLM's floor, side by side
bench-vllm: $(STAMP) $(VLLM_STAMP)
	$(BIN)/python benchmarks/vllm_floor.py --guards --vllm-venv "$(abspath $(VLLM_VENV))"

# only the model-suite benchmark: one pytest session vs -n 2 vs one `cachekey check` per model
bench-plugin: $(STAMP)
	$(BIN)/python benchmarks/plugin.py

clean:
	rm -rf $(VENV) $(VENV214) $(VENV215) .venv-vllm .pytest_cache .mypy_cache .ruff_cache *.egg-info
