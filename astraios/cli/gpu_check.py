"""`astraios gpu-check` on the command line (the check itself: `astraios.gpu_check`)."""

from __future__ import annotations

from pathlib import Path

import typer

from astraios.cli.errors import FAILED, fail

app = typer.Typer()  # merged into the `astraios` app (astraios.cli.app)

EPILOG = (
    "Examples:\n\n"
    "  astraios gpu-check                          # StarCoderBase-1B, random weights, about 5-10 min on one GPU\n\n"
    "  astraios gpu-check --batch 1 --seq-len 1024 # a GPU with less memory\n\n"
    "  astraios gpu-check --peak-tflops 125        # MFU on a GPU missing from the peak table\n\n"
    "  make gpu-check                              # a CUDA venv (.venv-gpu) with bitsandbytes, then the check"
)


@app.command("gpu-check", epilog=EPILOG)
def gpu_check(
    model: str = typer.Option("starcoderbase-1b", "--model", help="Architecture to build with random weights: "
                              "a published model (starcoderbase-1b, starcoder2-7b, qwen2.5-coder-7b, ...) or a tiny-* "
                              "model (no download either way)."),
    output: Path = typer.Option(Path("runs/gpu-check"), "--output", help="Where gpu_check.json and gpu_check.md go."),
    steps: int = typer.Option(6, "--steps", min=2, help="Optimiser steps per training check (the first is not timed)."),
    seq_len: int = typer.Option(2048, "--seq-len", min=16, help="Tokens per training sequence (the study's 2,048)."),
    batch: int | None = typer.Option(None, "--batch", min=1, help="Sequences per step; default 4 with 60 GB of GPU "
                                     "memory or more, else 1."),
    new_tokens: int = typer.Option(128, "--new-tokens", min=1, help="Tokens generated per sample."),
    peak_tflops: float | None = typer.Option(None, "--peak-tflops", min=0.001, help="The GPU's dense bf16 peak, for "
                                             "MFU; default: looked up from the device name."),
    keep: bool = typer.Option(False, "--keep", help="Keep the random model and the runs under OUTPUT/work."),
) -> None:
    """Prove every GPU path works here: training (FFT, LoRA, AdapterH; bf16 and 8-bit bases), generation
    (transformers, vLLM with LoRA), grid scheduling; tokens/s, peak memory, MFU in one table + JSON."""
    from rich.console import Console

    from astraios import models
    from astraios.gpu_check import CheckOptions, no_gpu_reason, report, run_check

    if reason := no_gpu_reason():
        fail(f"astraios gpu-check needs a CUDA GPU: {reason}. Fix: run it on a machine with an NVIDIA GPU and the "
             f"CUDA build of torch (`make gpu-check` sets one up).", FAILED)
    if model not in models.KNOWN_NAMES:
        fail(f"--model {model}: gpu-check builds a known architecture without download. "
             f"Fix: use one of {models.KNOWN_NAMES_TEXT}.")
    options = CheckOptions(model=model, output=output, steps=steps, seq_len=seq_len, batch=batch,
                           new_tokens=new_tokens, peak_tflops=peak_tflops, keep=keep)
    errors = Console(stderr=True, soft_wrap=True)
    result = run_check(options, say=lambda line: errors.print(line, markup=False, highlight=False))
    report.print_table(result, Console(width=max(Console().width, 140)))
    json_path, table_path = report.write(result, output)
    typer.echo(f"results: {json_path} (table: {table_path})")
    if any(step.status == "failed" for step in result.steps):
        raise typer.Exit(1)
