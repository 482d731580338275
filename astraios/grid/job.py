"""Running one grid job, the same under every executor: train (or resume) it, evaluate its pending
tasks, and record what happened in its grid_cell.json. A job's own error is recorded, never
raised, so one failed cell never stops the others."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

from astraios.config import ConfigError
from astraios.core.layout import CELL_FILE
from astraios.grid.cell import JobState, base_trained, write_cell_record
from astraios.grid.evaluation import EvalPlan, evaluate_cell
from astraios.grid.plan import Job


def run_job(job: Job, evaluation: EvalPlan, *, show_progress: bool, trainer=None, state: JobState | None = None) -> dict:
    """Train (or resume) and evaluate one job; never raises for the job's own errors: the record says.
    `trainer(config, resume=, overwrite=, show_progress=)` trains (default `train.run`, in this process);
    `state` is the grid pass's reading of the job's directory (read here when not given)."""
    state = state or JobState(job)
    previous = state.record or {}
    record = {"kind": job.kind, "model": job.model, "source_model": job.source_model, "method": job.method,
              "seed": job.seed, "base_model": job.config.model.name, "status": "running", "stage": "train",
              "train_seconds": previous.get("train_seconds", 0.0), "eval_seconds": previous.get("eval_seconds", 0.0),
              "skipped_tasks": evaluation.skipped if job.evaluated else {}}
    try:
        if job.depends_on and not base_trained(Path(job.depends_on)):
            raise RuntimeError(f"its base warm-up ({job.depends_on}) did not finish; see its {CELL_FILE}")
        if state.trained:
            if mismatch := state.mismatch():  # checked here too: a Ray worker or GPU process runs only this
                raise ConfigError(mismatch)
        else:
            from astraios import train

            trainer = trainer or train.run
            # Resume from a checkpoint; without one there is nothing to keep, so start over (a cell
            # that failed before its first checkpoint, e.g. on a bad setting, runs again once fixed).
            resume = state.checkpointed
            started = time.perf_counter()
            try:
                trainer(job.config, resume=resume, overwrite=not resume, show_progress=show_progress)
            finally:
                record["train_seconds"] += time.perf_counter() - started
            state = JobState(job)  # training changed the directory (a fresh start clears eval/)
        if job.evaluated and evaluation.settings is not None:
            record["stage"] = "eval"
            started = time.perf_counter()
            try:
                pending = state.pending_tasks(evaluation)
                evaluate_cell(job.run_dir, evaluation, pending, show_progress)
                record["evaluated_tasks"] = pending  # task -> why it was (re-)evaluated in this run
            finally:
                record["eval_seconds"] += time.perf_counter() - started
        record.update(status="finished", stage=None, error=None, traceback=None)
    except Exception as error:  # one cell's failure must not stop the grid
        record.update(status="failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
    record["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    write_cell_record(job.run_dir, record)
    return record
