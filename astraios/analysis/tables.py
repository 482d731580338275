"""The report's building blocks, shared by every section (scores, robustness, security): a table that
renders to markdown and HTML, a figure with its caption and data, the method x size pivot, number
and size formatting, and CSV writing."""

from __future__ import annotations

import csv
import html
import io
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from astraios.core.io import write_text


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
    rows: list[dict]  # the data drawn, written beside the figure as CSV
    figure: object = field(repr=False)


def pivot(title: str, methods: list[str], models: list[str], sizes: dict[str, int | None],
          value: Callable[[str, str], str], drop_empty_rows: bool = False) -> Table:
    """One row per method, one column per model (headed with its size); `value(method, model)` is the
    text of a cell ("" where there is none)."""
    rows = [[method, *(value(method, model) for model in models)] for method in methods]
    if drop_empty_rows:
        rows = [row for row in rows if any(row[1:])]
    return Table(title, ["method", *(f"{model} ({size_label(sizes.get(model))})" for model in models)], rows)


def mean_rows(rows: list[dict], keys: tuple[str, ...]) -> list[dict]:
    """One row per distinct `keys` (the seeds of one experiment share model, method, ...): a field whose
    values are numbers is their mean over the rows (None left out), any other field the first row's."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in keys), []).append(row)
    merged = []
    for group in groups.values():
        row = dict(group[0])
        for name in row.keys() - set(keys):
            values = [other[name] for other in group if other.get(name) is not None]
            if len(set(values)) > 1 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                row[name] = statistics.fmean(values)
        merged.append(row)
    return merged


def number(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def size_label(parameters: int | None) -> str:
    """72K, 1.6M, 15.5B: a parameter count as people say it."""
    if not parameters:
        return "?"
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if parameters >= divisor:
            value = parameters / divisor
            return f"{value:.1f}{suffix}" if value < 10 else f"{value:.0f}{suffix}"
    return str(parameters)


def write_csv(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())
