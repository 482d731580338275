"""`astraios gpu-check` without a GPU: the CPU exit, the MFU arithmetic (against torch's own FLOP
counter and hand-computed figures), the device-name lookup, the table/JSON writer, and every step's
code path rehearsed on a tiny model (the GPU-only steps say why they skip)."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
import torch
from typer.testing import CliRunner

from astraios.cli import app
from astraios.gpu_check import CheckOptions, CheckResult, flops, report, run_check
from astraios.gpu_check.steps import StepResult


def test_cpu_only_machine_exits_with_one_clear_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(app, ["gpu-check"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: astraios gpu-check needs a CUDA GPU")
    assert "Fix:" in lines[0] and "Traceback" not in result.output


@pytest.mark.parametrize(("name", "tflops"), [
    ("NVIDIA H100 80GB HBM3", 989.4),  # SXM5
    ("NVIDIA H100 PCIe", 756.5),
    ("NVIDIA H100 NVL", 835.5),
    ("NVIDIA H200", 989.4),
    ("NVIDIA H200 NVL", 835.5),
    ("NVIDIA A100-SXM4-80GB", 312.0),
    ("NVIDIA A100 80GB PCIe", 312.0),
    ("NVIDIA L40S", 362.05),
    ("NVIDIA L40", 181.05),
    ("NVIDIA L4", 121.0),
    ("NVIDIA A10", 125.0),
    ("NVIDIA B200", 2250.0),
    ("NVIDIA A10G", None),  # not the A10, not the A100
    ("Tesla V100-SXM2-16GB", None),  # no bf16 tensor cores
    ("NVIDIA GeForce RTX 4090", None),
])
def test_peak_is_looked_up_from_the_device_name(name, tflops):
    assert flops.peak_bf16_tflops(name) == tflops


def test_mfu_of_starcoderbase_1b_by_hand():
    # starcoderbase-1b: 1,137,207,296 parameters (docs/training.md), minus 8,192 x 2,048 position embeddings
    # = 1,120,430,080; 24 layers of width 2,048 at 2,048 tokens.
    # FFT: 6 x 1,120,430,080 + 12 x 24 x 2,048 x 2,048 = 6,722,580,480 + 1,207,959,552 = 7,930,540,032.
    full = flops.training_flops_per_token(1_120_430_080, 1_120_430_080, 24, 2048, 2048, full=True)
    assert full == 7_930_540_032
    # 20,000 tokens/s on an H100 SXM (989.4 TFLOPS): 1.5861080064e14 / 9.894e14 = 0.16031...
    assert flops.mfu(20_000, full, 989.4) == pytest.approx(0.160310087568, rel=1e-9)
    # LoRA (3,588,096 trainable of 1,140,795,392): 4 x 1,120,430,080 + 6 x 3,588,096 + 1,207,959,552.
    lora = flops.training_flops_per_token(1_140_795_392 - 16_777_216, 3_588_096, 24, 2048, 2048, full=False)
    assert lora == 4_481_720_320 + 21_528_576 + 1_207_959_552


@pytest.mark.parametrize("method", ["full", "lora", "adapterh"])
def test_flops_formula_against_torch_flop_counter(method):
    """The formula against the FLOPs torch counts in one forward + backward of a StarCoder-shaped model."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForCausalLM, GPTBigCodeConfig

    from astraios import methods

    layers, width, context = 2, 256, 256
    config = GPTBigCodeConfig(vocab_size=49152, n_positions=8192, n_embd=width, n_layer=layers, n_head=4,
                              n_inner=4 * width, multi_query=True, activation_function="gelu_pytorch_tanh",
                              bos_token_id=0, eos_token_id=0)
    model = AutoModelForCausalLM.from_config(config)
    model.config.use_cache = False
    if method != "full":
        model = methods.apply(model, methods.get(method).config_class())
    tokens = torch.randint(0, 49152, (1, context))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=tokens, labels=tokens).loss.backward()
    counted = counter.get_total_flops() / context
    _, _, positions = flops.model_shape(config)
    assert positions == 8192 * width
    counts = methods.count_parameters(model)
    formula = flops.training_flops_per_token(counts.total - positions, counts.trainable, layers, width, context,
                                             full=method == "full")
    if method == "full":
        assert formula == pytest.approx(counted, rel=2e-3)  # biases and layer norms are not matmuls
    else:
        # An upper bound: autograd skips activation gradients below the first adapter. With 2 layers
        # that is at most a layer's attention; on 24 layers it is a twelfth of that.
        assert counted <= formula <= counted * 1.10


def _fake_result() -> CheckResult:
    result = CheckResult(
        environment={"gpus": [{"name": "NVIDIA H100 80GB HBM3", "memory_gb": 79.1}], "torch": "2.5.0", "cuda": "12.4",
                     "bf16": True, "bitsandbytes": "0.44.0", "vllm": None},
        options={"model": "starcoderbase-1b", "batch": 4, "seq_len": 2048, "steps": 6},
        seconds=312.4,
    )
    result.steps = [
        StepResult("train full", "ok", seconds=40.0, metrics={
            "tokens_per_second": 21_000.4, "peak_memory_gb": 41.26, "mfu": 0.1683, "precision": "float32 weights, bf16 autocast"}),
        StepResult("train lora, 8-bit base", "failed", "out of GPU memory. Fix: --batch 2", seconds=3.0),
        StepResult("generate vllm, LoRA", "skipped", "vLLM is not installed (pip install 'astraios[vllm]')"),
        StepResult("grid scheduling", "ok", seconds=50.0, metrics={
            "gpus": 1, "cells": 4, "finished": 4, "concurrency": 0.98, "note": "1 GPU visible"}),
    ]
    return result


def test_table_and_json_from_step_results(tmp_path):
    result = _fake_result()
    json_path, table_path = report.write(result, tmp_path / "out")
    table = table_path.read_text().splitlines()
    assert table[0] == ("astraios gpu-check: starcoderbase-1b (random weights) on 1 x NVIDIA H100 80GB HBM3 (79.1 GB), "
                        "torch 2.5.0, micro-batch 4 x 2048 tokens, 6 steps, 312 s")
    assert table[2] == "| step | status | tokens/s | peak GB | MFU | notes |"
    assert table[4:] == [
        "| train full | ok | 21,000 | 41.3 | 16.8% | float32 weights, bf16 autocast |",
        "| train lora, 8-bit base | failed |  |  |  | out of GPU memory. Fix: --batch 2 |",
        "| generate vllm, LoRA | skipped |  |  |  | vLLM is not installed (pip install 'astraios[vllm]') |",
        "| grid scheduling | ok |  |  |  | 4/4 cells on 1 GPU(s), concurrency 0.98; 1 GPU visible |",
    ]
    saved = json.loads(json_path.read_text())
    assert saved["environment"]["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
    assert [step["status"] for step in saved["steps"]] == ["ok", "failed", "skipped", "ok"]
    assert saved["steps"][0]["metrics"]["mfu"] == 0.1683 and saved["seconds"] == 312.4


def test_every_step_rehearsed_on_a_cpu(tmp_path):
    """The check's own code paths on a tiny model: train (astraios' loop), generate, grid; GPU-only steps skip."""
    result = run_check(CheckOptions(model="tiny-gptbigcode-xs", output=tmp_path, steps=2, seq_len=64, batch=2,
                                    new_tokens=8, samples=2, grid_steps=2), say=lambda line: None)
    statuses = {step.step: (step.status, step.reason) for step in result.steps}
    # Quantized bases run on a CPU too (bitsandbytes' CPU kernels, a test dependency).
    quantized = ("ok", None) if importlib.util.find_spec("bitsandbytes") else (
        "skipped", "bitsandbytes is not installed (pip install 'astraios[gpu]')")
    assert statuses == {
        "tests marked accelerated": ("skipped", "run from a source checkout with `make gpu-check`"),
        "build tiny-gptbigcode-xs (random weights)": ("ok", None),
        "train full": ("ok", None),
        "train lora": ("ok", None),
        "train adapterh": ("ok", None),
        "train lora, 8-bit base": quantized,
        "train adapterh, 8-bit base": quantized,
        "train qlora, 4-bit base": quantized,
        "generate transformers, LoRA": ("ok", None),
        "grid scheduling": ("ok", None),
        "generate vllm, LoRA": ("skipped", "vLLM needs a CUDA GPU"),
    }
    full = next(step for step in result.steps if step.step == "train full").metrics
    # tiny-gptbigcode-xs: 71,584 parameters, 2,048 x 16 position embeddings, 2 layers of width 16, 64 tokens:
    # 6 x 38,816 + 12 x 2 x 16 x 64 = 232,896 + 24,576.
    assert full["flops_per_token"] == 257_472
    assert full["tokens_per_step"] == 2 * 64 and full["tokens_per_second"] > 0 and "mfu" not in full
    grid = next(step for step in result.steps if step.step == "grid scheduling").metrics
    assert grid["finished"] == grid["cells"] == 4
    assert not (tmp_path / "work").exists()  # the random model and runs are removed without --keep


def test_the_makefile_runs_every_file_with_accelerated_tests():
    """`make test-accelerated` and `make gpu-check` run the files listed in ACCEL_TESTS (the others need
    packages .venv-accel leaves out): every file holding an `accelerated` test is listed."""
    from conftest import REPO

    listed = re.search(r"^ACCEL_TESTS := (.*)$", (REPO / "Makefile").read_text(), re.MULTILINE).group(1).split()
    holding = sorted(f"tests/{path.name}" for path in (REPO / "tests").glob("test_*.py")
                     if "pytest.mark." "accelerated" in path.read_text())  # (split: not to match itself)
    assert sorted(listed) == holding
