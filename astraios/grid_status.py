"""What a grid tells its user, beside the runs themselves: the dry-run plan with parameter counts
(meta device, no weights), the live progress view with a cost-weighted ETA, and `grid.json`, the
manifest of every job's status and timings. Its own module because `astraios.grid` decides what
runs and this only reports it; every executor shares the same view.
"""

from __future__ import annotations

import copy
import functools
import os
import platform
import time

from astraios import methods
from astraios.grid import GRID_FILE, Grid, GridOutcome, Job, job_status, read_cell_record
from astraios.grid_evaluation import EvalPlan
from astraios.io import CorruptFileError, read_json, write_json


def job_cost(job: Job) -> float:
    """Relative cost of a job for ordering and ETAs: base parameters x optimiser steps x tokens per step."""
    parameters = base_parameters(job.source_model)
    return (parameters or 1) * job.config.train.max_steps * job.config.train.global_batch_size * job.config.data.seq_len


@functools.lru_cache(maxsize=None)
def base_parameters(model: str) -> int | None:
    """Parameters of a base model, counted on the meta device (None when its config is unreachable)."""
    try:
        return methods.count_parameters(meta_base(model)).total
    except (OSError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def meta_base(model: str):
    """A base model on the meta device, built once per model (copy it before applying a method)."""
    from astraios import models

    return models.meta_model(model)


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

    def start(self, job: Job, where: str = "") -> None:
        status = job_status(job)
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


def write_manifest(grid: Grid, evaluation: EvalPlan, records: dict[str, dict], started_at: str,
                    wall_seconds: float) -> None:
    path = grid.output_dir / GRID_FILE
    try:
        previous = read_json(path) or {}
    except CorruptFileError:  # a torn grid.json is rebuilt; only the earlier invocations' timings are lost
        previous = {}
    jobs = []
    for job in grid.jobs:
        record = records.get(str(job.run_dir)) or read_cell_record(job.run_dir) or {}
        jobs.append({"kind": job.kind, "model": job.model, "source_model": job.source_model, "method": job.method,
                     "seed": job.seed, "run_dir": str(job.run_dir), "status": record.get("status") or job_status(job),
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


def plan_rows(grid: Grid) -> list[dict]:
    """One row per job with its parameter counts (meta device, no weights) and status on disk; a model
    that cannot be built (unknown, or a Hub id while offline) gives every row of it a `note`, found once."""
    rows = []
    problems: dict[str, str] = {}  # source model -> why it cannot be built
    for job in grid.jobs:
        row = {"job": job.kind, "model": job.model, "method": job.method, "status": job_status(job),
               "run_dir": str(job.run_dir), "steps": job.config.train.max_steps,
               "trainable": None, "total": None, "trainable_percent": None}
        try:
            if job.source_model in problems:
                raise ValueError(problems[job.source_model])
            try:
                # The base warm-up does not exist yet: its architecture is that of the listed model.
                base = meta_base(job.source_model)
            except (OSError, ValueError) as error:
                problems[job.source_model] = str(error)
                raise
            counts = methods.count_parameters(methods.apply(copy.deepcopy(base), job.config.method))
            row.update(trainable=counts.trainable, total=counts.total, trainable_percent=counts.trainable_percent)
        except (OSError, ValueError) as error:  # the real run fails the same way
            row["note"] = str(error)
        rows.append(row)
    return rows
