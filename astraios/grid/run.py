"""One pass of `astraios grid`: read every job's state once, decide what runs, hand it to the executor.

Resume: a job whose summary.json (and, for cells, every evaluation task) is there is skipped, after
checking that its saved config equals the grid's, so a changed recipe never mixes silently with old
results; a cell re-evaluates exactly the tasks whose evaluation settings changed
(`astraios.grid.evaluation`); a job with a config.yaml but no summary resumes from its last
checkpoint; a failed job is retried. An exception in one job is recorded and the grid goes on.
A job whose directory holds a run trained with another config than the grid's now (a finished run
or a checkpoint) is reported as `mismatch` in grid.json and the command's summary, and left as it
is: its grid_cell.json keeps saying what it was (a finished cell stays finished), and the grid
exits 1.

Evaluation tasks whose data is missing (no local data directory, Hub unreachable) are recorded as
skipped with the reason, once per grid run, and the other tasks go on.

One `astraios grid` at a time per output_dir: the directory is locked (`astraios.core.locks`).
"""

from __future__ import annotations

import time
from pathlib import Path

from astraios.core.locks import exclusive
from astraios.grid.cell import JobState
from astraios.grid.evaluation import plan_evaluation
from astraios.grid.executors.config import ExecutorConfig
from astraios.grid.plan import Grid, Job
from astraios.grid.status import GridOutcome, GridProgress, write_manifest


def run_grid(grid: Grid, *, show_progress: bool = True, gpus: list[str] | None = None, console=None) -> GridOutcome:
    """Run every unfinished job of the grid with its executor; locally, `gpus` (default: the visible CUDA
    devices) run jobs in parallel.
    The output directory is locked meanwhile: a second grid there is refused (`LockHeld`)."""
    with exclusive(grid.output_dir, "grid"):
        return _run_grid(grid, show_progress=show_progress, gpus=gpus, console=console)


def make_executor(config: ExecutorConfig, *, output_dir: Path, grid_path: Path, gpus: list[str] | None):
    """The executor of a grid run (a context manager: Ray connects on entry and disconnects on exit)."""
    if config.name == "ray":
        from astraios.grid.executors.ray import RayExecutor

        return RayExecutor(config, output_dir=output_dir, grid_path=grid_path)
    from astraios.grid.executors.local import LocalExecutor, visible_gpus

    return LocalExecutor(visible_gpus() if gpus is None else gpus)


def _run_grid(grid: Grid, *, show_progress: bool, gpus: list[str] | None, console) -> GridOutcome:
    from rich.console import Console

    console = console or Console(stderr=True, quiet=not show_progress)
    started = time.perf_counter()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S")
    evaluation = plan_evaluation(grid.config.evaluation)
    for name, reason in evaluation.skipped.items():
        console.print(f"[yellow]skipping task {name}:[/] {reason}")
    for name, warnings in evaluation.warnings.items():
        for warning in warnings:
            Console(stderr=True).print(f"[yellow]warning:[/] {name}: {warning}")
    # The pass's one reading of every job's directory (a job's files change only when it runs).
    states = {str(job.run_dir): JobState(job) for job in grid.jobs}
    records: dict[str, dict] = {}
    skipped_jobs = []
    progress = GridProgress(grid.jobs, console)
    executor = make_executor(grid.config.executor, output_dir=grid.output_dir, grid_path=grid.path, gpus=gpus)
    with executor:
        for stage in (grid.bases, grid.cells):
            todo = []
            for job in stage:
                state = states[str(job.run_dir)]
                base_mismatch = _base_mismatch(job, records)  # a cell trained from a base the grid no longer makes
                if not base_mismatch and state.is_done(evaluation):
                    skipped_jobs.append(str(job.run_dir))
                    records[str(job.run_dir)] = state.record or {"status": "finished"}
                    progress.skip(job)
                elif mismatch := base_mismatch or state.mismatch():
                    # Reported, not run: the directory's own record keeps saying what it holds.
                    records[str(job.run_dir)] = {**(state.record or {}), "status": "mismatch", "error": mismatch}
                    progress.mismatch(job, mismatch)
                else:
                    todo.append(job)
                    progress.plan(job, state.status)
            records.update(executor.run(todo, evaluation, progress, states, show_progress=show_progress))
            write_manifest(grid, evaluation, records, states, started_at, time.perf_counter() - started)
    outcome = GridOutcome(records, skipped_jobs, evaluation, time.perf_counter() - started)
    progress.summary(outcome)
    return outcome


def _base_mismatch(job: Job, records: dict[str, dict]) -> str | None:
    if job.depends_on and records.get(job.depends_on, {}).get("status") == "mismatch":
        return f"its base warm-up ({job.depends_on}) holds a run with other settings than the grid's"
    return None
