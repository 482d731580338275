"""The one reader and writer of a grid job's state on disk.

A job's directory is a training run directory (`astraios.core.layout`) plus the grid's record of
the job, grid_cell.json (status, stage, error, timings). `JobState` reads each of the files a
decision needs at most once (the record, summary.json and config.yaml's presence, the saved
config, checkpoints, eval/results.json), so one grid pass plans every job from one reading of its
files and hands that reading on: to the decisions (`status`, `is_done`, `mismatch`), to the
progress view, the manifest and, in this process, to the job itself. A job that runs in another
process (one per GPU, a Ray task) reads its own.

Status, before any check of settings: finished | failed | trained (a cell whose evaluation has not
finished) | interrupted (training started, no summary) | pending.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from astraios.core.io import CorruptFileError, read_json, write_json
from astraios.core.layout import (
    CELL_FILE,
    CONFIG_FILE,
    EVAL_DIR,
    RESULTS_FILE,
    SUMMARY_FILE,
)
from astraios.evaluation.results import StaleResultsError, check_current
from astraios.grid.evaluation import EvalPlan, pending_tasks
from astraios.grid.plan import Job


class JobState:
    """What one reading of a job's directory says; each file is read on first use, then kept."""

    def __init__(self, job: Job):
        self.job = job

    @cached_property
    def record(self) -> dict | None:
        return read_cell_record(self.job.run_dir)

    @cached_property
    def trained(self) -> bool:
        return (self.job.run_dir / SUMMARY_FILE).is_file()

    @cached_property
    def started(self) -> bool:
        return (self.job.run_dir / CONFIG_FILE).is_file()

    @cached_property
    def checkpointed(self) -> bool:
        from astraios.train import checkpoint

        return checkpoint.latest(self.job.run_dir) is not None

    @cached_property
    def config_differences(self) -> list[str]:
        """Fields in which the job's saved config.yaml differs from the grid's config for it."""
        from astraios.train.run_dir import saved_config_differences

        return saved_config_differences(self.job.run_dir, self.job.config)

    @cached_property
    def _results(self) -> dict | None | CorruptFileError | StaleResultsError:
        try:
            results = read_json(self.job.run_dir / EVAL_DIR / RESULTS_FILE)
            check_current(results, self.job.run_dir)
            return results
        except (CorruptFileError, StaleResultsError) as error:  # kept, so that a torn file is read once too
            return error

    @property
    def results(self) -> dict | None:
        """The cell's eval/results.json (None: none yet); raises CorruptFileError for a torn one and
        StaleResultsError for results of another model than the cell's final/ now."""
        if isinstance(self._results, Exception):
            raise self._results
        return self._results

    @property
    def status(self) -> str:
        record = self.record or {}
        if record.get("status") == "finished" and self.trained:
            return "finished"
        if record.get("status") == "failed":
            return "failed"
        if self.trained:
            return "trained" if self.job.kind == "cell" or self.job.evaluated else "finished"
        if self.started:
            return "interrupted"
        return "pending"

    def mismatch(self) -> str | None:
        """Why the job's directory holds a run trained with another config than the grid's now, or None.
        (Results with other evaluation settings are not a mismatch: those tasks are evaluated again.)"""
        started = self.trained or self.checkpointed
        if started and (differences := self.config_differences):
            run_dir = self.job.run_dir
            return (f"{run_dir} holds a run whose config differs from the grid's: {'; '.join(differences)}. Fix: "
                    f"restore the grid's recipe, or delete {run_dir} to train it again with the new one.")
        return None

    def pending_tasks(self, evaluation: EvalPlan) -> dict[str, str]:
        return pending_tasks(self.job.run_dir, self.results, evaluation)

    def is_done(self, evaluation: EvalPlan) -> bool:
        """Finished with the grid's config and, for a cell, every task evaluated with the grid's current
        settings. Anything else goes to `run_job`, which resumes it or records why it cannot."""
        if self.status != "finished" or self.config_differences:
            return False
        if not self.job.evaluated or evaluation.settings is None or not evaluation.tasks:
            return True
        try:
            return not self.pending_tasks(evaluation)
        except (CorruptFileError, StaleResultsError):  # `run_job` meets it again and records that cell's failure
            return False


def read_cell_record(run_dir: Path) -> dict | None:
    """The job's grid_cell.json; a torn one counts as absent (the status is then read from the run's
    own files) and is rewritten when the job next runs."""
    try:
        return read_json(Path(run_dir) / CELL_FILE)
    except CorruptFileError:
        return None


def write_cell_record(run_dir: Path, record: dict) -> None:
    write_json(Path(run_dir) / CELL_FILE, record)


def died_record(job: Job, error: str) -> dict:
    """The record of a job whose process died without writing its own (killed, out of memory, segfault)."""
    record = {**(read_cell_record(job.run_dir) or {}), "kind": job.kind, "model": job.model, "method": job.method,
              "seed": job.seed, "status": "failed", "error": error}
    write_cell_record(job.run_dir, record)
    return record


def base_trained(run_dir: Path) -> bool:
    """Whether a base warm-up finished training (its own evaluation may have failed: cells go on)."""
    record = read_cell_record(run_dir) or {}
    return record.get("status") == "finished" or (record.get("status") == "failed" and record.get("stage") == "eval")
