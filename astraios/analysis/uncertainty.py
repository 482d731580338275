"""Uncertainty in the report: an interval for every score, and paired comparisons between methods.

The statistics are in `astraios.intervals` (the same that give `astraios eval` its intervals, so a
one-seed cell's interval here is its results.json `ci95`); this module applies them to a grid's cells:
- each cell's task score and average score get a 95% percentile bootstrap interval over problems;
- Figure 1's statistic, a method's cumulative average score (summed over model sizes), gets one
  too, resampling each task's problems once for all sizes (the same problems are used everywhere);
- every two methods (the untuned `base` included) are compared on that statistic, on the same
  problems: the difference, its bootstrap interval and a paired permutation test's p-value, with
  Holm's adjustment over the table's comparisons; `comparisons.csv` adds the same per task (over
  sizes) and per task and size;
- neighbours in Figure 1's ranking whose difference is not significant are marked there.

Scores whose metric cannot be recomputed from per-problem records (a task that stores none), or that
are undefined on some resample (a rate over no valid program), have no interval; a comparison needs both methods at every size, on shared problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from astraios import intervals
from astraios.analysis.runs import Cell


@dataclass
class Uncertainty:
    scores: dict[tuple[int, str], intervals.Interval] = field(default_factory=dict)  # (id(cell), task) -> interval
    averages: dict[int, intervals.Interval] = field(default_factory=dict)  # id(cell) -> interval of its average
    totals: dict[str, intervals.Interval] = field(default_factory=dict)  # method -> cumulative average score
    comparisons: list[dict] = field(default_factory=list)  # rows of comparisons.csv

    def ranking_comparisons(self) -> list[dict]:
        """The comparisons of the cumulative average score (Figure 1's statistic)."""
        return [row for row in self.comparisons if row["scope"] == "average" and row["model"] == "all sizes"]

    def between(self, first: str, second: str) -> dict | None:
        for row in self.ranking_comparisons():
            if {row["method_a"], row["method_b"]} == {first, second}:
                return row
        return None


def analyse(cells: list[Cell], tasks: list[str], methods: list[str], models: list[str]) -> Uncertainty:
    """Intervals for every cell's scores and average, and paired comparisons between methods."""
    result = Uncertainty()
    for cell in cells:
        for task, outcomes in cell.outcomes.items():
            _store(result.scores, (id(cell), task), outcomes)
        terms = _terms([cell], tasks)
        if tasks and terms:
            _store(result.averages, id(cell), terms)
    by_method = {method: [_find(cells, method, model) for model in models] for method in methods}
    for method, row in by_method.items():
        present = [cell for cell in row if cell is not None]
        terms = _terms(present, tasks)
        if tasks and terms and len(present) == sum(cell is not None for cell in row):
            _store(result.totals, method, terms)
    scopes = [("average", tasks)] + [(task, [task]) for task in tasks]
    rows = []
    for first, second in combinations([m for m in methods if m in result.totals or by_method[m]], 2):
        for scope, scope_tasks in scopes:
            for model in ["all sizes", *models]:
                sizes = models if model == "all sizes" else [model]
                rows.append(_compare(first, second, scope, model, scope_tasks,
                                     [by_method[first][models.index(size)] for size in sizes],
                                     [by_method[second][models.index(size)] for size in sizes]))
    result.comparisons = [row for row in rows if row is not None]
    ranking = result.ranking_comparisons()
    for row, adjusted in zip(ranking, holm([row["p_value"] for row in ranking])):
        row["p_holm"] = adjusted
    return result


def _store(found: dict, key, terms) -> None:
    try:
        found[key] = intervals.bootstrap_interval(terms)
    except intervals.UndefinedScore:
        pass  # no interval: the tables show the score alone


def _find(cells: list[Cell], method: str, model: str) -> Cell | None:
    return next((cell for cell in cells if cell.method == method and cell.model == model), None)


def _terms(cells: list[Cell], tasks: list[str]) -> list[intervals.Term] | None:
    """Each cell's average over `tasks` as weighted terms; None when an outcome is missing."""
    if any(task not in cell.outcomes for cell in cells for task in tasks):
        return None
    return [intervals.Term(1 / len(tasks), task, cell.outcomes[task]) for cell in cells for task in tasks]


def _compare(first: str, second: str, scope: str, model: str, tasks: list[str], cells_a: list[Cell | None],
             cells_b: list[Cell | None]) -> dict | None:
    if not tasks or None in cells_a or None in cells_b:
        return None
    terms_a, terms_b = _terms(cells_a, tasks), _terms(cells_b, tasks)
    if terms_a is None or terms_b is None:
        return None
    try:
        comparison = intervals.paired_comparison(terms_a, terms_b)
    except ValueError:  # no shared problems
        return None
    difference = comparison.difference
    return {"scope": scope, "model": model, "method_a": first, "method_b": second,
            "difference": difference.estimate, "ci_low": difference.low, "ci_high": difference.high,
            "p_value": comparison.p_value, "significant": comparison.significant}


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: p-values that keep the family-wise error rate."""
    order = sorted(range(len(p_values)), key=lambda index: p_values[index])
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted
