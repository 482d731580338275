"""Evaluation: run tasks against a model (or saved generations) into an output directory.

- `config`: `EvalConfig` (what `astraios eval` and a grid cell ask for) and `task_request`;
- `run`: `evaluate`, in the order the tasks need each other, through the generation cache;
- `results`: results.json (merged per task under a lock), versions, the summary table.
"""

from astraios.evaluation.config import EvalConfig, check_backend_options, task_request
from astraios.evaluation.results import summary_table, task_warnings
from astraios.evaluation.run import check_model, evaluate

__all__ = ["EvalConfig", "check_backend_options", "check_model", "evaluate", "summary_table", "task_request",
           "task_warnings"]
