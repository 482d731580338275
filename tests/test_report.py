"""`astraios report`: built from real tiny grid runs (every figure and table present and true to the
runs), and from hand-made run directories for exact values and degenerate data."""

from __future__ import annotations

import csv
import html
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import yaml
from typer.testing import CliRunner

from astraios import grid as grids
from astraios.analysis import build_report
from astraios.cli import app
from conftest import shared_data_dir

FIGURES = ["figure1_ranking", "figure2_trainable_percent", "figure3_loss_vs_size", "figure4_test_loss_curves",
           "figure8_params_vs_loss", "figure9_loss_vs_score"]
TABLES = ["losses", "scores", "trainable", "cost", "scaling", "cells"]


@pytest.fixture(scope="session")
def tiny_grid_runs(tmp_path_factory) -> Path:
    """A real grid: two tiny sizes (briefly warmed up) x three methods, a few steps each, evaluated
    on a couple of documents when the shared data is present (BigCloneBench's is not: a recorded skip)."""
    root = tmp_path_factory.mktemp("tiny-grid")
    data = shared_data_dir()
    config = {
        "output_dir": str(root / "runs"),
        "models": ["tiny-gptbigcode-xs", "tiny-gptbigcode-s"],
        "methods": ["full", "lora", "ia3"],
        "recipe": {"set": {
            "model.quantization": "none", "data.sources": [{"path": "astraios-sample", "limit": 40}],
            "data.seq_len": 64, "data.test_size": 8, "train.max_steps": 4, "train.global_batch_size": 4,
            "train.micro_batch_size": 4, "train.warmup_steps": 1, "train.eval_every": 2, "train.save_every": 100,
            "train.learning_rate": 1.0e-2}},
        "base_warmup": {"set": {"train.max_steps": 3, "data.loss_on": "all"}},
        "evaluation": {"tasks": ["humanevalsynthesize-python", "devign", "bigclonebench"], "n_samples": 1,
                       "temperature": 0, "max_new_tokens": 8, "limit": 2,
                       "data_dir": str(data or root / "no-data")},
    }
    (root / "no-data").mkdir()
    path = root / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    outcome = grids.run_grid(grids.load_grid(path), show_progress=False, gpus=[])
    assert not outcome.failed, outcome.records
    return root / "runs"


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_report_from_real_runs_has_every_figure_and_table(tiny_grid_runs, tmp_path):
    report = build_report(tiny_grid_runs, tmp_path / "report")
    out = tmp_path / "report"
    for name in FIGURES:
        png, svg, data = (out / "figures" / f"{name}.{suffix}" for suffix in ("png", "svg", "csv"))
        assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 5000, name
        assert b"<svg" in svg.read_bytes()[:2000], name
        assert data.stat().st_size > 0, name
    index = (out / "index.html").read_text()
    for spec in report.figures:
        assert f'src="figures/{spec.name}.png"' in index and html.escape(spec.caption) in index
    assert "<script" not in index and "http" not in index  # readable offline
    for name in TABLES:
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
    assert "## Figures" in (out / "report.md").read_text()


def test_report_tables_are_true_to_the_run_directories(tiny_grid_runs, tmp_path):
    build_report(tiny_grid_runs, tmp_path / "report")
    rows = read_csv(tmp_path / "report" / "tables" / "losses.csv")
    cells = {(row["model"], row["method"]): row for row in rows}
    assert set(cells) == {(m, k) for m in ("tiny-gptbigcode-xs", "tiny-gptbigcode-s") for k in ("full", "lora", "ia3")}
    for (model, method), row in cells.items():  # base warm-ups are not cells; labels are the listed models
        run_dir = tiny_grid_runs / f"{model}-{method}"
        summary = json.loads((run_dir / "summary.json").read_text())
        assert float(row["final_test_loss"]) == pytest.approx(summary["final_test_loss"])
        train = [r["loss"] for r in map(json.loads, (run_dir / "losses.jsonl").read_text().splitlines())
                 if r["split"] == "train"]
        assert len(train) == 4 and float(row["final_train_loss"]) == pytest.approx(train[-1])  # last tenth of 4 steps
        assert int(row["base_parameters"]) == {"tiny-gptbigcode-xs": 71_584, "tiny-gptbigcode-s": 437_248}[model]
    cost = {(row["model"], row["method"]): row for row in read_csv(tmp_path / "report/tables/cost.csv")}
    markdown = (tmp_path / "report" / "report.md").read_text()
    for (model, method), row in cost.items():
        summary = json.loads((tiny_grid_runs / f"{model}-{method}" / "summary.json").read_text())
        assert float(row["tokens_per_second"]) == pytest.approx(summary["tokens_per_second"])
        assert int(row["peak_memory_bytes"]) == summary["peak_memory_bytes"] > 0
        assert f"{summary['tokens_per_second']:,.0f}" in markdown
    assert f"Peak training memory (MiB; {summary['memory_kind']})" in markdown
    trainable = {(row["model"], row["method"]): row for row in read_csv(tmp_path / "report/tables/trainable.csv")}
    assert float(trainable["tiny-gptbigcode-s", "full"]["trainable_percent"]) == 100.0
    scaling = read_csv(tmp_path / "report" / "tables" / "scaling.csv")
    assert all("too few sizes" in row["note"] for row in scaling)
    curves = read_csv(tmp_path / "report" / "figures" / "figure4_test_loss_curves.csv")
    assert {int(row["step"]) for row in curves} == {0, 2, 4}


@pytest.mark.skipif(shared_data_dir() is None, reason="needs the shared evaluation data")
def test_report_scores_and_skips_from_real_evaluations(tiny_grid_runs, tmp_path):
    report = build_report(tiny_grid_runs, tmp_path / "report")
    scores = read_csv(tmp_path / "report" / "tables" / "scores.csv")
    assert {row["task"] for row in scores} == {"humanevalsynthesize-python", "devign"}
    assert {row["metric"] for row in scores} == {"pass@1", "accuracy"}
    assert len(scores) == 2 * (6 + 2)  # six cells and the two evaluated bases
    assert {row["method"] for row in scores} == {"full", "lora", "ia3", "base"}
    for row in scores:  # every score has its interval around it
        assert float(row["ci_low"]) <= float(row["score"]) <= float(row["ci_high"])
    assert any("bigclonebench was skipped" in note for note in report.notes)
    figure9 = read_csv(tmp_path / "report" / "figures" / "figure9_loss_vs_score.csv")
    losses = [float(row["final_test_loss"]) for row in figure9]
    averages = [float(row["average_score"]) for row in figure9]
    caption = next(spec.caption for spec in report.figures if spec.name == "figure9_loss_vs_score")
    if len(set(averages)) > 1:  # tiny models often score 0 everywhere: then r is undefined, not 0
        assert f"Pearson r = {scipy.stats.pearsonr(losses, averages).statistic:.3f}" in caption
    else:
        assert "Pearson r = undefined (constant score)" in caption


def test_report_cli(tiny_grid_runs, tmp_path):
    result = CliRunner().invoke(app, ["report", str(tiny_grid_runs), "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "6 figures" in result.output and (tmp_path / "out" / "index.html").is_file()
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nothing"), "--output", str(tmp_path / "o")])
    assert missing.exit_code == 1 and "no such directory" in " ".join(missing.output.split())


def test_report_goes_inside_the_runs_directory_by_default(tiny_grid_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(tiny_grid_runs, runs)
    for _ in range(2):  # the second report reads a runs directory that now holds the first one
        result = CliRunner().invoke(app, ["report", str(runs)])
        assert result.exit_code == 0, result.output
        assert (runs / "report" / "index.html").is_file()
        assert len(read_csv(runs / "report" / "tables" / "cells.csv")) == 6


# ----------------------------------------------------------------------------------------------
# Hand-made run directories: exact values and degenerate data

SIZES = {"m1": 1_000_000, "m3": 3_000_000, "m7": 7_000_000, "m15": 15_000_000}


def fake_run(root: Path, model: str, method: str, loss: float, score: float | None, trainable: int,
             metric: str = "pass@1", passed: list[int] | None = None, seed: int | None = None,
             kind: str = "cell", train: dict | None = None, name: str | None = None) -> Path:
    """A run directory as `astraios grid` leaves it; `passed` gives task t per-problem outcomes
    (one greedy sample each) and the score their mean; `train` is the config's train section."""
    run_dir = root / (name or (f"bases/{model}" if kind == "base" else f"{model}-{method}" + (f"-seed{seed}" if seed is not None else "")))
    run_dir.mkdir(parents=True)
    (run_dir / "grid_cell.json").write_text(json.dumps({"kind": kind, "model": model, "method": method, "seed": seed,
                                                        "status": "finished"}))
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": {"name": model}, "method": {"name": method},
                                                         **({"train": train} if train else {})}))
    base = SIZES[model]
    total = base if method == "full" else base + trainable
    (run_dir / "summary.json").write_text(json.dumps({
        "parameters": {"trainable": trainable, "total": total, "trainable_percent": 100 * trainable / total},
        "final_test_loss": loss, "initial_test_loss": loss + 1}))
    test = [{"step": step, "split": "test", "loss": loss + 1 - step / 10} for step in range(0, 21, 10)]
    train = [{"step": step, "split": "train", "loss": loss + 0.1 * (step % 2)} for step in range(1, 21)]
    (run_dir / "losses.jsonl").write_text("".join(json.dumps(record) + "\n" for record in test + train))
    if passed is not None:
        score = sum(passed) / len(passed)
    if score is not None:
        (run_dir / "eval").mkdir()
        per_document = [{"doc_id": f"T/{i}", "passed": p, "n": 1} for i, p in enumerate(passed or [])]
        (run_dir / "eval" / "results.json").write_text(json.dumps({"tasks": {"t": {
            "metrics": {metric: score}, "primary_metric": metric, "per_document": per_document}}}))
    return run_dir


def test_scaling_check_and_constant_scores(tmp_path):
    for model, n in SIZES.items():
        fake_run(tmp_path / "runs", model, "lora", 2.0 * (n / 1e6) ** -0.4 + 1.5, 0.0, trainable=n // 100)
        fake_run(tmp_path / "runs", model, "full", 1.8 * (n / 1e6) ** -0.4 + 1.5, 0.0, trainable=n)
    report = build_report(tmp_path / "runs", tmp_path / "report")
    scaling = {row["method"]: row for row in read_csv(tmp_path / "report" / "tables" / "scaling.csv")}
    for method in ("full", "lora"):
        assert float(scaling[method]["largest_size"]) == 15_000_000
        assert float(scaling[method]["absolute_error"]) < 1e-4  # an exact power law is predicted exactly
        assert float(scaling[method]["b"]) == pytest.approx(0.4, abs=1e-3)
    losses = {(row["model"], row["method"]): row for row in read_csv(tmp_path / "report" / "tables" / "losses.csv")}
    assert float(losses["m1", "lora"]["final_train_loss"]) == pytest.approx(2.0 + 1.5 + 0.05)  # mean of steps 19, 20
    caption = next(spec.caption for spec in report.figures if spec.name == "figure9_loss_vs_score")
    assert "Pearson r = undefined (constant score)" in caption and "Spearman rho = undefined (constant score)" in caption
    ranking = read_csv(tmp_path / "report" / "figures" / "figure1_ranking.csv")
    assert len(ranking) == 8 and all(float(row["average_score"]) == 0 for row in ranking)


def test_missing_scores_failed_and_unfinished_cells_are_stated(tmp_path):
    fake_run(tmp_path / "runs", "m1", "lora", 2.0, None, trainable=10)
    fake_run(tmp_path / "runs", "m3", "lora", 1.9, None, trainable=10)
    unfinished = tmp_path / "runs" / "m7-lora"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "m7"}, "method": {"name": "lora"}}))
    (unfinished / "grid_cell.json").write_text(json.dumps({"kind": "cell", "model": "m7", "method": "lora",
                                                           "status": "failed", "error": "RuntimeError: out of memory"}))
    report = build_report(tmp_path / "runs", tmp_path / "report")
    assert any("m7 x lora failed: RuntimeError: out of memory" in note for note in report.notes)
    assert any("no average scores" in note for note in report.notes)
    statuses = {row["model"]: row["status"] for row in read_csv(tmp_path / "report" / "tables" / "cells.csv")}
    assert statuses == {"m1": "finished", "m3": "finished", "m7": "failed"}
    for name in FIGURES:  # empty figures still exist and say why
        assert (tmp_path / "report" / "figures" / f"{name}.png").stat().st_size > 0


def test_a_cell_without_scores_beside_scored_ones_has_no_average(tmp_path):
    fake_run(tmp_path / "runs", "m1", "lora", 2.0, 0.25, trainable=10)
    fake_run(tmp_path / "runs", "m3", "lora", 1.9, 0.75, trainable=10)
    fake_run(tmp_path / "runs", "m7", "lora", 1.8, None, trainable=10)
    report = build_report(tmp_path / "runs", tmp_path / "report")
    assert any("not evaluated have no average score: m7 x lora" in note for note in report.notes)
    figure9 = read_csv(tmp_path / "report" / "figures" / "figure9_loss_vs_score.csv")
    assert {row["model"]: float(row["average_score"]) for row in figure9} == {"m1": 0.25, "m3": 0.75}


def test_partial_data_is_a_note_in_the_report(tmp_path):
    for model in ("m1", "m3"):
        fake_run(tmp_path / "runs", model, "lora", 2.0, 0.0, trainable=10)
    results = tmp_path / "runs" / "m1-lora" / "eval" / "results.json"
    record = json.loads(results.read_text())
    record["tasks"]["t"]["task_settings"] = {"partial_data": "10 of the 2732 test examples: not comparable"}
    results.write_text(json.dumps(record))  # as written before results carried `warnings`: read from settings
    report = build_report(tmp_path / "runs", tmp_path / "report")
    assert "Task t (m1 x lora): partial data: 10 of the 2732 test examples: not comparable." in report.notes
    assert "partial data: 10 of the 2732" in (tmp_path / "report" / "report.md").read_text()


def test_a_task_scored_by_different_metrics_is_not_averaged(tmp_path):
    """BigCloneBench's primary metric is f1_positive, or f1_macro_study under --protocol study: cells
    evaluated under different protocols are not comparable, and the report says so."""
    fake_run(tmp_path / "runs", "m1", "lora", 2.0, 0.25, trainable=10, metric="f1_positive")
    fake_run(tmp_path / "runs", "m3", "lora", 1.9, 0.5, trainable=10, metric="f1_macro_study")
    report = build_report(tmp_path / "runs", tmp_path / "report")
    assert any("Task t was scored by different metrics (f1_macro_study, f1_positive" in note for note in report.notes)
    assert any(table.title.startswith("t (f1_macro_study or f1_positive) [") for table in report.tables)
    assert not any(table.title.startswith("Average score (mean of") for table in report.tables)


def outcomes(passed: list[int]):
    from astraios.outcomes import ExecutionOutcomes

    return ExecutionOutcomes("pass@1", [f"T/{i}" for i in range(len(passed))], n=np.ones(len(passed), dtype=int),
                              passed=np.array(passed))


def test_intervals_comparisons_and_the_base_row(tmp_path):
    """Scores carry the bootstrap interval of their own per-problem outcomes; the untuned base is a
    row; a method that solves far more problems differs significantly, two equal ones do not."""
    from astraios import intervals

    rng = np.random.default_rng(0)
    strong = (rng.random(60) < 0.7).astype(int).tolist()
    weak = (rng.random(60) < 0.2).astype(int).tolist()
    for model in ("m1", "m3"):
        fake_run(tmp_path / "runs", model, "full", 1.5, None, trainable=SIZES[model], passed=strong)
        fake_run(tmp_path / "runs", model, "lora", 1.6, None, trainable=10, passed=strong)
        fake_run(tmp_path / "runs", model, "full", 3.0, None, trainable=SIZES[model], passed=weak, kind="base")
    report = build_report(tmp_path / "runs", tmp_path / "report")
    scores = {(row["model"], row["method"]): row for row in read_csv(tmp_path / "report" / "tables" / "scores.csv")}
    assert set(scores) == {(m, k) for m in ("m1", "m3") for k in ("full", "lora", "base")}
    expected = intervals.bootstrap_interval(outcomes(strong))
    assert float(scores["m1", "lora"]["ci_low"]) == pytest.approx(expected.low)
    assert float(scores["m1", "lora"]["ci_high"]) == pytest.approx(expected.high)
    assert float(scores["m3", "base"]["score"]) == pytest.approx(np.mean(weak))
    comparisons = read_csv(tmp_path / "report" / "tables" / "comparisons.csv")
    overall = {(row["method_a"], row["method_b"]): row for row in comparisons
               if row["scope"] == "average" and row["model"] == "all sizes"}
    assert set(overall) == {("full", "lora"), ("full", "base"), ("lora", "base")}
    assert overall["full", "lora"]["significant"] == "False" and float(overall["full", "lora"]["p_value"]) == 1.0
    assert overall["lora", "base"]["significant"] == "True"
    assert float(overall["lora", "base"]["difference"]) == pytest.approx(2 * (np.mean(strong) - np.mean(weak)))
    per_size = [row for row in comparisons if row["scope"] == "t" and row["model"] == "m1"]
    assert len(per_size) == 3
    ranking = read_csv(tmp_path / "report" / "figures" / "figure1_ranking.csv")
    totals = {row["method"]: (float(row["total_ci_low"]), float(row["total_ci_high"])) for row in ranking}
    assert totals["base"][1] < totals["lora"][0]  # the intervals of the cumulative scores do not overlap
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "Paired comparisons of the cumulative average score" in markdown
    assert f"| lora | base | {2 * (np.mean(strong) - np.mean(weak)):+.3f} |" in markdown
    assert report.figures[0].rows and all("base" != row["method"] or row["model"] for row in report.figures[0].rows)


def test_runs_that_are_not_one_experiment_are_never_averaged(tmp_path):
    """The demo, a longer run and a copy of the demo, all tiny x lora: three cells, each with its own
    numbers and its run named; only seeds of one recipe pool (the next test)."""
    runs = tmp_path / "runs"
    fake_run(runs, "m1", "lora", 7.5584, 0.5, trainable=10, train={"seed": 0, "max_steps": 40}, name="demo")
    fake_run(runs, "m1", "lora", 5.5698, 0.25, trainable=10, train={"seed": 0, "max_steps": 400}, name="long")
    fake_run(runs, "m1", "lora", 7.5604, 0.75, trainable=10, train={"seed": 0, "max_steps": 40,
                                                                    "output_dir": "elsewhere"}, name="demo-copy")
    report = build_report(runs, tmp_path / "report")
    losses = {row["method"]: row for row in read_csv(tmp_path / "report" / "tables" / "losses.csv")}
    assert {method: float(row["final_test_loss"]) for method, row in losses.items()} == {
        "lora (demo)": 7.5584, "lora (long)": 5.5698, "lora (demo-copy)": 7.5604}
    assert {method: row["runs"] for method, row in losses.items()} == {
        f"lora ({name})": str(runs / name) for name in ("demo", "long", "demo-copy")}
    scores = {row["method"]: float(row["score"]) for row in read_csv(tmp_path / "report" / "tables" / "scores.csv")}
    assert scores == {"lora (demo)": 0.5, "lora (long)": 0.25, "lora (demo-copy)": 0.75}
    note = next(note for note in report.notes if "not seeds of one" in note)
    assert "train.max_steps (40 -> 400)" in note or "train.max_steps (400 -> 40)" in note
    assert "Runs behind each cell" in (tmp_path / "report" / "report.md").read_text()


def test_aggregating_runs_of_different_experiments_is_refused():
    from astraios.analysis.runs import Cell, aggregate_seeds

    cells = [Cell(Path(name), "m1", "lora", "finished", recipe={"train": {"max_steps": steps}}, seeds=[0])
             for name, steps in (("a", 40), ("b", 400))]
    with pytest.raises(ValueError, match="not one experiment: a, b"):
        aggregate_seeds(cells)


def test_seeds_are_aggregated_with_their_spread(tmp_path):
    for seed, (loss, passed) in enumerate([(1.5, [1, 1, 0, 0]), (1.7, [1, 0, 0, 0]), (1.6, [1, 1, 1, 0])]):
        for model in ("m1", "m3"):
            fake_run(tmp_path / "runs", model, "lora", loss, None, trainable=10, passed=passed, seed=seed)
    report = build_report(tmp_path / "runs", tmp_path / "report")
    losses = {row["model"]: row for row in read_csv(tmp_path / "report" / "tables" / "losses.csv")}
    assert float(losses["m1"]["final_test_loss"]) == pytest.approx(1.6)
    scores = {row["model"]: row for row in read_csv(tmp_path / "report" / "tables" / "scores.csv")}
    assert float(scores["m1"]["score"]) == pytest.approx(0.5)
    assert float(scores["m1"]["sd"]) == pytest.approx(np.std([0.5, 0.25, 0.75], ddof=1))
    assert scores["m1"]["seeds"] == "0 1 2"
    assert len(read_csv(tmp_path / "report" / "tables" / "cells.csv")) == 6  # the status table lists every seed
    assert scores["m1"]["runs"] == " ".join(str(tmp_path / "runs" / f"m1-lora-seed{seed}") for seed in range(3))
    assert any("3 seeds" in note for note in report.notes)
    assert not any("not seeds of one" in note for note in report.notes)
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "0.500 ± 0.250 [" in markdown


def test_a_one_seed_cells_interval_is_the_ci95_astraios_eval_wrote(tmp_path):
    """The report and `astraios eval` use one implementation: a cell of one run shows the 95% interval
    its results.json holds (here with 5 samples per problem, each problem's pass rate kept as it is)."""
    from astraios.intervals import entry_uncertainty

    rng = np.random.default_rng(3)
    passed = rng.integers(0, 6, 40)
    run = fake_run(tmp_path / "runs", "m1", "lora", 2.0, None, trainable=10, passed=[0])
    entry = {"metrics": {"pass@1": float(np.mean(passed / 5))}, "primary_metric": "pass@1",
             "per_document": [{"doc_id": f"T/{i}", "passed": int(c), "n": 5} for i, c in enumerate(passed)]}
    written = entry_uncertainty(entry)
    assert written["warnings"] == []
    entry.update(written)
    (run / "eval" / "results.json").write_text(json.dumps({"tasks": {"t": entry}}))
    build_report(tmp_path / "runs", tmp_path / "report")
    (row,) = read_csv(tmp_path / "report" / "tables" / "scores.csv")
    assert [float(row["ci_low"]), float(row["ci_high"])] == pytest.approx(entry["ci95"]["pass@1"], rel=1e-12)


def _set_results(run_dir: Path, **changes) -> None:
    """Change a fake run's results.json: top-level keys (fingerprint) or task t's entry (`t_KEY`)."""
    path = run_dir / "eval" / "results.json"
    results = json.loads(path.read_text())
    for key, value in changes.items():
        if key.startswith("t_"):
            results["tasks"]["t"][key[2:]] = value
        else:
            results[key] = value
    path.write_text(json.dumps(results))


def test_seeds_evaluated_differently_are_not_averaged_on_that_task(tmp_path):
    """Three seeds of one recipe: on task t one was evaluated on fewer problems (--limit), with other
    sampling, or under another protocol (another metric): t is left out of the pooled cell with a
    note, never averaged; the losses still pool."""
    runs = tmp_path / "runs"
    variants = {"limit": {"t_request": {"sampling": None, "limit": 8, "options": {}}, "t_num_documents": 8},
                "sampling": {"t_request": {"sampling": {"n_samples": 20, "temperature": 0.8, "top_p": 0.95,
                                                        "max_new_tokens": 512}, "limit": None, "options": {}}},
                "protocol": {"t_primary_metric": "f1_macro_study", "t_metrics": {"f1_macro_study": 0.25}}}
    for name, change in variants.items():
        root = runs / name
        for seed, score in enumerate([0.5, 0.75, 0.25]):
            run_dir = fake_run(root, "m1", "lora", 1.5 + seed / 10, score, trainable=10, seed=seed)
            _set_results(run_dir, t_request={"sampling": None, "limit": None, "options": {}}, t_num_documents=40,
                         fingerprint=f"{name}-{seed}")
        _set_results(root / "m1-lora-seed2", **change)
        report = build_report(root, tmp_path / f"report-{name}")
        assert read_csv(tmp_path / f"report-{name}" / "tables" / "scores.csv") == []
        losses = read_csv(tmp_path / f"report-{name}" / "tables" / "losses.csv")
        assert len(losses) == 1 and float(losses[0]["final_test_loss"]) == pytest.approx(1.6)
        assert any("m1 x lora: t is left out of its seeds' mean: its seeds were evaluated differently" in note
                   for note in report.notes), report.notes
    fake_run(runs / "partial", "m1", "lora", 1.5, 0.5, trainable=10, seed=0)
    fake_run(runs / "partial", "m1", "lora", 1.6, None, trainable=10, seed=1)
    report = build_report(runs / "partial", tmp_path / "report-partial")
    assert any("t is left out of its seeds' mean: scored by 1 of its 2 seeds (not by" in note for note in report.notes)


def test_copies_of_one_trained_model_are_not_seeds(tmp_path):
    """A run copied and its config's seed edited by hand: the same model fingerprint twice is a copy,
    not a second seed; a config edited to another max_steps than the summary says was trained is
    another recipe."""
    runs = tmp_path / "runs"
    for seed in (0, 7):
        run_dir = fake_run(runs, "m1", "lora", 1.5, 0.5, trainable=10, seed=seed)
        _set_results(run_dir, fingerprint="0b95ea100c82ccc2")
    report = build_report(runs, tmp_path / "report")
    scores = read_csv(tmp_path / "report" / "tables" / "scores.csv")
    assert len(scores) == 2 and {row["seeds"] for row in scores} == {"0", "7"}
    assert any("repeat a seed or a trained model" in note for note in report.notes)
    edited = tmp_path / "edited"
    for trained, seed in [(5, 0), (6, 1)]:
        run_dir = fake_run(edited, "m1", "lora", 1.5, 0.5, trainable=10, seed=seed, train={"max_steps": 5, "seed": seed})
        summary = json.loads((run_dir / "summary.json").read_text())
        (run_dir / "summary.json").write_text(json.dumps({**summary, "steps": trained}))
    report = build_report(edited, tmp_path / "report-edited")
    assert len(read_csv(tmp_path / "report-edited" / "tables" / "losses.csv")) == 2
    assert any("train.steps_trained (5 -> 6)" in note or "train.steps_trained (6 -> 5)" in note for note in report.notes)
