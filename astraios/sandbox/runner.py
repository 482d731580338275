"""`run_program` and the parallel pool `run_many`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from astraios.core.progress import counting_bar
from astraios.sandbox.isolation import Isolation
from astraios.sandbox.languages import RUNNERS, ToolMissing
from astraios.sandbox.program import Program, Result
from astraios.sandbox.workspace import Workspace, remove_tree


def run_program(program: Program) -> Result:
    """Run one untrusted program in the strongest isolation this host allows.

    Never raises for anything the program does; a missing compiler or JDK gives status `error`
    with the install hint as `reason`.
    """
    tier = Isolation.tier(judged=program.tests is not None)
    run_dir, workdir = Workspace.new_run_dir()
    try:
        return RUNNERS[program.language](program, workdir, tier)
    except ToolMissing as exc:
        return Result(status="error", phase="compile", exit_code=None, duration_s=0.0, stdout="", stderr="",
                      isolation=tier, reason=str(exc), language=program.language)
    finally:
        remove_tree(run_dir)


def run_many(
    programs: Sequence[Program],
    workers: int | None = None,
    progress: bool = True,
    description: str = "executing",
) -> list[Result]:
    """Run `programs` in parallel (default: one worker per CPU); results in input order.

    Each worker thread waits on its own jailed process, so `workers` programs run at once.
    """
    workers = workers or os.cpu_count() or 1
    Isolation.tier(judged=any(program.tests is not None for program in programs))  # probe once, before the workers
    results: list[Result | None] = [None] * len(programs)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        futures = {pool.submit(run_program, program): index for index, program in enumerate(programs)}
        if progress:
            with counting_bar() as bar:
                task = bar.add_task(description, total=len(programs))
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.advance(task)
        else:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
    return results  # type: ignore[return-value]
