"""`astraios report RUNS_DIR [--output DIR]`: the study's tables and figures from a grid's run directories.

Output (an index.html or report.md there that astraios report did not write is never replaced:
`astraios.analysis.documents.check_replaceable`):
    index.html               every figure with a short caption, and the tables (offline, no scripts)
    report.md                the same in markdown
    tables/*.csv             losses, scores, trainable parameters, training cost, scaling check, every cell's status
    figures/NAME.{png,svg,csv}   each figure and the data drawn in it

Scores: each task's primary metric (pass@1, accuracy, F1: f1_positive, or the study's f1_macro_study
under --protocol study). A cell's average score is the mean over the tasks scored by the same
metric in every evaluated cell, so averages compare like with like. Loss: the final
held-out test loss unless said otherwise. Model size N: base model parameters.

Uncertainty (`astraios.analysis.uncertainty`): every score comes with a 95% bootstrap interval,
methods are compared pairwise on the same problems (`tables/comparisons.csv`), and Figure 1 marks
neighbours it cannot tell apart. A grid's evaluated base warm-ups appear as method `base` (the
untuned model) in the score tables, Figure 1 and the comparisons. With `seeds:`, numbers are means
over seeds, shown with their standard deviation (`± sd`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from astraios import intervals
from astraios import methods as method_registry
from astraios.analysis import (
    documents,
    figures,
    robustness,
    security,
    stats,
    uncertainty,
)
from astraios.analysis.runs import (
    BASE_METHOD,
    Cell,
    aggregate_seeds,
    label_experiments,
    load_cells,
    load_grid_manifest,
)
from astraios.analysis.tables import FigureSpec, Table, number, pivot, write_csv
from astraios.core.io import CorruptFileError, write_bytes, write_text

PNG_DPI = 100


@dataclass
class Report:
    output: Path
    figures: list[FigureSpec]
    tables: list[Table]
    notes: list[str]


def build_report(runs_dir: str | Path, output: str | Path) -> Report:
    per_seed = load_cells(runs_dir)
    base_cells = load_cells(runs_dir, kind="base")
    experiment_notes = label_experiments(per_seed)
    # Security (lower-is-better rates) and robustness have tables of their own, never averaged.
    security_results = security.take_results(per_seed + base_cells)
    robust_rows = robustness.take_rows(per_seed + base_cells)
    tasks = _common_tasks([cell for cell in per_seed if cell.trained])
    cells = aggregate_seeds(per_seed, tasks)
    output = Path(output)
    documents.check_replaceable(output)
    trained = [cell for cell in cells if cell.trained]
    methods = _method_order({cell.method for cell in cells})
    models = _model_order(trained or cells)
    # The untuned bases, where the grid evaluated them on the same tasks: a reference row.
    bases = [cell for cell in base_cells if tasks and set(tasks) <= set(cell.scores)]
    scored, ranked = trained + bases, methods + ([BASE_METHOD] if bases else [])
    averages = {id(cell): sum(cell.scores[t] for t in tasks) / len(tasks)
                for cell in scored if tasks and set(tasks) <= set(cell.scores)}
    spread = uncertainty.analyse(scored, tasks, ranked, models)
    notes = experiment_notes + _notes(runs_dir, per_seed, trained, tasks) + _seed_notes(cells)

    checks = {method: stats.scaling_check([c.base_parameters for c in trained if c.method == method],
                                          [c.final_test_loss for c in trained if c.method == method])
              for method in methods}
    specs = [
        _ranking(scored, averages, tasks, ranked, models, spread),
        _trainable(trained, methods, models),
        _loss_vs_size(trained, checks, methods),
        _loss_curves(trained, methods, models),
        _params_vs_loss(trained, methods, models),
        _loss_vs_score(trained, averages, methods, models, spread),
    ]
    tables = [*_loss_tables(trained, methods, models), *_score_tables(scored, averages, tasks, ranked, models, spread),
              _comparison_table(spread, tasks),
              _trainable_table(trained, methods, models), *_cost_tables(trained, methods, models),
              _scaling_table(checks), _runs_table(cells)]
    robust_figures, robust_tables = robustness.section(robust_rows, methods, models, output / "tables")
    specs += robust_figures
    tables += robust_tables
    specs += security_results.figures(methods, models)
    tables += security_results.tables(methods, models)
    notes += security_results.notes
    for spec in specs:
        _save_figure(spec, output / "figures")
    write_csv(output / "tables" / "losses.csv", [_loss_row(cell) for cell in trained])
    write_csv(output / "tables" / "scores.csv", [_score_row(cell, task, spread) for cell in scored for task in sorted(cell.scores)])
    write_csv(output / "tables" / "comparisons.csv", spread.comparisons)
    write_csv(output / "tables" / "trainable.csv", [_trainable_row(cell) for cell in trained])
    write_csv(output / "tables" / "cost.csv", [_cost_row(cell) for cell in trained])
    write_csv(output / "tables" / "scaling.csv", [_scaling_row(method, check) for method, check in checks.items()])
    write_csv(output / "tables" / "cells.csv", [_status_row(cell) for cell in per_seed])
    report = Report(output, specs, tables, notes)
    write_text(output / "report.md", documents.markdown(report, runs_dir))
    write_text(output / "index.html", documents.html_page(report, runs_dir))
    return report


# ----------------------------------------------------------------------------------------------
# Ordering and shared numbers


def _method_order(present: set[str]) -> list[str]:
    known = [name for name in method_registry.METHODS if name in present]
    return known + sorted(present - set(known))


def _model_order(cells: list[Cell]) -> list[str]:
    sizes: dict[str, int] = {}
    for cell in cells:
        sizes.setdefault(cell.model, cell.base_parameters or 0)
    return sorted(sizes, key=lambda model: (sizes[model], model))


def _common_tasks(cells: list[Cell]) -> list[str]:
    evaluated = [cell for cell in cells if cell.scores]
    if not evaluated:
        return []
    common = set(evaluated[0].scores)
    for cell in evaluated[1:]:
        common &= set(cell.scores)
    return sorted(task for task in common if len(_metrics_of(cells, task)) == 1)  # like with like


def _metrics_of(cells: list[Cell], task: str) -> list[str]:
    """The primary metrics `task` was scored by (two when cells used different protocols, e.g.
    BigCloneBench's f1_positive and the study's f1_macro_study)."""
    return sorted({cell.metrics[task] for cell in cells if task in cell.metrics})


def _notes(runs_dir, cells: list[Cell], trained: list[Cell], tasks: list[str]) -> list[str]:
    notes = []
    try:
        manifest = load_grid_manifest(runs_dir) or {}
    except CorruptFileError as error:
        manifest = {}
        notes.append(f"The grid's manifest is unreadable, so skipped tasks and the machine are not shown: {error}")
    for task, reason in manifest.get("tasks", {}).get("skipped", {}).items():
        notes.append(f"Task {task} was skipped: {reason}")
    for cell in cells:
        if cell.status == "failed":
            notes.append(f"Cell {cell.model} x {cell.method} failed: {cell.error}")
        elif cell.status == "unreadable":
            notes.append(f"Cell {cell.run_dir} is left out, its files are unreadable: {cell.error}")
        elif not cell.trained:
            notes.append(f"Cell {cell.model} x {cell.method} has not finished training ({cell.status}); it is left out.")
    warned: dict[tuple[str, str], list[str]] = {}  # (task, warning) -> cells
    for cell in trained:
        for task, warnings in cell.warnings.items():
            for warning in warnings:
                warned.setdefault((task, warning), []).append(f"{cell.model} x {cell.method}")
    for (task, warning), where in warned.items():
        cells = "every cell" if len(where) == len(trained) else ", ".join(where)
        notes.append(f"Task {task} ({cells}): {warning}.")
    scored = {task for cell in trained for task in cell.scores}
    for task in sorted(scored):
        if len(metrics := _metrics_of(trained, task)) > 1:
            notes.append(f"Task {task} was scored by different metrics ({', '.join(metrics)}: cells evaluated under "
                         f"different protocols), which are not comparable; it is left out of the averages.")
    if scored - set(tasks):
        notes.append(f"Tasks scored in only some cells are left out of the averages: {', '.join(sorted(scored - set(tasks)))}.")
    unscored = [f"{cell.model} x {cell.method}" for cell in trained if not cell.scores]
    if unscored and tasks:
        notes.append(f"Cells trained but not evaluated have no average score: {', '.join(unscored)}.")
    if trained and not tasks:
        notes.append("No task was scored in every trained cell, so there are no average scores (Figures 1 and 9 are empty).")
    if manifest.get("machine"):
        machine = manifest["machine"]
        gpus = ", ".join(machine.get("gpus") or []) or "no GPU"
        seconds = manifest.get("job_seconds")
        timing = f"; training and evaluation took {seconds / 60:.1f} min in all" if seconds else ""
        notes.append(f"Machine: {machine.get('cpus')} CPUs ({machine.get('processor')}), {gpus}{timing}.")
    return notes


def _seed_notes(cells: list[Cell]) -> list[str]:
    counts = sorted({len(cell.seeds) for cell in cells if len(cell.seeds) > 1})
    if not counts:
        return []
    return [f"Cells were trained with {' or '.join(map(str, counts))} seeds: losses and scores are means over seeds "
            f"(± their standard deviation); score intervals pool the seeds' samples."] + [
        f"{cell.model} x {cell.method}: {task} is left out of its seeds' mean: {why}."
        for cell in cells for task, why in sorted(cell.left_out.items())]


def _average_label(tasks: list[str]) -> str:
    return f"mean of {', '.join(tasks)}" if tasks else "no common tasks"


# ----------------------------------------------------------------------------------------------
# Figures


def _ranking(cells, averages, tasks, methods, models, spread: uncertainty.Uncertainty) -> FigureSpec:
    rows = [{"method": c.method, "model": c.model, "base_parameters": c.base_parameters,
             "average_score": averages[id(c)], "total_ci_low": _bound(spread.totals.get(c.method), "low"),
             "total_ci_high": _bound(spread.totals.get(c.method), "high")} for c in cells if id(c) in averages]
    totals = {method: (interval.low, interval.high) for method, interval in spread.totals.items()}
    title = "Figure 1: methods ranked by cumulative average score"
    caption = (f"Each bar adds up one method's average score ({_average_label(tasks)}) over the model sizes; "
               f"best at the top. The study ranks FFT first, then LoRA and Parallel. Error bars: 95% bootstrap "
               f"interval over problems; a bracket marked n.s. joins neighbours whose paired difference is not "
               f"significant (p >= {intervals.SIGNIFICANCE}). Only the untuned base is hatched; the legend marks a size "
               f"on which every method scores the same (it adds the same length to every bar: it cannot change "
               f"the ranking).")
    figure = figures.ranking(rows, methods, models, title, totals,
                             lambda first, second: (spread.between(first, second) or {}).get("significant"),
                             reference=BASE_METHOD)
    return FigureSpec("figure1_ranking", title, caption, rows, figure)


def _bound(interval: intervals.Interval | None, side: str) -> float | None:
    return getattr(interval, side) if interval else None


def _trainable(cells, methods, models) -> FigureSpec:
    rows = [_trainable_row(cell) for cell in cells]
    title = "Figure 2: trainable parameters per method and size"
    caption = "Trainable parameters as a share of the adapted model, log scale; shares fall with size for PEFT methods."
    return FigureSpec("figure2_trainable_percent", title, caption, rows,
                      figures.trainable_percent(rows, methods, models, title))


def _loss_vs_size(cells, checks, methods) -> FigureSpec:
    rows = [_loss_row(cell) for cell in cells]
    fits = {}
    for method, check in checks.items():
        if check.fit:
            fits[method] = [(n, float(check.fit.predict(n)))
                            for n in figures.log_range(min(check.fitted_sizes), check.target_size)]
    title = "Figure 3: final loss vs model size"
    unfitted: dict[str, list[str]] = {}  # why there is no fit -> the methods it concerns
    for method, check in checks.items():
        if not check.fit:
            unfitted.setdefault(check.reason, []).append(method)
    missing = "; ".join(f"{reason} ({', '.join(methods)})" for reason, methods in unfitted.items())
    dotted = (f"Dotted: a * N^-b + c fitted on the smaller sizes and extended to the largest, for {', '.join(fits)} "
              f"(the scaling check table gives the error){'; none for the others: ' + missing if missing else ''}."
              if fits else f"No fitted line is drawn: {missing}." if missing else "")
    caption = ("Left: final test loss against base parameters N (log x, a tick at each size). Right: the "
               "generalisation gap, final test minus train loss (train loss: mean of the last tenth of the steps; "
               f"both in tables/losses.csv). {dotted}").strip()
    return FigureSpec("figure3_loss_vs_size", title, caption, rows, figures.loss_vs_size(rows, fits, methods, title))


def _loss_curves(cells, methods, models) -> FigureSpec:
    rows = [{"model": c.model, "method": c.method, "step": step, "test_loss": loss} for c in cells
            for step, loss in c.test_curve]
    title = "Figure 4: test loss vs training steps"
    caption = "Held-out test loss during training, one panel per model size (step 0 is the base before tuning)."
    return FigureSpec("figure4_test_loss_curves", title, caption, rows, figures.loss_curves(rows, methods, models, title))


def _params_vs_loss(cells, methods, models) -> FigureSpec:
    rows = [{"method": c.method, "model": c.model, "trainable": c.trainable, "final_test_loss": c.final_test_loss}
            for c in cells]
    title = "Figure 8: trainable parameters vs final loss"
    caption = "Final test loss against the number of trainable parameters, log x (colour: method, marker: model)."
    return FigureSpec("figure8_params_vs_loss", title, caption, rows, figures.params_vs_loss(rows, methods, models, title))


def _loss_vs_score(cells, averages, methods, models, spread: uncertainty.Uncertainty) -> FigureSpec:
    rows = [{"method": c.method, "model": c.model, "final_test_loss": c.final_test_loss,
             "average_score": averages[id(c)], "ci_low": _bound(spread.averages.get(id(c)), "low"),
             "ci_high": _bound(spread.averages.get(id(c)), "high")} for c in cells if id(c) in averages]
    losses = [row["final_test_loss"] for row in rows]
    scores = [row["average_score"] for row in rows]
    labels = ("loss", "score")
    pearson, spearman = stats.pearson(losses, scores, labels), stats.spearman(losses, scores, labels)
    note = f"Pearson r = {pearson.describe()}\nSpearman rho = {spearman.describe()}\nn = {len(rows)} cells"
    title = "Figure 9: final loss vs average downstream score"
    caption = (f"Each point is a cell, with the 95% bootstrap interval of its average score. Pearson r = "
               f"{pearson.describe()}, Spearman rho = {spearman.describe()} over {len(rows)} cells; the study finds "
               f"lower loss goes with better scores (a negative correlation).")
    return FigureSpec("figure9_loss_vs_score", title, caption, rows,
                      figures.loss_vs_score(rows, methods, models, title, note))


def _save_figure(spec: FigureSpec, directory: Path) -> None:
    import matplotlib.pyplot as plt

    for suffix in ("png", "svg"):
        buffer = io.BytesIO()
        spec.figure.savefig(buffer, format=suffix, dpi=PNG_DPI, bbox_inches="tight",
                            metadata={"Software": None} if suffix == "png" else {"Date": None})
        write_bytes(directory / f"{spec.name}.{suffix}", buffer.getvalue())
    plt.close(spec.figure)
    write_csv(directory / f"{spec.name}.csv", spec.rows)


# ----------------------------------------------------------------------------------------------
# Tables


def _pivot(title: str, cells: list[Cell], methods: list[str], models: list[str], value) -> Table:
    found: dict[tuple[str, str], Cell] = {}
    for cell in cells:
        found.setdefault((cell.method, cell.model), cell)
    sizes = {cell.model: cell.base_parameters for cell in cells}
    return pivot(title, methods, models, sizes,
                 lambda method, model: value(found[method, model]) if (method, model) in found else "")


def _loss_tables(cells, methods, models) -> list[Table]:
    return [_pivot("Final test loss", cells, methods, models, lambda c: number(c.final_test_loss)),
            _pivot("Final train loss (mean of the last tenth of the steps)", cells, methods, models,
                   lambda c: number(c.final_train_loss))]


def _score_tables(cells, averages, tasks, methods, models, spread: uncertainty.Uncertainty) -> list[Table]:
    scored = sorted({task for cell in cells for task in cell.scores})
    note = "; value ± sd over seeds" if any(len(c.seeds) > 1 for c in cells) else ""
    tables = [_pivot(f"Average score ({_average_label(tasks)}) [95% bootstrap interval{note}]", cells, methods,
                     models, lambda c: _with_interval(averages.get(id(c)), spread.averages.get(id(c)),
                                                      c.spread.get("average")))] if tasks else []
    for task in scored:
        metric = " or ".join(_metrics_of(cells, task))
        tables.append(_pivot(f"{task} ({metric}) [95% bootstrap interval{note}]", cells, methods, models,
                             lambda c, t=task: _with_interval(c.scores.get(t), spread.scores.get((id(c), t)),
                                                              c.spread.get(t))))
    return tables


def _with_interval(value: float | None, interval: intervals.Interval | None, sd: float | None = None) -> str:
    if value is None:
        return ""
    text = f"{value:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")
    return text + (f" [{interval.low:.3f}, {interval.high:.3f}]" if interval else "")


def _score_row(cell: Cell, task: str, spread: uncertainty.Uncertainty) -> dict:
    interval = spread.scores.get((id(cell), task))
    return {"model": cell.model, "base_parameters": cell.base_parameters, "method": cell.method, "task": task,
            "metric": cell.metrics[task], "score": cell.scores[task], "ci_low": _bound(interval, "low"),
            "ci_high": _bound(interval, "high"), "seeds": " ".join(map(str, cell.seeds)), "sd": cell.spread.get(task),
            "runs": _runs(cell)}


def _comparison_table(spread: uncertainty.Uncertainty, tasks: list[str]) -> Table:
    rows = [[row["method_a"], row["method_b"], f"{row['difference']:+.3f}",
             f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]", f"{row['p_value']:.4f}", f"{row['p_holm']:.4f}",
             "yes" if row["p_holm"] < intervals.SIGNIFICANCE else "no"]
            for row in sorted(spread.ranking_comparisons(), key=lambda row: row["p_value"])]
    return Table(f"Paired comparisons of the cumulative average score ({_average_label(tasks)}), same problems: "
                 f"A - B, 95% bootstrap interval, permutation p-value and Holm-adjusted p (per task and per size: "
                 f"tables/comparisons.csv)",
                 ["A", "B", "A - B", "95% interval", "p", "p (Holm)", f"significant at {intervals.SIGNIFICANCE}"], rows)


def _runs_table(cells: list[Cell]) -> Table:
    return Table("Runs behind each cell (several: seeds of one experiment, averaged)", ["model", "method", "seeds", "runs"],
                 [[cell.model, cell.method, " ".join(map(str, cell.seeds)), _runs(cell)] for cell in cells])


def _runs(cell: Cell) -> str:
    return " ".join(str(run_dir) for run_dir in cell.run_dirs)


def _trainable_table(cells, methods, models) -> Table:
    return _pivot("Trainable parameters, % of the adapted model (count)", cells, methods, models,
                  lambda c: f"{c.trainable_percent:.4f} ({c.trainable:,})")


def _cost_tables(cells, methods, models) -> list[Table]:
    """The cost side of quality per cost: how fast each cell trained and the memory it held."""
    kinds = sorted({c.memory_kind for c in cells if c.memory_kind})
    return [_pivot("Training throughput (tokens/s)", cells, methods, models,
                   lambda c: f"{c.tokens_per_second:,.0f}" if c.tokens_per_second else ""),
            _pivot(f"Peak training memory (MiB; {', '.join(kinds) or 'not recorded'})", cells, methods, models,
                   lambda c: f"{c.peak_memory_bytes / 2**20:,.0f}" if c.peak_memory_bytes else "")]


def _cost_row(cell: Cell) -> dict:
    return {"model": cell.model, "base_parameters": cell.base_parameters, "method": cell.method,
            "tokens_per_second": cell.tokens_per_second, "peak_memory_bytes": cell.peak_memory_bytes,
            "memory_kind": cell.memory_kind, "train_seconds": cell.train_seconds}


def _scaling_table(checks: dict[str, stats.ScalingCheck]) -> Table:
    rows = []
    for method, check in checks.items():
        if check.fit is None:
            rows.append([method, "", "", "", "", "", "", "", check.note])
            continue
        rows.append([method, f"{check.fit.a:.4g}", f"{check.fit.b:.4f}", f"{check.fit.c:.4f}",
                     f"{check.target_size:,.0f}", f"{check.predicted:.4f}", f"{check.actual:.4f}",
                     f"{check.absolute_error:.4f} ({100 * check.relative_error:.2f}%)", check.note or ""])
    return Table("Scaling check: test loss = a * N^-b + c fitted on the smaller sizes, predicting the largest",
                 ["method", "a", "b", "c", "largest N", "predicted", "measured", "error", "note"], rows)


def _loss_row(cell: Cell) -> dict:
    return {"model": cell.model, "base_parameters": cell.base_parameters, "method": cell.method,
            "initial_test_loss": cell.initial_test_loss, "final_test_loss": cell.final_test_loss,
            "final_train_loss": cell.final_train_loss, "runs": _runs(cell)}


def _trainable_row(cell: Cell) -> dict:
    return {"model": cell.model, "base_parameters": cell.base_parameters, "method": cell.method,
            "trainable": cell.trainable, "total": cell.total, "trainable_percent": cell.trainable_percent}


def _scaling_row(method: str, check: stats.ScalingCheck) -> dict:
    fit = check.fit
    return {"method": method, "fitted_sizes": " ".join(f"{n:.0f}" for n in check.fitted_sizes),
            "a": fit.a if fit else None, "b": fit.b if fit else None, "c": fit.c if fit else None,
            "largest_size": check.target_size, "predicted": check.predicted, "measured": check.actual,
            "absolute_error": check.absolute_error, "relative_error": check.relative_error, "note": check.note}


def _status_row(cell: Cell) -> dict:
    return {"model": cell.model, "method": cell.method, "seed": " ".join(map(str, cell.seeds)), "status": cell.status,
            "run_dir": str(cell.run_dir),
            "train_seconds": cell.train_seconds, "eval_seconds": cell.eval_seconds, "error": cell.error}
