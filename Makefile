# The README's two commands: `make demo` and `make test`. Each creates .venv (if missing), installs
# what it needs there, and runs. The CPU build of torch is pinned here for the demo and the tests;
# the package itself accepts any recent torch (GPU users: see README, "Install on a GPU machine").
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# --retries 0: where the PyTorch index is unreachable, fall back to PyPI at once instead of retrying.
TORCH := --retries 0 torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu

.PHONY: demo test test-slow bench install install-test system-deps gpu-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, alone, so that only it is looked up on the PyTorch CPU index.
install: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python system-deps
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[test]"

# A JDK and gcc for the sandbox's Java and C paths (their tests skip with a reason when absent).
system-deps:
	@scripts/system-deps.sh

demo: install
	$(BIN)/astraios demo

test: install-test
	$(BIN)/python -m pytest

test-slow: install-test
	$(BIN)/python -m pytest -m slow

bench: install-test
	for script in benchmarks/[!_]*.py; do $(BIN)/python $$script || exit 1; done

# On a machine with an NVIDIA GPU: a venv of its own (.venv-gpu; the CPU torch of .venv stays for the
# tests) with PyPI's torch (the CUDA build on Linux) and bitsandbytes, then `astraios gpu-check`.
# vLLM too: make gpu-check GPU_EXTRAS=gpu,vllm (vLLM pins its own torch).
GPU_VENV ?= .venv-gpu
GPU_EXTRAS ?= gpu
gpu-check:
	test -x $(GPU_VENV)/bin/python || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/pip install -q torch
	$(GPU_VENV)/bin/pip install -q -e ".[$(GPU_EXTRAS)]"
	$(GPU_VENV)/bin/astraios gpu-check
