"""The report's robustness section: Table 4 and the robustness figure, exact on hand-made run
directories, and present for a real (tiny) grid that evaluates a recode task."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from astraios import grid as grids
from astraios.analysis import build_report

SIZES = {"m1": 1_000_000, "m7": 7_000_000}


def fake_cell(root: Path, model: str, method: str, recode: dict[str, dict] | None) -> None:
    run_dir = root / f"{model}-{method}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": {"name": model}, "method": {"name": method}}))
    base, trainable = SIZES[model], 1000
    (run_dir / "summary.json").write_text(json.dumps({
        "parameters": {"trainable": trainable, "total": base + trainable, "trainable_percent": 0.1},
        "final_test_loss": 1.0, "initial_test_loss": 2.0}))
    losses = [{"step": 0, "split": "test", "loss": 2.0}, {"step": 1, "split": "train", "loss": 1.5},
              {"step": 1, "split": "test", "loss": 1.0}]
    (run_dir / "losses.jsonl").write_text("".join(json.dumps(record) + "\n" for record in losses))
    (run_dir / "eval").mkdir()
    tasks = {"t": {"metrics": {"pass@1": 0.5}, "primary_metric": "pass@1"}}
    for category, (metrics, means) in (recode or {}).items():
        tasks[f"recode-{category}"] = {"metrics": metrics, "primary_metric": "RP@1",
                                       "details": {"mean_over_transformations": means}}
    (run_dir / "eval" / "results.json").write_text(json.dumps({"tasks": tasks}))


def metrics(passed: float, robust: float) -> tuple[dict, dict]:
    """A category's metrics (worst case) and its means over transformations, as results.json has them."""
    return ({"pass@1": passed, "RP@1": robust, "RD@1": (passed - robust) / passed, "RR@1": 0.1,
             "RC@1": abs(passed - robust)}, {"RP@1": robust + 0.05, "RC@1": abs(passed - robust) - 0.05})


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_table_4_and_figure_from_hand_made_cells(tmp_path):
    runs = tmp_path / "runs"
    fake_cell(runs, "m1", "lora", {"docstring": metrics(0.4, 0.3), "format": metrics(0.4, 0.2)})
    fake_cell(runs, "m7", "lora", {"docstring": metrics(0.6, 0.3), "format": metrics(0.6, 0.1)})
    fake_cell(runs, "m1", "full", {"docstring": metrics(0.5, 0.45), "format": metrics(0.5, 0.4)})
    fake_cell(runs, "m7", "full", {"docstring": metrics(0.7, 0.5), "format": metrics(0.7, 0.5)})
    report = build_report(runs, tmp_path / "report")
    table = next(t for t in report.tables if t.title.startswith("Table 4"))
    assert table.columns == ["model", "method", "docstring RP@1", "docstring RC@1", "format RP@1", "format RC@1"]
    assert table.rows == [["m1 (1.0M)", "full", "0.450", "0.050", "0.400", "0.100"],
                          ["m1 (1.0M)", "lora", "0.300", "0.100", "0.200", "0.200"],
                          ["m7 (7.0M)", "full", "0.500", "0.200", "0.500", "0.200"],
                          ["m7 (7.0M)", "lora", "0.300", "0.300", "0.100", "0.500"]]
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "### Table 4: robustness on ReCode" in markdown and "figures/figure_robustness.png" in markdown
    assert (tmp_path / "report" / "figures" / "figure_robustness.png").read_bytes().startswith(b"\x89PNG")
    drawn = {(row["model"], row["method"]): row for row in read_csv(tmp_path / "report/figures/figure_robustness.csv")}
    assert float(drawn["m7", "lora"]["mean_RC@1"]) == pytest.approx((0.3 + 0.5) / 2)
    assert float(drawn["m1", "full"]["mean_RP@1"]) == pytest.approx((0.45 + 0.4) / 2)
    rows = read_csv(tmp_path / "report" / "tables" / "robustness.csv")
    assert len(rows) == 8 and {row["category"] for row in rows} == {"docstring", "format"}
    m7_lora_format = next(r for r in rows if r["model"] == "m7" and r["method"] == "lora" and r["category"] == "format")
    assert float(m7_lora_format["RD@1"]) == pytest.approx(0.5 / 0.6)
    assert float(m7_lora_format["mean RP@1"]) == pytest.approx(0.15)
    # Robustness stands beside quality: the average score is task t's alone (0.5), not mixed with RP@1.
    assert {row["task"] for row in read_csv(tmp_path / "report" / "tables" / "scores.csv")} == {"t"}
    averages = next(t for t in report.tables if t.title.startswith("Average score"))
    assert {cell for row in averages.rows for cell in row[1:]} == {"0.500"}


def test_no_robustness_section_without_recode_results(tmp_path):
    fake_cell(tmp_path / "runs", "m1", "lora", None)
    report = build_report(tmp_path / "runs", tmp_path / "report")
    assert not any(t.title.startswith("Table 4") for t in report.tables)
    assert not any(spec.name == "figure_robustness" for spec in report.figures)
    assert not (tmp_path / "report" / "tables" / "robustness.csv").exists()


def test_report_of_a_real_grid_with_a_recode_task(data_dir, tmp_path):
    config = {
        "output_dir": str(tmp_path / "runs"),
        "models": ["tiny-gptbigcode-xs"],
        "methods": ["lora"],
        "recipe": {"set": {
            "model.quantization": "none", "data.sources": [{"path": "astraios-sample", "limit": 16}],
            "data.seq_len": 32, "data.test_size": 4, "train.max_steps": 2, "train.global_batch_size": 4,
            "train.micro_batch_size": 4, "train.warmup_steps": 1, "train.eval_every": 2, "train.save_every": 100}},
        "evaluation": {"tasks": ["recode-format"], "n_samples": 1, "temperature": 0, "max_new_tokens": 4, "limit": 1,
                       "data_dir": str(data_dir)},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    outcome = grids.run_grid(grids.load_grid(path), show_progress=False, gpus=[])
    assert not outcome.failed, outcome.records
    report = build_report(tmp_path / "runs", tmp_path / "report")
    table = next(t for t in report.tables if t.title.startswith("Table 4"))
    assert [row[1] for row in table.rows] == ["lora"] and table.columns[2:] == ["format RP@1", "format RC@1"]
    results = json.loads((tmp_path / "runs" / "tiny-gptbigcode-xs-lora" / "eval" / "results.json").read_text())
    entry = results["tasks"]["recode-format"]
    assert table.rows[0][2] == f"{entry['metrics']['RP@1']:.3f}" and entry["num_documents"] == 11
    assert (tmp_path / "report" / "figures" / "figure_robustness.svg").is_file()
