"""The local executor: one job after another in this process, or one spawned process per job pinned
to one visible GPU, biggest jobs first."""

from __future__ import annotations

import os

from astraios.grid.cell import died_record, read_cell_record
from astraios.grid.job import run_job
from astraios.grid.status import job_cost


def visible_gpus() -> list[str]:
    """Physical ids of the visible CUDA devices (honouring CUDA_VISIBLE_DEVICES)."""
    import torch

    count = torch.cuda.device_count()
    listed = [part.strip() for part in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if part.strip()]
    return listed[:count] if listed else [str(index) for index in range(count)]


class LocalExecutor:
    def __init__(self, gpus: list[str]):
        self.gpus = gpus

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        return None

    def run(self, jobs, evaluation, progress, states, *, show_progress: bool) -> dict[str, dict]:
        if len(self.gpus) > 1:
            return self._run_on_gpus(jobs, evaluation, progress)
        records = {}
        for job in jobs:
            progress.start(job)
            record = run_job(job, evaluation, show_progress=show_progress, state=states[str(job.run_dir)])
            records[str(job.run_dir)] = record
            progress.finish(job, record)
        return records

    def _run_on_gpus(self, jobs, evaluation, progress) -> dict[str, dict]:
        """One spawned process per job, pinned to one GPU; the biggest jobs first so the tail is short."""
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        queue = sorted(jobs, key=job_cost, reverse=True)
        free = list(range(len(self.gpus)))  # slots, one per GPU
        running: dict[int, tuple] = {}  # slot -> (process, job)
        records = {}
        while queue or running:
            while queue and free:
                slot, job = free.pop(0), queue.pop(0)
                process = context.Process(target=_job_process, args=(job, evaluation, self.gpus[slot]),
                                          name=f"astraios-grid-{slot}")
                process.start()
                running[slot] = (process, job)
                progress.start(job, where=f"GPU {self.gpus[slot]}")
            for slot, (process, job) in list(running.items()):
                process.join(timeout=0.5)
                if process.is_alive():
                    continue
                record = read_cell_record(job.run_dir)
                if process.exitcode != 0 or record is None or record.get("status") == "running":
                    record = died_record(job, f"the job's process exited with code {process.exitcode}")
                records[str(job.run_dir)] = record
                progress.finish(job, record)
                del running[slot]
                free.append(slot)
        return records


def _job_process(job, evaluation, gpu: str) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before anything touches CUDA in this fresh process
    run_job(job, evaluation, show_progress=False)
