"""`astraios gpu-check`: one command that proves every GPU path works on this machine, offline.

Under `make gpu-check` it first runs the tests marked `accelerated` (quantized bases, vLLM with
adapters, DeepSpeed) on this GPU. It builds the real StarCoderBase-1B architecture (from its config, `astraios.models.sizes`) with
random weights, so nothing is downloaded, then runs astraios' own code paths:

1. training, a few optimiser steps each through `astraios train`'s loop: full fine-tuning (fp32
   master weights, bf16 autocast), LoRA and AdapterH on a bf16 base, LoRA and AdapterH on an
   8-bit base and QLoRA on a 4-bit NF4 base (bitsandbytes): tokens/s, peak memory and MFU (`flops.py`);
2. generation from the LoRA run with the transformers backend (continuous batching, LoRA merged)
   and, when vLLM is installed, with vLLM and the LoRA adapter (`LoRARequest`): tokens/s;
3. the grid's scheduler with every visible GPU (a 2 x 2 grid of tiny cells, one process per GPU).

It prints one table and writes `OUTPUT/gpu_check.json` (every figure, the environment, each
failure's traceback) and `OUTPUT/gpu_check.md` (the table, ready for docs/scale-out.md). A step that
cannot run says why (no bitsandbytes, no vLLM, one GPU only, out of memory with the fix) and the
others go on. The model and runs are written under `OUTPUT/work/` and removed at the end unless
`--keep`. Default sizes keep it under 10 minutes on one modern GPU (micro-batch 4 x 2,048 tokens
with 60 GB or more of GPU memory, else 1 x 2,048).

On a machine without a CUDA GPU it stops at once with one line saying why (`no_gpu_reason`).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from astraios.gpu_check import flops
from astraios.gpu_check.steps import StepResult, TrainSpec, guarded, skipped

BOTTLENECK = "adapterh"  # the study's AdapterH: the bottleneck method with the most trainable parameters
TRAIN_SPECS = [TrainSpec("full"), TrainSpec("lora"), TrainSpec(BOTTLENECK), TrainSpec("lora", "8bit"),
               TrainSpec(BOTTLENECK, "8bit"), TrainSpec("qlora", "4bit")]
RESULTS_JSON = "gpu_check.json"
RESULTS_TABLE = "gpu_check.md"


@dataclass
class CheckOptions:
    model: str = "starcoderbase-1b"
    output: Path = Path("runs/gpu-check")
    steps: int = 6
    seq_len: int = 2048
    batch: int | None = None  # None: 4 with 60 GB of GPU memory or more, else 1
    new_tokens: int = 128
    samples: int = 4
    grid_steps: int = 20
    peak_tflops: float | None = None  # None: looked up from the device name
    keep: bool = False


@dataclass
class CheckResult:
    environment: dict
    options: dict
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        from astraios import __version__

        return {"astraios": __version__, "environment": self.environment, "options": self.options,
                "seconds": self.seconds, "steps": [asdict(step) for step in self.steps]}


def no_gpu_reason() -> str | None:
    """Why this machine cannot run the check (None when a CUDA GPU is usable)."""
    import torch

    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU (no driver, or CUDA_VISIBLE_DEVICES hides them)"


def run_check(options: CheckOptions, *, say=print) -> CheckResult:
    """Run every step (the caller has checked for a GPU; on a CPU the GPU-only steps say they skip)."""
    from astraios.gpu_check import steps as check_steps

    started = time.perf_counter()
    environment = check_steps.environment()
    gpu = environment["gpus"][0] if environment["gpus"] else None
    batch = options.batch or (4 if gpu and gpu["memory_gb"] >= 60 else 1)
    peak = options.peak_tflops or (flops.peak_bf16_tflops(gpu["name"]) if gpu else None)
    peak_note = None
    if peak is None:
        peak_note = (f"MFU not computed: {gpu['name']} is not in the peak-FLOPs table (astraios/gpu_check/flops.py); "
                     f"pass --peak-tflops" if gpu else "MFU not computed: no GPU")
    result = CheckResult(environment, {**asdict(options), "output": str(options.output), "batch": batch,
                                       "peak_bf16_tflops": peak})
    work = options.output / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    def record(step: StepResult) -> StepResult:
        result.steps.append(step)
        say(f"{step.step}: {step.status}" + (f" ({step.reason})" if step.reason else ""))
        return step

    try:
        if files := os.environ.get(check_steps.ACCELERATED_TESTS_ENV):
            record(guarded("tests marked accelerated", lambda: check_steps.accelerated_tests(files)))
        else:
            record(skipped("tests marked accelerated", "run from a source checkout with `make gpu-check`"))
        model_dir = work / "model"
        built = record(guarded(f"build {options.model} (random weights)",
                               lambda: check_steps.build_random_model(options.model, model_dir)))
        runs: dict[TrainSpec, StepResult] = {}
        for spec in TRAIN_SPECS:
            if built.status != "ok":
                runs[spec] = record(skipped(spec.step, "the model could not be built"))
            elif spec.quantized and (why := _no_bitsandbytes(environment)):
                runs[spec] = record(skipped(spec.step, why))
            else:
                oom_fix = f"--batch {max(1, batch // 2)}" if batch > 1 else f"--seq-len {options.seq_len // 2}"
                runs[spec] = record(guarded(spec.step, lambda spec=spec: check_steps.train_method(
                    spec, model_dir, work / "runs" / spec.run_name,
                    steps=options.steps, seq_len=options.seq_len, batch=batch, peak_tflops=peak), oom_fix=oom_fix))
                if peak_note and runs[spec].status == "ok":
                    runs[spec].metrics["mfu_note"] = peak_note
        lora_trained = runs[TrainSpec("lora")].status == "ok"
        record(_generation("transformers", lora_trained, environment, work, options))
        # The grid before vLLM, whose engine may hold GPU memory until this process exits.
        grid = record(guarded("grid scheduling", lambda: check_steps.grid(work, steps=options.grid_steps)))
        if grid.status == "ok" and len(environment["gpus"]) < 2:
            grid.metrics["note"] = (f"{len(environment['gpus'])} GPU visible: cells ran one after another; "
                                    f"with 2 or more, one cell per GPU at a time")
        record(_generation("vllm", lora_trained, environment, work, options))
    finally:
        if not options.keep:
            shutil.rmtree(work, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return result


def _generation(backend: str, lora_trained: bool, environment: dict, work: Path, options: CheckOptions) -> StepResult:
    from astraios.gpu_check import steps as check_steps

    step = f"generate {backend}, LoRA"
    if not lora_trained:
        return skipped(step, "the LoRA training step did not finish")
    if backend == "vllm" and (why := _no_vllm(environment)):
        return skipped(step, why)
    return guarded(step, lambda: check_steps.generate(backend, work / "runs" / TrainSpec("lora").run_name,
                                                      new_tokens=options.new_tokens, samples=options.samples))


def _no_bitsandbytes(environment: dict) -> str | None:
    if environment["bitsandbytes"] is None:
        return "bitsandbytes is not installed (pip install 'astraios[gpu]')"
    return None


def _no_vllm(environment: dict) -> str | None:
    if not environment["gpus"]:
        return "vLLM needs a CUDA GPU"
    if environment["vllm"] is None:
        return "vLLM is not installed (pip install 'astraios[vllm]')"
    return None


__all__ = ["CheckOptions", "CheckResult", "StepResult", "no_gpu_reason", "run_check"]
