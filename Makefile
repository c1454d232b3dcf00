# cachekey: every target sets up what it needs, so a fresh clone only needs
# `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
# torch 2.13.0: the build machines have its CPU wheel locally; elsewhere add the CPU
# index (PyPI's Linux wheel is the multi-GB CUDA build). Any pip arguments
# work here, e.g. TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128".
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.cachekey-installed
DEMO_MODEL ?= fixtures/transformer.py

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml Makefile | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	touch $(STAMP)

# Exit code 1 means "drift found", which is what the demo model is built to show.
demo: $(STAMP)
	@$(BIN)/cachekey diff $(DEMO_MODEL); rc=$$?; \
	if [ $$rc -gt 1 ]; then exit $$rc; fi

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check cachekey_cli tests benchmarks
	$(BIN)/mypy cachekey_cli

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
