"""Where training reports besides `losses.jsonl` (always written, the record of a run):
TensorBoard and Weights & Biases, chosen by `train.log_to`.

- `tensorboard` (default): event files in RUN_DIR/tensorboard (`tensorboard --logdir runs`); the
  package is one of astraios' dependencies. Where it is missing anyway (installed without
  dependencies), the run says so in one warning line before it starts and goes on: losses.jsonl
  holds the same numbers.
- `wandb`: one W&B run per run directory, named after it and resumed with it (its id is kept in
  RUN_DIR/wandb_run_id); the project comes from $WANDB_PROJECT (default `astraios`), offline use
  from $WANDB_MODE=offline, as wandb itself reads them. Asked for but not installed is an error
  before training starts.

Only the main process logs. Each logger gets the same records as losses.jsonl: train records
(loss, lr, grad_norm, tokens/s) and test records (held-out loss), keyed by step.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from pathlib import Path

from astraios.config import ConfigError
from astraios.core.io import write_text
from astraios.core.layout import TENSORBOARD_DIR, WANDB_ID_FILE

WANDB_PROJECT = "astraios"
TRAIN_SCALARS = ("loss", "lr", "grad_norm", "tokens_per_second")


def check_available(log_to: list[str]) -> list[str]:
    """Before any work: fail when wandb is asked for and missing; returns a warning for each other
    logger asked for (by default or not) that cannot log."""
    if "wandb" in log_to and importlib.util.find_spec("wandb") is None:
        raise ConfigError("train.log_to includes wandb, which is not installed. Fix: pip install 'astraios[wandb]', "
                          "or drop wandb from train.log_to.")
    if "tensorboard" in log_to and importlib.util.find_spec("tensorboard") is None:
        return ["train.log_to includes tensorboard (the default), but the tensorboard package is not installed, so "
                "this run logs to losses.jsonl only. Fix: pip install tensorboard, or set train.log_to: []"]
    return []


class Loggers:
    """The loggers a run asked for; `log` and `close` are no-ops on processes other than the main one."""

    def __init__(self, run_dir: Path, config, main_process: bool):
        self.tensorboard = None
        self.wandb_run = None
        if not main_process:
            return
        if "tensorboard" in config.train.log_to:
            self.tensorboard = _tensorboard(run_dir)
        if "wandb" in config.train.log_to:
            self.wandb_run = _wandb(run_dir, config)

    def log(self, record: dict) -> None:
        """One losses.jsonl record."""
        split, step = record["split"], record["step"]
        names = TRAIN_SCALARS if split == "train" else ("loss",)
        values = {f"{name}/{split}" if name == "loss" else name: record[name]
                  for name in names if record.get(name) is not None}
        if self.tensorboard is not None:
            for name, value in values.items():
                self.tensorboard.add_scalar(name, value, step)
        if self.wandb_run is not None:
            self.wandb_run.log(values, step=step)

    def close(self, summary: dict | None = None) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb_run is not None:
            if summary:
                self.wandb_run.summary.update({key: value for key, value in summary.items()
                                               if isinstance(value, (int, float)) and not isinstance(value, bool)})
            self.wandb_run.finish()


def _tensorboard(run_dir: Path):
    if importlib.util.find_spec("tensorboard") is None:  # said once at the start (`check_available`)
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(run_dir / TENSORBOARD_DIR))


def _wandb(run_dir: Path, config):
    import wandb

    id_file = run_dir / WANDB_ID_FILE
    run_id = id_file.read_text(encoding="utf-8").strip() if id_file.is_file() else secrets.token_hex(4)
    write_text(id_file, run_id + "\n")
    return wandb.init(project=os.environ.get("WANDB_PROJECT", WANDB_PROJECT), name=run_dir.name, id=run_id,
                      resume="allow", dir=str(run_dir), config=config.to_dict())
