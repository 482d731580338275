"""Training: `run(config)` trains one method on one base model into a run directory
(its files: `astraios.core.layout`)."""

from astraios.train.loop import BatchPlan, run

__all__ = ["BatchPlan", "run"]
