"""The command line, one module per command group (`app.py` wires them; `errors.py` is how they fail):

- `train.py`: train, methods, demo          - `evaluate.py`: eval, tasks
- `runs.py`: generate, export (a trained run) - `grid.py`: grid;  `report.py`: report
- `sandbox.py`, `security.py`: the command groups of those packages
- `perturb.py`: perturb;  `gpu_check.py`: gpu-check

The packages below keep no command-line code: everything a user types is parsed here.
"""

from astraios.cli.app import app

__all__ = ["app"]
