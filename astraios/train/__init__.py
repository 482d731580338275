"""Training: `run(config)` trains one method on one base model into a run directory."""

from astraios.train.loop import CONFIG_FILE, FINAL_DIR, LOSSES_FILE, SUMMARY_FILE, BatchPlan, run

__all__ = ["CONFIG_FILE", "FINAL_DIR", "LOSSES_FILE", "SUMMARY_FILE", "BatchPlan", "run"]
