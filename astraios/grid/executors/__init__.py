"""Where a grid's jobs run: here (one after another, or one process per visible GPU) or on Ray.

`astraios.grid.run` decides *what* runs (which jobs are done, mismatched or to run, bases before
cells) and `astraios.grid.job.run_job` *how one job runs* (train or resume, evaluate, record). An
executor only places those jobs, so every executor has the same semantics: a rerun skips finished
jobs and resumes interrupted ones from their checkpoints, a job's error is recorded in its
grid_cell.json and the others go on, and one progress view (`GridProgress`) reports them. An
executor has `run(jobs, evaluation, progress, states, show_progress=)` and is a context manager.

- `local` (`local.py`, default): one job after another in this process; with several visible GPUs,
  one spawned process per job pinned to one GPU (`CUDA_VISIBLE_DEVICES`), biggest first.
- `ray` (`ray.py`): each job is a Ray task on an existing cluster or a local one.
- `config.py`: the grid file's `executor:` section.
"""
