# `make demo` and `make test` work on a fresh clone: they create .venv when missing and (re)install the
# project only when pyproject.toml changed since the last install.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install demo lint test test-slow bench gpu-check clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) train.py experiment=demo

# The house style (pyproject.toml [tool.ruff]) is part of the test command, so CI enforces it.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf .cache logs multirun/*/ data/synthetic

# On a GPU machine: backbones in bf16 + channels_last (+ compile), and the throughput benchmarks.
gpu-check: $(STAMP)
	PY=$(PY) bash bench/gpu_check.sh
