"""`astraios grid`: train and evaluate every model x method cell of a study, resumably.

Read top to bottom, a grid is:
- `plan.py`: the grid config (YAML) -> validated `Job`s (base warm-ups, then cells);
- `evaluation.py`: the `evaluation:` section, the tasks with data, and whether a cell's results are current;
- `cell.py`: the one reader and writer of a job's state on disk (`JobState`, grid_cell.json);
- `job.py`: `run_job`, one job trained (or resumed), evaluated and recorded, the same everywhere;
- `executors/`: where jobs run (`local`, `ray`);
- `status.py`: what the user sees (dry-run plan, progress with ETA, grid.json);
- `run.py`: `run_grid`, one pass over the jobs.

Layout of the grid's `output_dir` (names in `astraios.core.layout`):
    grid.json               the plan, every job's status, tasks evaluated or skipped, timings
    bases/MODEL/            base warm-up run (only with `base_warmup`): its final/ is the cells' base
    MODEL-METHOD/           a cell: a training run directory (config.yaml, losses.jsonl, summary.json,
                            final/) plus eval/results.json and grid_cell.json (status, error, timings)
"""

from astraios.grid.plan import Grid, GridConfig, Job, load_grid
from astraios.grid.run import run_grid
from astraios.grid.status import GridOutcome

__all__ = ["Grid", "GridConfig", "GridOutcome", "Job", "load_grid", "run_grid"]
