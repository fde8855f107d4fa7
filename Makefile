# The two front-door commands. Each works on a fresh clone: it creates .venv, installs
# the pinned CPU build of PyTorch first (a looser pin would pull a multi-GB CUDA build),
# then the package in editable mode with its dev extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0

.PHONY: install test test-slow check demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: install
	$(PY) -m pytest

# Statistical trainings that take minutes: CI runs them after `make test`.
test-slow: install
	$(PY) -m pytest -m slow

# Lint, import order, format and types: what every change is checked by.
check: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The flagship comparison, shortened (50 steps, 50 epochs: about two minutes on two cores);
# `rnnlab multiplication` alone runs the tutorial's full setting (100 steps, 100 epochs).
demo: install
	$(VENV)/bin/rnnlab multiplication --length 50 --epochs 50

# rnnlab against PyTorch's nn.* and Keras 3, side by side (several minutes): writes
# benchmarks/results/results.{json,md}. Keras on the torch backend runs when the `bench` extra is
# installed (pip install -e ".[bench]"); on TensorFlow with RNNLAB_BENCH_TF_PYTHON=<python of a
# side environment with tensorflow-cpu and keras>.
bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) runs .pytest_cache
