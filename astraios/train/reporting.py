"""What a training run tells: its counters (`Progress`, saved in every checkpoint), its messages and
progress bar (main process only; one line per message), and summary.json, the record of a finished
run (parameters, losses, throughput, peak memory, versions)."""

from __future__ import annotations

import resource
from dataclasses import dataclass, field
from pathlib import Path

from astraios import __version__


@dataclass
class Progress:
    """Counters saved in every checkpoint (registered with accelerate)."""

    step: int = 0
    tokens: int = 0
    train_seconds: float = 0.0
    step_seconds: list[float] = field(default_factory=list)

    def state_dict(self) -> dict:
        return {"step": self.step, "tokens": self.tokens, "train_seconds": self.train_seconds, "step_seconds": self.step_seconds}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.tokens = state["step"], state["tokens"]
        self.train_seconds, self.step_seconds = state["train_seconds"], list(state["step_seconds"])


def reset_peak_memory() -> str:
    """Start this run's peak-memory count, so that runs sharing a process (a grid) each report their
    own; returns what the summary's peak will measure."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        return "cuda_max_allocated"
    try:  # Linux: "5" resets the peak RSS that getrusage reports to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return "cpu_max_rss_of_process"  # no reset here: the peak since the process started
    return "cpu_max_rss"


def summary(config, counts, losses, progress, instruction_data, dtype, quantization, wall, memory_kind) -> dict:
    import peft
    import torch
    import transformers

    train = [r for r in losses if r["split"] == "train"]
    test = [r for r in losses if r["split"] == "test"]
    steady = progress.step_seconds[1:] or progress.step_seconds
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "model": config.model.name,
        "method": config.method.name,
        "parameters": {"trainable": counts.trainable, "total": counts.total, "trainable_percent": counts.trainable_percent},
        "steps": progress.step,
        "first_train_loss": train[0]["loss"] if train else None,
        "final_train_loss": train[-1]["loss"] if train else None,
        "initial_test_loss": test[0]["loss"] if test else None,
        "final_test_loss": test[-1]["loss"] if test else None,
        "tokens": progress.tokens,
        "tokens_per_second": progress.tokens / progress.train_seconds if progress.train_seconds else None,
        "seconds_per_step": sum(steady) / len(steady) if steady else None,
        "peak_memory_bytes": peak,
        "memory_kind": memory_kind,
        "wall_seconds": wall,
        "dtype": str(dtype).removeprefix("torch."),
        "base_quantization": quantization or "none",
        "learning_rate": config.learning_rate,
        "data": instruction_data.stats,
        "versions": {
            "astraios": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }


def printer(accelerator):
    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)  # one line per message, also in logs

    def say(message: str) -> None:
        if accelerator.is_main_process:
            console.print(message)

    return say


def progress_bar(accelerator, show: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  test {task.fields[test]:.4f}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not (show and accelerator.is_main_process),
        transient=False,
    )
