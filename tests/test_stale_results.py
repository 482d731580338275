"""Results of one model never pass for another's (issue 21, items 5 and 7): `train --overwrite` does
not pull eval/ from under a running evaluation, grid and report refuse results whose model
fingerprint is not the run's `final/` now, and a copied or moved grid keeps its cells' results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from test_grid import grid_file, run
from test_understanding import devign_records
from typer.testing import CliRunner

from astraios.analysis.runs import load_cells
from astraios.cli import app
from astraios.core.io import write_jsonl
from astraios.core.layout import CELL_FILE, EVAL_DIR, FINAL_DIR, RESULTS_FILE, eval_lock
from astraios.core.locks import exclusive
from astraios.generate.source import fingerprint
from conftest import REPO

runner = CliRunner()
CELL = "tiny-gptbigcode-xs-ia3"


def flat(text: str) -> str:
    return " ".join(text.split())


def test_train_overwrite_refuses_while_an_evaluation_writes_into_the_run(tmp_path):
    from astraios.config import load_config

    run_dir = tmp_path / "race"
    config = load_config(REPO / "astraios/presets/demo.yaml", [f"train.output_dir={run_dir}"])
    (run_dir / FINAL_DIR).mkdir(parents=True)
    (run_dir / FINAL_DIR / "adapter_model.safetensors").write_bytes(b"old weights")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict()))
    (run_dir / "summary.json").write_text("{}")
    (run_dir / EVAL_DIR / "generations").mkdir(parents=True)
    with exclusive(run_dir / EVAL_DIR, "eval of humanevalsynthesize-python", name=eval_lock("humanevalsynthesize-python")):
        result = runner.invoke(app, ["train", str(REPO / "astraios/presets/demo.yaml"), "--set",
                                     f"train.output_dir={run_dir}", "--set", "train.max_steps=1", "--set", "train.warmup_steps=0", "--overwrite",
                                     "--quiet"])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        message = flat(result.output)
        assert "in use by astraios eval of humanevalsynthesize-python" in message and "train --overwrite" in message
        assert (run_dir / EVAL_DIR / eval_lock("humanevalsynthesize-python")).is_file()
        assert (run_dir / FINAL_DIR / "adapter_model.safetensors").read_bytes() == b"old weights"


@pytest.fixture(scope="module")
def evaluated_grid(tmp_path_factory) -> Path:
    """A finished grid of one cell (ia3) evaluated on devign (4 documents)."""
    root = tmp_path_factory.mktemp("grid")
    data = root / "data"
    write_jsonl(data / "devign" / "test.jsonl", devign_records())
    outcome = run(grid_file(root, methods=["ia3"], evaluation={"tasks": ["devign"], "data_dir": str(data),
                                                               "limit": 4}))
    assert not outcome.failed
    return root


def copied(grid: Path, target: Path) -> Path:
    shutil.copytree(grid, target)
    return target


def test_a_moved_grid_keeps_its_cells_results(evaluated_grid, tmp_path):
    moved = copied(evaluated_grid, tmp_path / "moved")
    data = evaluated_grid / "data"
    # Another output_dir, one evaluation setting changed: the cell re-evaluates devign, same model.
    outcome = run(grid_file(moved, methods=["ia3"], evaluation={"tasks": ["devign"], "data_dir": str(data),
                                                                "limit": 4, "per_task": {"devign": {"wording": "study"}}}))
    record = json.loads((moved / "runs" / CELL / CELL_FILE).read_text())
    assert not outcome.failed, record.get("error")
    assert record["status"] == "finished" and list(record["evaluated_tasks"]) == ["devign"]
    results = json.loads((moved / "runs" / CELL / EVAL_DIR / RESULTS_FILE).read_text())
    assert results["fingerprint"] == fingerprint(moved / "runs" / CELL / FINAL_DIR)
    assert results["tasks"]["devign"]["request"]["options"].get("wording") == "study"


def test_grid_and_report_refuse_results_of_another_model_than_the_run_now(evaluated_grid, tmp_path):
    grid = copied(evaluated_grid, tmp_path / "retrained")
    cell = grid / "runs" / CELL
    results = json.loads((cell / EVAL_DIR / RESULTS_FILE).read_text())
    recorded = results.get("fingerprint") or results["generation"]["fingerprint"]
    assert recorded == fingerprint(cell / FINAL_DIR)
    weights = next(path for path in (cell / FINAL_DIR).iterdir() if path.suffix == ".safetensors")
    weights.write_bytes(weights.read_bytes() + b"\0")  # the run trained again: other weights in final/
    current = fingerprint(cell / FINAL_DIR)
    assert current != recorded
    (report,) = load_cells(grid / "runs")
    assert report.status == "unreadable" and not report.scores
    assert recorded in report.error and current in report.error and str(cell) in report.error
    outcome = run(grid_file(grid, methods=["ia3"], evaluation={"tasks": ["devign"], "data_dir": str(grid / "data"),
                                                               "limit": 4}))
    record = json.loads((cell / CELL_FILE).read_text())
    assert outcome.failed and record["status"] == "failed"
    assert record["error"].startswith("StaleResultsError") and recorded in record["error"] and current in record["error"]
    assert "\n" not in record["error"]


def test_a_grid_with_base_warmups_moved_keeps_its_cells_and_a_changed_warmup_fails_them(tmp_path):
    """Cells train from the base warm-up's final/, recorded by its path: a grid moved whole keeps its
    cells (the base is at the same place relative to them); a warm-up recipe changed afterwards makes
    the base a mismatch, and the cells trained from the old base too, not finished and reused."""
    def grid_with_base(root: Path, steps: int) -> Path:
        root.mkdir(exist_ok=True)
        return grid_file(root, methods=["ia3"], base_warmup={"set": {"train.max_steps": steps}, "evaluate": False})

    first = tmp_path / "grid"
    assert not run(grid_with_base(first, 2)).failed
    moved = copied(first, tmp_path / "moved")
    outcome = run(grid_with_base(moved, 2))
    assert {Path(job).name for job in outcome.skipped_jobs} == {CELL, "tiny-gptbigcode-xs"}, outcome.records
    outcome = run(grid_with_base(moved, 3))
    statuses = {Path(job).name: record["status"] for job, record in outcome.records.items()}
    assert statuses == {"tiny-gptbigcode-xs": "mismatch", CELL: "mismatch"}, outcome.records
    assert "base warm-up" in outcome.records[str(moved / "runs" / CELL)]["error"]
