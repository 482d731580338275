"""Regression guard (`make test-slow`): a reduced run of configs/grid-tiny.yaml must keep the
orderings any working method and scorer produce, so a broken method or scorer fails here instead
of shipping: every tuned method beats the untuned base on toy-synthesize, and full fine-tuning
reaches a lower test loss than P-Tuning.

Reduced: one model size (tiny-gptbigcode-s: ~3 minutes on 2 idle cores) and toy-synthesize only
(all 120 problems), with the shipped recipe unchanged, so the guard checks the configuration the
figures of the tiny rehearsal (docs/grid.md) come from. There the base solves no problem and the
tuned methods 2 (P-Tuning) to 27 (full fine-tuning) of 120, and the test losses are 0.16 (full) and 1.55 (P-Tuning). A method
that stops learning (an adapter left at its initialisation, a frozen or unsaved trainable part)
scores what the base scores, 0, and fails; so does a scorer that passes nothing. P-Tuning's
margin is the narrowest (2 problems): it fails first if P-Tuning gets worse."""

from __future__ import annotations

import pytest
import yaml

from astraios import grid as grids
from astraios.analysis import build_report
from conftest import REPO

GUARD_MODEL = "tiny-gptbigcode-s"


@pytest.mark.slow
@pytest.mark.timeout(3600)  # ~3 min on 2 idle cores; ten times that on a busy shared machine
def test_every_tuned_method_beats_the_untuned_base(tmp_path):
    config = yaml.safe_load((REPO / "configs" / "grid-tiny.yaml").read_text())
    config.update(output_dir=str(tmp_path / "runs"), models=[GUARD_MODEL])
    config["evaluation"].update(tasks=["toy-synthesize"], per_task={"toy-synthesize": {"limit": "all"}})
    config.pop("seeds", None)
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    outcome = grids.run_grid(grids.load_grid(path), show_progress=False, gpus=[])
    assert not outcome.failed, {run_dir: outcome.records[run_dir].get("error") for run_dir in outcome.failed}

    report = build_report(tmp_path / "runs", tmp_path / "report")
    scores = {row["method"]: row for row in report.figures[0].rows}  # Figure 1: one size, so one row per method
    base = scores["base"]["average_score"]
    for method in config["methods"]:
        assert scores[method]["average_score"] > base, (method, scores[method]["average_score"], base)
    losses = {cell["method"]: cell["final_test_loss"] for cell in report.figures[2].rows}
    assert losses["full"] < losses["ptuning"], losses
