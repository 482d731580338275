"""The on-disk layout of astraios' outputs: one place for every name that more than one layer reads.

Training writes a run directory, evaluation writes into it (or any output directory), the grid adds
its cell record, and analysis reads all of them; each of those imports the names from here, so that
nothing below the grid has to import the grid to know a file name.

A run directory (`astraios train`, one grid cell, one base warm-up):
    config.yaml        the run config, resolved (astraios' marker: a directory without it is not a run)
    losses.jsonl       one line per logged step: train loss, held-out test loss, lr, tokens/s
    summary.json       written last: a finished training run has it
    final/             the tuned model (the method's weights, or the whole model after full fine-tuning)
    checkpoints/       step-N/ checkpoints with manifests (resume)
    tensorboard/, wandb/, wandb_run_id     the loggers' files
    eval/              the run's evaluation output (below)
    grid_cell.json     a grid's record of the job: status, stage, error, timings
    export/            `astraios export`: the merged model

An evaluation's output directory (`astraios eval --output`, a run's eval/):
    results.json       scores, per-document outcomes, settings, versions, timings
    generations/TASK.json   predictions, bigcode-evaluation-harness format
    logs/TASK.jsonl    one execution record per sample
    cache/TASK.jsonl   raw completions (resume)
    .astraios-eval-TASK.lock, .astraios-results.lock   held while an evaluation writes there

A grid's output directory:
    grid.json          the plan, every job's status, tasks evaluated or skipped, timings
    bases/MODEL/       base warm-up runs
    MODEL-METHOD[-seedS]/   the cells' run directories
    .grid-workers/     which worker runs which job (Ray)
"""

from __future__ import annotations

CONFIG_FILE = "config.yaml"
LOSSES_FILE = "losses.jsonl"
SUMMARY_FILE = "summary.json"
FINAL_DIR = "final"
CHECKPOINTS_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
WANDB_DIR = "wandb"
WANDB_ID_FILE = "wandb_run_id"
EVAL_DIR = "eval"
CELL_FILE = "grid_cell.json"
EXPORT_DIR = "export"

RESULTS_FILE = "results.json"
RESULTS_LOCK = ".astraios-results.lock"
EVAL_LOCK_PREFIX = ".astraios-eval-"  # + TASK + ".lock": held while an evaluation of TASK writes here
GENERATIONS_DIR = "generations"
LOGS_DIR = "logs"
CACHE_DIR = "cache"

GRID_FILE = "grid.json"
BASES_DIR = "bases"
WORKERS_DIR = ".grid-workers"


def eval_lock(task: str) -> str:
    """The lock an evaluation of `task` holds in its output directory."""
    return f"{EVAL_LOCK_PREFIX}{task}.lock"

# What a training run (and a grid's evaluation of it) writes in its directory: `--overwrite` removes
# these and nothing else.
RUN_ENTRIES = frozenset({CONFIG_FILE, LOSSES_FILE, SUMMARY_FILE, FINAL_DIR, CHECKPOINTS_DIR, TENSORBOARD_DIR,
                         WANDB_DIR, WANDB_ID_FILE, EVAL_DIR, CELL_FILE, EXPORT_DIR})
