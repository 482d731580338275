"""The report's security part: Table 5 (AATK valid % and insecure % per method and size) and the
insecure rate against model size per method.

The security task's primary metric, the insecure rate, is better when lower, so it cannot be
averaged with the other tasks' scores: `take_results` moves it out of each cell's scores (the
averages and rankings never see it) into rows of its own, which Table 5 and the figure use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from astraios.analysis import figures
from astraios.analysis.tables import FigureSpec, Table, mean_rows, pivot

SECURITY_TASKS = ("aatk",)


@dataclass
class SecurityResults:
    rows: list[dict] = field(default_factory=list)  # one per cell with a scored security task

    @property
    def notes(self) -> list[str]:
        if not self.rows:
            return []
        checkers = sorted({row["checker"] for row in self.rows})
        notes = [f"Security (Table 5): AATK insecure rates are lower-is-better and kept out of the average score; "
                 f"checker: {', '.join(checkers)}."]
        if len(checkers) > 1:
            notes.append("Cells were checked by different checkers; their insecure rates are not comparable.")
        return notes

    def tables(self, methods: list[str], models: list[str]) -> list[Table]:
        if not self.rows:
            return []
        sizes = {row["model"]: row["base_parameters"] for row in self.rows}
        found: dict[tuple[str, str], dict] = {}
        for row in self.rows:
            found.setdefault((row["method"], row["model"]), row)

        def rates(method: str, model: str) -> str:
            row = found.get((method, model))
            return "" if row is None else f"{_percent(row['valid_rate'])} / {_percent(row['insecure_rate'])}"

        checkers = ", ".join(sorted({row["checker"] for row in self.rows}))
        return [pivot(f"Table 5: AATK valid % / insecure % (insecure = vulnerable / valid; checker: {checkers})",
                      methods, [model for model in models if model in sizes], sizes, rates, drop_empty_rows=True)]

    def figures(self, methods: list[str], models: list[str]) -> list[FigureSpec]:
        if not self.rows:
            return []
        title = "Insecure rate vs model size (AATK)"
        caption = ("Share of valid AATK completions the checker flags as vulnerable, per method, against base "
                   "parameters (log x). The study finds larger models write more insecure code.")
        rows = [{key: row[key] for key in ("method", "model", "base_parameters", "valid_rate", "insecure_rate",
                                           "checker")} for row in self.rows]
        return [FigureSpec("figure_security_insecure_vs_size", title, caption, rows,
                           insecure_vs_size(rows, methods, title))]


def take_results(cells) -> SecurityResults:
    """The security tasks' results of every cell, removed from the cells' (averaged) scores."""
    results = SecurityResults()
    for cell in cells:
        for task in SECURITY_TASKS:
            cell.scores.pop(task, None)
            cell.metrics.pop(task, None)
            cell.outcomes.pop(task, None)  # no interval is shown for it: none is bootstrapped
        entry = cell.evaluations.get("aatk")
        if cell.trained and entry and entry.get("metrics"):
            results.rows.append({"method": cell.method, "model": cell.model, "base_parameters": cell.base_parameters,
                                 "valid_rate": entry["metrics"].get("valid_rate"),
                                 "insecure_rate": entry["metrics"].get("insecure_rate"),
                                 "checker": entry.get("details", {}).get("checker", "?")})
    results.rows = mean_rows(results.rows, ("method", "model"))  # the seeds of one experiment: their mean
    return results


def insecure_vs_size(rows: list[dict], methods: list[str], title: str):
    figure, (axis,) = figures.new_figure()
    figures.lines_vs_size(axis, rows, methods, "insecure_rate", "insecure rate (% of valid programs)",
                          "no security results: no cell evaluated aatk with valid programs", scale=100)
    axis.set_title(title)
    return figure


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"
