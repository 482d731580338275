"""The steps of `astraios gpu-check`, each returning a `StepResult` and never raising.

Every step goes through astraios' own paths (`train.run`, the generation backends, `run_grid`),
so a passing check means those paths work on this GPU, not a separate benchmark script.
"""

from __future__ import annotations

import gc
import importlib.util
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from astraios.gpu_check import flops

# A random model emits ids all over the vocabulary: the shipped tokenizer is padded with one added
# token per missing id so that every generated id decodes (and re-encodes) to one token.
RANDOM_TOKEN = "<|random-{}|>"
PROMPTS = [
    "Question: Write a Python function that returns the n-th Fibonacci number.\n\nAnswer:",
    "Question: Fix the bug in this function: def add(a, b): return a - b\n\nAnswer:",
    "Question: Write a Java method that reverses a string.\n\nAnswer:",
    "Question: Explain what this code does: print(sorted(set(words)))\n\nAnswer:",
]


@dataclass
class StepResult:
    step: str
    status: str  # ok | skipped | failed
    reason: str | None = None  # why it was skipped or failed
    seconds: float | None = None
    metrics: dict = field(default_factory=dict)  # tokens_per_second, peak_memory_gb, mfu, precision, ...
    traceback: str | None = None


def skipped(step: str, reason: str) -> StepResult:
    return StepResult(step, "skipped", reason)


def guarded(step: str, action, *, oom_fix: str = "") -> StepResult:
    """Run `action() -> metrics`; an exception becomes a failed step with its reason (and, for running
    out of GPU memory, `oom_fix`)."""
    import torch

    started = time.perf_counter()
    try:
        metrics = action()
    except Exception as error:  # noqa: BLE001 (a check reports every failure and goes on)
        reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        if isinstance(error, torch.cuda.OutOfMemoryError) and oom_fix:
            reason = f"out of GPU memory. Fix: {oom_fix}"
        result = StepResult(step, "failed", reason[:500], time.perf_counter() - started,
                            traceback=traceback.format_exc()[-4000:])
    else:
        result = StepResult(step, "ok", None, time.perf_counter() - started, metrics)
    release_memory()
    return result


def release_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def environment() -> dict:
    """What the check runs on: GPUs, torch and CUDA, the optional GPU packages."""
    import torch

    gpus = [{"name": torch.cuda.get_device_name(index),
             "memory_gb": round(torch.cuda.get_device_properties(index).total_memory / 2**30, 1)}
            for index in range(torch.cuda.device_count())]
    return {
        "gpus": gpus,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "bf16": bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported()),
        "bitsandbytes": _version("bitsandbytes"),
        "vllm": _version("vllm"),
    }


def _version(package: str) -> str | None:
    if importlib.util.find_spec(package) is None:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "installed"


ACCELERATED_TESTS_ENV = "ASTRAIOS_ACCELERATED_TESTS"


def accelerated_tests(files: str) -> dict:
    """The tests marked `accelerated` (bitsandbytes, vLLM, DeepSpeed) run here, on the GPU: their summary."""
    import re
    import subprocess
    import sys

    finished = subprocess.run([sys.executable, "-m", "pytest", "-m", "accelerated", "-q", "-p", "no:cacheprovider",
                               *files.split()], capture_output=True, text=True)
    counts = dict((kind, int(number)) for number, kind in re.findall(r"(\d+) (passed|failed|skipped|errors?)",
                                                                     finished.stdout.splitlines()[-1] if finished.stdout else ""))
    if finished.returncode != 0:
        failed = [line for line in finished.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        raise RuntimeError(f"{counts or 'no summary'}; {'; '.join(failed[:3]) or finished.stderr[-300:]}")
    return {"tests": counts}


def build_random_model(model_name: str, directory: Path) -> dict:
    """Save `model_name`'s architecture with random weights (no download) and a tokenizer covering its vocabulary."""
    import torch
    from transformers import AutoModelForCausalLM

    from astraios import methods, models

    config = models.model_config(model_name)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    with torch.device(device):  # initialised on the GPU: seconds instead of a minute for 1B parameters
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.save_pretrained(str(directory), safe_serialization=True)
    parameters = methods.count_parameters(model).total
    del model
    tokenizer = models.tiny.tokenizer()
    tokenizer.add_tokens([RANDOM_TOKEN.format(index) for index in range(len(tokenizer), config.vocab_size)])
    tokenizer.model_max_length = models.context_length(config) or tokenizer.model_max_length
    tokenizer.save_pretrained(str(directory))
    return {"parameters": parameters, "architecture": config.model_type, "vocabulary": config.vocab_size}


@dataclass(frozen=True)
class TrainSpec:
    method: str
    quantization: str = "none"  # model.quantization: none, 8bit or 4bit

    @property
    def quantized(self) -> bool:
        return self.quantization != "none"

    @property
    def step(self) -> str:
        return f"train {self.method}" + (f", {self.quantization[0]}-bit base" if self.quantized else "")

    @property
    def run_name(self) -> str:
        return self.method + (f"-{self.quantization}" if self.quantized else "")


def train_method(spec: TrainSpec, model_dir: Path, run_dir: Path, *, steps: int, seq_len: int, batch: int,
                 peak_tflops: float | None) -> dict:
    """A few optimiser steps of `spec` through `astraios train`'s own loop; throughput, memory and MFU."""
    import torch

    from astraios import methods, models, train
    from astraios.config import load_config

    config = load_config(None, [
        f"model.name={model_dir}", f"method.name={spec.method}", f"model.quantization={spec.quantization}",
        "data.sources=[astraios-sample]", f"data.seq_len={seq_len}", "data.packing=true", "data.loss_on=all",
        "data.test_size=16", f"train.max_steps={steps}", f"train.global_batch_size={batch}",
        f"train.micro_batch_size={batch}", "train.warmup_steps=1", f"train.eval_every={steps}",
        f"train.save_every={steps}", "train.log_to=[]", f"train.output_dir={run_dir}",
    ])
    summary = train.run(config, overwrite=True, show_progress=False)
    tokens_per_step = summary["tokens"] / summary["steps"]
    tokens_per_second = tokens_per_step / summary["seconds_per_step"]
    mixed = "bf16 autocast" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no autocast"
    quantized = {"8bit": "int8 base (bitsandbytes)", "4bit": "nf4 base (bitsandbytes)"}
    precision = quantized.get(summary["base_quantization"], f"{summary['dtype']} weights")
    metrics = {
        "precision": f"{precision}, {mixed}",
        "steps": summary["steps"],
        "tokens_per_step": tokens_per_step,
        "tokens_per_second": tokens_per_second,
        "peak_memory_gb": summary["peak_memory_bytes"] / 2**30,
        "memory_kind": summary["memory_kind"],
        "trainable_parameters": summary["parameters"]["trainable"],
        "first_train_loss": summary["first_train_loss"],
        "final_train_loss": summary["final_train_loss"],
    }
    layers, width, positions = flops.model_shape(models.model_config(str(model_dir)))
    per_token = flops.training_flops_per_token(
        summary["parameters"]["total"] - positions, summary["parameters"]["trainable"], layers, width, seq_len,
        full=not methods.get(spec.method).parameter_efficient)
    metrics["flops_per_token"] = per_token
    if peak_tflops:
        metrics["mfu"] = flops.mfu(tokens_per_second, per_token, peak_tflops)
    return metrics


def generate(backend_name: str, run_dir: Path, *, new_tokens: int, samples: int) -> dict:
    """Sample from the trained LoRA run with one backend; generated tokens per second and peak memory."""
    import torch

    from astraios.generate import create_backend, resolve

    source = resolve(str(run_dir))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    if backend_name == "vllm":
        from astraios.generate.vllm_offline import VLLMBackend

        # The training steps' cached memory is released; vLLM takes a share of what is free.
        backend = VLLMBackend(source, dtype="bfloat16", gpu_memory_utilization=0.5)
        tokenizer = backend.tokenizer
    else:
        backend = create_backend("transformers", source, batch_size=len(PROMPTS) * samples,
                                 dtype="bfloat16" if torch.cuda.is_available() else "float32")
        tokenizer = backend.tokenizer
    started = time.perf_counter()
    completions = backend.generate(PROMPTS, n=samples, temperature=0.2, top_p=0.95, max_new_tokens=new_tokens)
    seconds = time.perf_counter() - started
    generated = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for row in completions for text in row)
    # Counted by re-encoding the completions: exact for the added tokens, close for the BPE ones.
    metrics = {"prompts": len(PROMPTS), "samples_per_prompt": samples, "max_new_tokens": new_tokens,
               "generated_tokens": generated, "tokens_per_second": generated / seconds,
               "adapter": _adapter_mode(backend.describe())}
    if torch.cuda.is_available() and backend_name != "vllm":  # vLLM allocates in its own engine process
        metrics["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
    if backend_name == "vllm":
        del backend.llm
    del backend
    return metrics


def _adapter_mode(description: dict) -> str:
    if description.get("adapter_mode"):  # vLLM says how it applies the adapter
        return description["adapter_mode"]
    return "LoRA merged into the base" if description.get("adapter_merged") else "LoRA, not merged"


GRID_TEMPLATE = """\
# Written by astraios gpu-check: the grid's scheduling with the visible GPUs (tiny models, train only).
output_dir: {output_dir}
models: [tiny-gptbigcode-s, tiny-gptbigcode-m]
methods: [lora, adapterp]
recipe:
  set:
    model.quantization: none
    data.sources: [astraios-sample]
    data.seq_len: 128
    data.test_size: 8
    train.max_steps: {steps}
    train.warmup_steps: 1
    train.global_batch_size: 8
    train.micro_batch_size: 8
    train.eval_every: {steps}
    train.save_every: {steps}
    train.log_to: []
"""


def grid(work_dir: Path, *, steps: int) -> dict:
    """A 2 x 2 grid of tiny cells through `run_grid` with every visible GPU (one cell per GPU at a time)."""
    from rich.console import Console

    from astraios import grid as grids
    from astraios.grid.executors.local import visible_gpus

    path = work_dir / "grid.yaml"
    path.write_text(GRID_TEMPLATE.format(output_dir=work_dir / "grid", steps=steps))
    plan = grids.load_grid(path)
    gpus = visible_gpus()
    outcome = grids.run_grid(plan, show_progress=False, gpus=gpus, console=Console(quiet=True))
    job_seconds = sum((record.get("train_seconds") or 0) + (record.get("eval_seconds") or 0)
                      for record in outcome.records.values())
    finished = sum(record.get("status") == "finished" for record in outcome.records.values())
    if outcome.failed:
        first = outcome.records[outcome.failed[0]]
        raise RuntimeError(f"{len(outcome.failed)} of {len(plan.jobs)} cells failed; first: {first.get('error')}")
    return {"gpus": len(gpus), "scheduling": "one process per GPU" if len(gpus) > 1 else "in this process, one after another",
            "cells": len(plan.jobs), "finished": finished, "wall_seconds": outcome.wall_seconds,
            "job_seconds": job_seconds, "concurrency": job_seconds / outcome.wall_seconds if outcome.wall_seconds else None}
