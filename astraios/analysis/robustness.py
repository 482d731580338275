"""The report's robustness section, from the cells' `recode-*` results: the study's Table 4 and a
robustness figure. Present only when some cell has recode results. Robustness is a property of
the model beside its quality, as in the study, so `take_rows` moves the recode tasks out of each
cell's scores: the average score and the rankings never see them.

Table 4: per model size and method, each category's worst-case RP@1 and RC@1 (see
`astraios.tasks.recode`: the lowest RP@1 over the category's transformations, and |pass@1 - RP@1|
against the nominal pass@1 of the same run). Figure: mean RC@1 over the categories against model
size, one line per method (the study finds larger models less robust: RC@1 grows), and the methods
ranked by mean RP@1 over categories and sizes. Data: `tables/robustness.csv` (one row per cell and
category, with RD@1, RR@1 and the means over transformations as well).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astraios.analysis import figures
from astraios.analysis.runs import Cell
from astraios.analysis.tables import (
    FigureSpec,
    Table,
    mean_rows,
    number,
    size_label,
    write_csv,
)
from astraios.tasks.recode_data import CATEGORIES

TASKS = {f"recode-{category}": category for category in CATEGORIES}
COLUMNS = ("pass@1", "RP@1", "RD@1", "RR@1", "RC@1")


def take_rows(cells: list[Cell]) -> list[dict]:
    """One row per cell and evaluated category; the recode tasks leave the cells' averaged scores."""
    rows = []
    for cell in cells:
        for task, category in TASKS.items():
            cell.scores.pop(task, None)
            cell.metrics.pop(task, None)
            cell.outcomes.pop(task, None)  # no interval is shown for it: none is bootstrapped
            entry = cell.evaluations.get(task, {})
            metrics = entry.get("metrics") or {}
            means = (entry.get("details") or {}).get("mean_over_transformations") or {}
            if "RP@1" in metrics and cell.trained:
                rows.append({"model": cell.model, "base_parameters": cell.base_parameters, "method": cell.method,
                             "category": category, **{column: metrics.get(column) for column in COLUMNS},
                             **{f"mean {column}": means.get(column) for column in COLUMNS[1:]}})
    return mean_rows(rows, ("model", "method", "category"))  # the seeds of one experiment: their mean


def section(rows: list[dict], methods: list[str], models: list[str],
            tables_dir: Path) -> tuple[list[FigureSpec], list[Table]]:
    """The robustness figure and Table 4 from `take_rows`' rows (nothing without any); writes the CSV."""
    if not rows:
        return [], []
    write_csv(tables_dir / "robustness.csv", rows)
    categories = [category for category in CATEGORIES if any(row["category"] == category for row in rows)]
    sizes = {row["model"]: row["base_parameters"] for row in rows}
    table_rows = []
    for model in models:
        for method in methods:
            found = {row["category"]: row for row in rows if row["model"] == model and row["method"] == method}
            if found:
                table_rows.append([f"{model} ({size_label(sizes.get(model))})", method] + [
                    number(found.get(category, {}).get(key), 3) for category in categories for key in ("RP@1", "RC@1")])
    table = Table("Table 4: robustness on ReCode (worst case over each category's transformations)",
                  ["model", "method", *(f"{category} {key}" for category in categories for key in ("RP@1", "RC@1"))],
                  table_rows)
    return [_figure(rows, methods, categories)], [table]


def _figure(rows: list[dict], methods: list[str], categories: list[str]) -> FigureSpec:
    cells = sorted({(row["model"], row["method"], row["base_parameters"] or 0) for row in rows})
    data = []
    for model, method, size in cells:
        mine = [row for row in rows if row["model"] == model and row["method"] == method]
        changes = [row["RC@1"] for row in mine if row["RC@1"] is not None]
        data.append({"model": model, "method": method, "base_parameters": size,
                     "categories": len(mine), "mean_RP@1": float(np.mean([row["RP@1"] for row in mine])),
                     "mean_RC@1": float(np.mean(changes)) if changes else None})
    title = "Robustness: RC@1 vs model size, and methods ranked by RP@1"
    caption = (f"Left: mean over the categories ({', '.join(categories)}) of the worst-case RC@1 = |pass@1 - RP@1| "
               f"against base parameters, log x; the study finds larger models less robust (RC@1 grows). Right: "
               f"methods ranked by mean worst-case RP@1 over categories and sizes, best at the top.")
    return FigureSpec("figure_robustness", title, caption, data, _draw(data, methods, title))


def _draw(data: list[dict], methods: list[str], title: str):
    figure, (left, right) = figures.new_figure(columns=2, width=figures.WIDTH * 1.5)
    colors = figures.method_colors(methods)
    figures.lines_vs_size(left, data, methods, "mean_RC@1", "RC@1 (mean over categories)",
                          "no nominal pass@1 (saved harness generations hold only perturbed prompts)")
    means = {method: float(np.mean([row["mean_RP@1"] for row in data if row["method"] == method]))
             for method in methods if any(row["method"] == method for row in data)}
    ranked = sorted(means, key=means.get)
    right.barh(ranked, [means[method] for method in ranked], color=[colors[method] for method in ranked])
    for position, method in enumerate(ranked):
        right.text(means[method], position, f" {means[method]:.3f}", va="center", fontsize=8)
    right.set_xlabel("RP@1 (mean over categories and sizes)")
    right.set_xlim(0, max([*means.values(), 1e-3]) * 1.25)
    figure.suptitle(title, fontsize=11)
    return figure
