# The two front-door commands. Each works on a fresh clone: it creates .venv, installs
# the pinned CPU build of PyTorch first (a looser pin would pull a multi-GB CUDA build),
# then the package in editable mode with its dev extras.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0

.PHONY: install test demo clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

test: install
	$(PY) -m pytest

demo: install
	$(PY) examples/summaries.py

clean:
	rm -rf $(VENV) runs .pytest_cache
