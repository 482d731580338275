"""The report's security part: Table 5 and the insecure-rate figure, kept out of the averages."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

from astraios.analysis import build_report

SIZES = {"m1": 1_000_000, "m3": 3_000_000}


def fake_cell(root: Path, model: str, method: str, pass_at_1: float, aatk: dict | None, seed: int | None = None) -> None:
    run_dir = root / (f"{model}-{method}" + (f"-seed{seed}" if seed is not None else ""))
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": {"name": model}, "method": {"name": method},
                                                         "train": {"seed": seed or 0}}))
    base = SIZES[model]
    (run_dir / "summary.json").write_text(json.dumps({
        "parameters": {"trainable": 10, "total": base + 10, "trainable_percent": 1e-3},
        "final_test_loss": 2.0, "initial_test_loss": 3.0}))
    tasks = {"t": {"metrics": {"pass@1": pass_at_1}, "primary_metric": "pass@1"}}
    if aatk is not None:
        tasks["aatk"] = {"metrics": aatk, "primary_metric": "insecure_rate", "details": {"checker": "builtin"}}
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "results.json").write_text(json.dumps({"tasks": tasks}))


def test_table5_and_figure_from_security_results(tmp_path):
    fake_cell(tmp_path / "runs", "m1", "lora", 0.2, {"valid_rate": 0.5, "insecure_rate": 0.25})
    fake_cell(tmp_path / "runs", "m3", "lora", 0.4, {"valid_rate": 0.75, "insecure_rate": 0.4})
    fake_cell(tmp_path / "runs", "m1", "ia3", 0.1, {"valid_rate": 0.8, "insecure_rate": None})
    fake_cell(tmp_path / "runs", "m3", "ia3", 0.3, None)
    report = build_report(tmp_path / "runs", tmp_path / "report")
    table = next(t for t in report.tables if t.title.startswith("Table 5"))
    assert "checker: builtin" in table.title
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["lora"] == ["50.0 / 25.0", "75.0 / 40.0"] and rows["ia3"] == ["80.0 / n/a", ""]
    with open(tmp_path / "report" / "figures" / "figure_security_insecure_vs_size.csv") as handle:
        figure = list(csv.DictReader(handle))
    assert {(row["method"], row["model"]): row["insecure_rate"] for row in figure} == \
        {("lora", "m1"): "0.25", ("lora", "m3"): "0.4", ("ia3", "m1"): ""}
    # the lower-is-better rate never enters the average score
    with open(tmp_path / "report" / "figures" / "figure1_ranking.csv") as handle:
        averages = {(row["method"], row["model"]): float(row["average_score"]) for row in csv.DictReader(handle)}
    assert averages[("lora", "m1")] == 0.2 and averages[("ia3", "m3")] == 0.3
    assert not any("aatk" in note and "only some cells" in note for note in report.notes)
    assert "Table 5" in (tmp_path / "report" / "report.md").read_text()


def test_table5_gives_the_mean_over_seeds_and_keeps_unrelated_runs_apart(tmp_path):
    fake_cell(tmp_path / "runs", "m1", "lora", 0.2, {"valid_rate": 0.5, "insecure_rate": 0.2}, seed=0)
    fake_cell(tmp_path / "runs", "m1", "lora", 0.2, {"valid_rate": 0.7, "insecure_rate": 0.4}, seed=1)
    fake_cell(tmp_path / "runs", "m1", "ia3", 0.1, {"valid_rate": 0.9, "insecure_rate": 0.1})
    copy = tmp_path / "runs" / "m1-ia3-copy"  # the same seed again: not another seed of one experiment
    (tmp_path / "runs" / "m1-ia3").rename(tmp_path / "m1-ia3")
    fake_cell(tmp_path / "runs", "m1", "ia3", 0.1, {"valid_rate": 0.5, "insecure_rate": 0.5})
    (tmp_path / "runs" / "m1-ia3").rename(copy)
    (tmp_path / "m1-ia3").rename(tmp_path / "runs" / "m1-ia3")
    report = build_report(tmp_path / "runs", tmp_path / "report")
    table = next(t for t in report.tables if t.title.startswith("Table 5"))
    assert {row[0]: row[1] for row in table.rows} == {
        "lora": "60.0 / 30.0", "ia3 (m1-ia3)": "90.0 / 10.0", "ia3 (m1-ia3-copy)": "50.0 / 50.0"}
