"""What a grid tells its user, beside the runs themselves: the dry-run plan with parameter counts
(meta device, no weights), the live progress view with a cost-weighted ETA, and `grid.json`, the
manifest of every job's status and timings. Its own module because `astraios.grid.run` decides what
runs and this only reports it; every executor shares the same view.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from dataclasses import dataclass

from astraios import methods
from astraios.core.io import CorruptFileError, read_json, write_json
from astraios.core.layout import GRID_FILE
from astraios.grid.cell import JobState
from astraios.grid.evaluation import EvalPlan
from astraios.grid.plan import Grid, Job
from astraios.methods.accounting import architecture_shape, parameter_count, training_flops


@dataclass
class GridOutcome:
    records: dict[str, dict]  # run dir -> the job's record (this run's, or the one found on disk)
    skipped_jobs: list[str]  # run dirs already finished before this run
    evaluation: EvalPlan
    wall_seconds: float

    @property
    def failed(self) -> list[str]:
        return [run_dir for run_dir, record in self.records.items() if record.get("status") == "failed"]

    @property
    def mismatched(self) -> list[str]:
        return [run_dir for run_dir, record in self.records.items() if record.get("status") == "mismatch"]


def job_cost(job: Job) -> float:
    """Relative cost of a job for ordering and ETAs: base parameters x optimiser steps x tokens per step."""
    parameters = base_parameters(job.source_model)
    return (parameters or 1) * job.config.train.max_steps * job.config.train.global_batch_size * job.config.data.seq_len


@functools.lru_cache(maxsize=None)
def base_parameters(model: str) -> int | None:
    """Parameters of a base model, counted on the meta device (None when its config is unreachable)."""
    try:
        return parameter_count(model).total
    except (OSError, ValueError):
        return None


class GridProgress:
    """One line per job as it starts and ends: counts (done, running, failed), elapsed time and a
    cost-weighted ETA; the same for every executor."""

    def __init__(self, jobs: list[Job], console):
        self.console = console
        self.total = len(jobs)
        self.remaining_cost = sum(job_cost(job) for job in jobs)
        self.done_cost = 0.0
        self.counts = {"finished": 0, "failed": 0, "skipped": 0, "mismatch": 0}
        self.running: set[str] = set()
        self.statuses: dict[str, str] = {}  # run dir -> its status on disk when the pass planned it
        self.started = time.perf_counter()

    def _position(self) -> str:
        done = sum(self.counts.values())
        elapsed = time.perf_counter() - self.started
        eta = ""
        if self.done_cost and self.remaining_cost:
            eta = f", ETA {_duration(elapsed / self.done_cost * self.remaining_cost)}"
        failed = f", {self.counts['failed']} failed" if self.counts["failed"] else ""
        running = f", {len(self.running)} running" if len(self.running) > 1 else ""
        return f"[{done}/{self.total}{running}{failed}, {_duration(elapsed)}{eta}]"

    def skip(self, job: Job) -> None:
        self.counts["skipped"] += 1
        self.remaining_cost -= job_cost(job)
        self.console.print(f"{self._position()} {job.name}: already finished, skipped")

    def mismatch(self, job: Job, message: str) -> None:
        self.counts["mismatch"] += 1
        self.remaining_cost -= job_cost(job)
        self.console.print(f"{self._position()} [yellow]{job.name}: not run, settings differ:[/] {message}")

    def plan(self, job: Job, status: str) -> None:
        """`job` is to run; `status` (its state on disk) says whether it starts, resumes or is retried."""
        self.statuses[str(job.run_dir)] = status

    def start(self, job: Job, where: str = "") -> None:
        status = self.statuses.get(str(job.run_dir), "pending")
        action = {"interrupted": "resuming", "failed": "retrying", "trained": "evaluating"}.get(status, "starting")
        self.running.add(str(job.run_dir))
        self.console.rule(f"{self._position()} {action} {job.name}{f' on {where}' if where else ''}", align="left")

    def finish(self, job: Job, record: dict) -> None:
        cost = job_cost(job)
        self.running.discard(str(job.run_dir))
        self.counts["failed" if record.get("status") == "failed" else "finished"] += 1
        self.remaining_cost -= cost
        self.done_cost += cost
        if record.get("status") == "failed":
            self.console.print(f"[bold red]{job.name} failed[/] ({record.get('stage')}): {record.get('error')}")
        else:
            self.console.print(f"{job.name}: done in {_duration(record['train_seconds'] + record['eval_seconds'])}")

    def summary(self, outcome: GridOutcome) -> None:
        failed = outcome.failed
        done = len(outcome.records) - len(failed) - len(outcome.mismatched)
        self.console.rule(f"grid: {done} of {len(outcome.records)} jobs finished "
                          f"in {_duration(outcome.wall_seconds)}", align="left")
        for run_dir in failed:
            self.console.print(f"[red]failed:[/] {run_dir}: {outcome.records[run_dir].get('error')}")
        for run_dir in outcome.mismatched:
            self.console.print(f"[yellow]settings differ:[/] {outcome.records[run_dir].get('error')}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def write_manifest(grid: Grid, evaluation: EvalPlan, records: dict[str, dict], states: dict[str, JobState],
                   started_at: str, wall_seconds: float) -> None:
    """grid.json: every job's record from this pass (`records`), else from the pass's reading of its directory."""
    path = grid.output_dir / GRID_FILE
    try:
        previous = read_json(path) or {}
    except CorruptFileError:  # a torn grid.json is rebuilt; only the earlier invocations' timings are lost
        previous = {}
    jobs = []
    for job in grid.jobs:
        state = states[str(job.run_dir)]
        record = records.get(str(job.run_dir)) or state.record or {}
        jobs.append({"kind": job.kind, "model": job.model, "source_model": job.source_model, "method": job.method,
                     "seed": job.seed, "run_dir": str(job.run_dir), "status": record.get("status") or state.status,
                     "error": record.get("error"), "train_seconds": record.get("train_seconds"),
                     "eval_seconds": record.get("eval_seconds")})
    # One entry per `astraios grid` command on this grid: when it started and how long it has run.
    invocations = [entry for entry in previous.get("invocations", []) if entry["started"] != started_at]
    invocations.append({"started": started_at, "wall_seconds": round(wall_seconds, 1)})
    write_json(path, {
        "grid_config": str(grid.path), "config": grid.config.model_dump(mode="json"),
        "machine": machine(),
        "tasks": {"evaluated": evaluation.tasks, "skipped": evaluation.skipped, "warnings": evaluation.warnings,
                  "data_dir": evaluation.data_dir()},
        "jobs": jobs, "invocations": invocations,
        "job_seconds": round(sum((job["train_seconds"] or 0) + (job["eval_seconds"] or 0) for job in jobs), 1),
    })


def machine() -> dict:
    import torch

    gpus = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "gpus": gpus}


def cell_flops(job: Job, shape: tuple[int, int, int], counts) -> float:
    """Training FLOPs of a job: every optimiser step's global batch of full-length sequences (padding counted)."""
    train = job.config.train
    tokens = train.max_steps * train.global_batch_size * job.config.data.seq_len
    return training_flops(shape, counts, tokens=tokens, context=job.config.data.seq_len,
                          full=not methods.get(job.config.method.name).parameter_efficient)


def plan_rows(grid: Grid) -> list[dict]:
    """One row per job with its parameter counts and training FLOPs (meta device, no weights) and status on disk; a model
    that cannot be built (unknown, or a Hub id while offline) gives every row of it a `note`, found once."""
    rows = []
    problems: dict[str, str] = {}  # source model -> why it cannot be built
    for job in grid.jobs:
        row = {"job": job.kind, "model": job.model, "method": job.method, "status": JobState(job).status,
               "run_dir": str(job.run_dir), "steps": job.config.train.max_steps,
               "trainable": None, "total": None, "trainable_percent": None, "train_flops": None}
        try:
            if job.source_model in problems:
                raise ValueError(problems[job.source_model])
            try:
                # The base warm-up does not exist yet: its architecture is that of the listed model.
                parameter_count(job.source_model)
            except (OSError, ValueError) as error:
                problems[job.source_model] = str(error)
                raise
            counts = parameter_count(job.source_model, job.config.method)
            row.update(trainable=counts.trainable, total=counts.total, trainable_percent=counts.trainable_percent,
                       train_flops=cell_flops(job, architecture_shape(job.source_model), counts))
        except (OSError, ValueError) as error:  # the real run fails the same way
            row["note"] = str(error)
        rows.append(row)
    return rows
