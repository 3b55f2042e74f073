# Every target creates .venv when missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
CONSTRAINTS := -c constraints.txt
STAMP := $(VENV)/.installed

.PHONY: demo test lint format docs bench gpu-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.base: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -q $(CONSTRAINTS) torch==2.13.0
	$(PIP) install -q $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PIP) install -q $(CONSTRAINTS) -e ".[test]"
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(PIP) install -q $(CONSTRAINTS) -e ".[dev]"
	touch $@

$(VENV)/.docs: $(VENV)/.test
	$(PIP) install -q $(CONSTRAINTS) -e ".[docs]"
	touch $@

$(VENV)/.bench: $(VENV)/.base
	$(PIP) install -q $(CONSTRAINTS) -e ".[bench]"
	touch $@

demo: $(VENV)/.base
	$(BIN)/python -m sklearn_implicit demo

test: $(VENV)/.test
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: $(VENV)/.docs
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: $(VENV)/.bench
	$(BIN)/python benchmarks/performance.py

# On a CUDA machine: CUDA torch of the pinned version into .venv, the CUDA tests and every
# benchmark on the GPU -> benchmarks/results/gpu-check.jsonl. Elsewhere: one line, exit 0,
# .venv untouched (the GPU is looked for before anything is installed). See .ci/gpu-check.
gpu-check:
	@PYTHON="$(PYTHON)" bash .ci/gpu-check

clean:
	rm -rf docs/_build docs/auto_examples docs/generated .pytest_cache
