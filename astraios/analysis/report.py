"""`astraios report RUNS_DIR [--output DIR]`: the study's tables and figures from a grid's run directories.

Output:
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

import csv
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from astraios import methods as method_registry
from astraios.analysis import figures, security, stats, uncertainty
from astraios.analysis.runs import BASE_METHOD, Cell, aggregate_seeds, load_cells, load_grid_manifest
from astraios.io import CorruptFileError, write_bytes, write_text

PNG_DPI = 100


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        lines = [f"| {' | '.join(self.columns)} |", f"|{'|'.join('---' for _ in self.columns)}|"]
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        return f"### {self.title}\n\n" + "\n".join(lines) + "\n"

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(column)}</th>" for column in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in self.rows)
        return f"<h3>{html.escape(self.title)}</h3>\n<table><tr>{head}</tr>{body}</table>\n"


@dataclass
class FigureSpec:
    name: str
    title: str
    caption: str
    rows: list[dict]
    figure: object = field(repr=False)


@dataclass
class Report:
    output: Path
    figures: list[FigureSpec]
    tables: list[Table]
    notes: list[str]


def build_report(runs_dir: str | Path, output: str | Path) -> Report:
    from astraios.analysis import robustness  # it builds on this module's tables and figures

    per_seed = load_cells(runs_dir)
    base_cells = load_cells(runs_dir, kind="base")
    # Security (lower-is-better rates) and robustness have tables of their own, never averaged.
    security_results = security.take_results(per_seed + base_cells)
    robust_rows = robustness.take_rows(per_seed + base_cells)
    tasks = _common_tasks([cell for cell in per_seed if cell.trained])
    cells = aggregate_seeds(per_seed, tasks)
    output = Path(output)
    trained = [cell for cell in cells if cell.trained]
    methods = _method_order({cell.method for cell in cells})
    models = _model_order(trained or cells)
    # The untuned bases, where the grid evaluated them on the same tasks: a reference row.
    bases = [cell for cell in base_cells if tasks and set(tasks) <= set(cell.scores)]
    scored, ranked = trained + bases, methods + ([BASE_METHOD] if bases else [])
    averages = {id(cell): sum(cell.scores[t] for t in tasks) / len(tasks)
                for cell in scored if tasks and set(tasks) <= set(cell.scores)}
    spread = uncertainty.analyse(scored, tasks, ranked, models)
    notes = _notes(runs_dir, per_seed, trained, tasks) + _seed_notes(cells)

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
              _scaling_table(checks)]
    robust_figures, robust_tables = robustness.section(robust_rows, methods, models, output / "tables")
    specs += robust_figures
    tables += robust_tables
    specs += security_results.figures(methods, models)
    tables += security_results.tables(methods, models)
    notes += security_results.notes
    for spec in specs:
        _save_figure(spec, output / "figures")
    _write_csv(output / "tables" / "losses.csv", [_loss_row(cell) for cell in trained])
    _write_csv(output / "tables" / "scores.csv", [_score_row(cell, task, spread) for cell in scored for task in sorted(cell.scores)])
    _write_csv(output / "tables" / "comparisons.csv", spread.comparisons)
    _write_csv(output / "tables" / "trainable.csv", [_trainable_row(cell) for cell in trained])
    _write_csv(output / "tables" / "cost.csv", [_cost_row(cell) for cell in trained])
    _write_csv(output / "tables" / "scaling.csv", [_scaling_row(method, check) for method, check in checks.items()])
    _write_csv(output / "tables" / "cells.csv", [_status_row(cell) for cell in per_seed])
    report = Report(output, specs, tables, notes)
    write_text(output / "report.md", _markdown(report, runs_dir))
    write_text(output / "index.html", _html(report, runs_dir))
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
            f"(± their standard deviation); score intervals pool the seeds' samples."]


def _average_label(tasks: list[str]) -> str:
    return f"mean of {', '.join(tasks)}" if tasks else "no common tasks"


# ----------------------------------------------------------------------------------------------
# Figures


def _ranking(cells, averages, tasks, methods, models, spread: uncertainty.Uncertainty) -> FigureSpec:
    rows = [{"method": c.method, "model": c.model, "base_parameters": c.base_parameters,
             "average_score": averages[id(c)], "total_ci_low": _bound(spread.totals.get(c.method), "low"),
             "total_ci_high": _bound(spread.totals.get(c.method), "high")} for c in cells if id(c) in averages]
    intervals = {method: (interval.low, interval.high) for method, interval in spread.totals.items()}
    title = "Figure 1: methods ranked by cumulative average score"
    caption = (f"Each bar adds up one method's average score ({_average_label(tasks)}) over the model sizes; "
               f"best at the top. The study ranks FFT first, then LoRA and Parallel. Error bars: 95% bootstrap "
               f"interval over problems; a bracket marked n.s. joins neighbours whose paired difference is not "
               f"significant (p >= {stats.SIGNIFICANCE}).")
    figure = figures.ranking(rows, methods, models, title, intervals,
                             lambda first, second: (spread.between(first, second) or {}).get("significant"),
                             reference=BASE_METHOD)
    return FigureSpec("figure1_ranking", title, caption, rows, figure)


def _bound(interval: stats.Interval | None, side: str) -> float | None:
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
    caption = ("Final test loss (left) and train loss (right: mean of the last tenth of the steps) against base "
               "parameters, log x. Dotted: a * N^-b + c fitted on the smaller sizes and extended to the largest "
               "(the scaling check table gives the error).")
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
    _write_csv(directory / f"{spec.name}.csv", spec.rows)


# ----------------------------------------------------------------------------------------------
# Tables


def _number(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _pivot(title: str, cells: list[Cell], methods: list[str], models: list[str], value) -> Table:
    rows = []
    for method in methods:
        row = [method]
        for model in models:
            cell = next((c for c in cells if c.method == method and c.model == model), None)
            row.append(value(cell) if cell else "")
        rows.append(row)
    sizes = {c.model: c.base_parameters for c in cells}
    return Table(title, ["method", *(f"{model} ({size_label(sizes.get(model))})" for model in models)], rows)


def size_label(parameters: int | None) -> str:
    """72K, 1.6M, 15.5B: a parameter count as people say it."""
    if not parameters:
        return "?"
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if parameters >= divisor:
            value = parameters / divisor
            return f"{value:.1f}{suffix}" if value < 10 else f"{value:.0f}{suffix}"
    return str(parameters)


def _loss_tables(cells, methods, models) -> list[Table]:
    return [_pivot("Final test loss", cells, methods, models, lambda c: _number(c.final_test_loss)),
            _pivot("Final train loss (mean of the last tenth of the steps)", cells, methods, models,
                   lambda c: _number(c.final_train_loss))]


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


def _with_interval(value: float | None, interval: stats.Interval | None, sd: float | None = None) -> str:
    if value is None:
        return ""
    text = f"{value:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")
    return text + (f" [{interval.low:.3f}, {interval.high:.3f}]" if interval else "")


def _score_row(cell: Cell, task: str, spread: uncertainty.Uncertainty) -> dict:
    interval = spread.scores.get((id(cell), task))
    return {"model": cell.model, "base_parameters": cell.base_parameters, "method": cell.method, "task": task,
            "metric": cell.metrics[task], "score": cell.scores[task], "ci_low": _bound(interval, "low"),
            "ci_high": _bound(interval, "high"), "seeds": " ".join(map(str, cell.seeds)), "sd": cell.spread.get(task)}


def _comparison_table(spread: uncertainty.Uncertainty, tasks: list[str]) -> Table:
    rows = [[row["method_a"], row["method_b"], f"{row['difference']:+.3f}",
             f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]", f"{row['p_value']:.4f}", f"{row['p_holm']:.4f}",
             "yes" if row["p_holm"] < stats.SIGNIFICANCE else "no"]
            for row in sorted(spread.ranking_comparisons(), key=lambda row: row["p_value"])]
    return Table(f"Paired comparisons of the cumulative average score ({_average_label(tasks)}), same problems: "
                 f"A - B, 95% bootstrap interval, permutation p-value and Holm-adjusted p (per task and per size: "
                 f"tables/comparisons.csv)",
                 ["A", "B", "A - B", "95% interval", "p", "p (Holm)", f"significant at {stats.SIGNIFICANCE}"], rows)


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
            "final_train_loss": cell.final_train_loss}


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


def _write_csv(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


# ----------------------------------------------------------------------------------------------
# Documents


def _markdown(report: Report, runs_dir) -> str:
    parts = [f"# astraios report: {runs_dir}\n"]
    if report.notes:
        parts.append("## Notes\n\n" + "\n".join(f"- {note}" for note in report.notes) + "\n")
    parts.append("## Figures\n")
    for spec in report.figures:
        parts.append(f"### {spec.title}\n\n![{spec.title}](figures/{spec.name}.png)\n\n{spec.caption} "
                     f"([SVG](figures/{spec.name}.svg), [data](figures/{spec.name}.csv))\n")
    parts.append("## Tables\n\nCSV files: `tables/`.\n")
    parts.extend(table.markdown() for table in report.tables)
    return "\n".join(parts)


HTML_STYLE = """body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:2em 0}img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.9em;color:#444}
table{border-collapse:collapse;font-size:.85em;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}li{margin:.3em 0}"""


def _html(report: Report, runs_dir) -> str:
    title = f"astraios report: {runs_dir}"
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(str(title))}</title>"
             f"<style>{HTML_STYLE}</style></head><body>\n<h1>{html.escape(str(title))}</h1>\n"]
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(note)}</li>" for note in report.notes) + "</ul>\n")
    parts.append("<h2>Figures</h2>\n")
    for spec in report.figures:
        parts.append(f"<figure><img src=\"figures/{spec.name}.png\" alt=\"{html.escape(spec.title)}\">"
                     f"<figcaption><b>{html.escape(spec.title)}.</b> {html.escape(spec.caption)} "
                     f"<a href=\"figures/{spec.name}.svg\">SVG</a> · <a href=\"figures/{spec.name}.csv\">data</a>"
                     f"</figcaption></figure>\n")
    parts.append("<h2>Tables</h2><p>CSV files are in <code>tables/</code>.</p>\n")
    parts.extend(table.html() for table in report.tables)
    parts.append("</body></html>\n")
    return "".join(parts)
