"""The study's figures, drawn with matplotlib (Agg, no display), from plain rows of data.

Each function takes the rows that also go to the figure's CSV, so what is drawn is exactly what
is published beside it. With no data to draw, a figure still exists and says why it is empty.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

MARKERS = "osD^vP*Xph"
WIDTH, HEIGHT = 7.0, 4.2  # inches; at the PNG resolution below, about 700 x 420 pixels


def method_colors(methods: list[str]) -> dict[str, tuple]:
    palette = plt.get_cmap("tab10")
    return {method: palette(index % 10) for index, method in enumerate(methods)}


def size_colors(models: list[str]) -> dict[str, tuple]:
    palette = plt.get_cmap("viridis")
    count = max(len(models) - 1, 1)
    return {model: palette(0.15 + 0.7 * index / count) for index, model in enumerate(models)}


def new_figure(columns: int = 1, width: float = WIDTH, height: float = HEIGHT) -> tuple[Figure, list]:
    figure, axes = plt.subplots(1, columns, figsize=(width, height), squeeze=False)
    return figure, list(axes[0])


def empty(axis, message: str) -> None:
    axis.text(0.5, 0.5, message, ha="center", va="center", wrap=True, transform=axis.transAxes, fontsize=10)
    axis.set_xticks([])
    axis.set_yticks([])


def ranking(rows: list[dict], methods: list[str], models: list[str], title: str,
            intervals: dict[str, tuple[float, float]] | None = None,
            distinguishable: Callable[[str, str], bool | None] | None = None, reference: str | None = None) -> Figure:
    """Horizontal stacked bars: each method's per-size average scores, summed; best at the top.

    `intervals`: per method, the interval of its total (an error bar). `distinguishable(a, b)`:
    whether two neighbours differ significantly; those that do not (False) are joined by a
    bracket marked n.s. on the right. `reference` (the untuned base) is drawn hatched."""
    figure, (axis,) = new_figure(height=max(HEIGHT, 0.45 * len(methods) + 1.5))
    totals = {method: sum(row["average_score"] for row in rows if row["method"] == method) for method in methods}
    ranked = [method for method in sorted(methods, key=lambda m: totals[m]) if any(r["method"] == method for r in rows)]
    if not ranked:
        empty(axis, "no downstream scores: no cell has evaluation results")
    colors = size_colors(models)
    left = dict.fromkeys(ranked, 0.0)
    for model in models:
        values = [next((r["average_score"] for r in rows if r["method"] == m and r["model"] == model), 0.0)
                  for m in ranked]
        if ranked:
            bars = axis.barh(ranked, values, left=[left[m] for m in ranked], color=colors[model], label=model)
            for method, bar in zip(ranked, bars):
                if method == reference:
                    bar.set_hatch("//")
        for method, value in zip(ranked, values):
            left[method] += value
    intervals = intervals or {}
    highs = {method: max(left[method], intervals.get(method, (0, 0))[1]) for method in ranked}
    for position, method in enumerate(ranked):
        if method in intervals:
            low, high = intervals[method]
            axis.errorbar(left[method], position, xerr=[[left[method] - low], [high - left[method]]], fmt="none",
                          ecolor="black", capsize=3, linewidth=1)
        axis.text(highs[method], position, f" {left[method]:.3f}", va="center", fontsize=8)
    reach = max(highs.values(), default=0.0)
    for position, (lower, upper) in enumerate(zip(ranked, ranked[1:])):
        if distinguishable is not None and distinguishable(upper, lower) is False:
            x = reach * 1.12 + 1e-4
            axis.plot([x, x * 1.02, x * 1.02, x], [position + 0.1, position + 0.1, position + 0.9, position + 0.9],
                      color="dimgray", linewidth=1)
            axis.text(x * 1.03, position + 0.5, "n.s.", va="center", fontsize=7, color="dimgray")
    if len(ranked) > 1 and len({round(left[m], 12) for m in ranked}) == 1:
        title = f"{title}\n(all methods tie: no ranking)"
    if ranked:
        axis.set_xlabel("cumulative average score over model sizes")
        axis.legend(title="model", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside: never over a bar
        axis.set_xlim(0, max(reach * 1.3, 1e-3))
    axis.set_title(title, fontsize=11)
    return figure


def trainable_percent(rows: list[dict], methods: list[str], models: list[str], title: str) -> Figure:
    figure, (axis,) = new_figure()
    colors = size_colors(models)
    width = 0.8 / max(len(models), 1)
    for index, model in enumerate(models):
        xs, heights = [], []
        for position, method in enumerate(methods):
            value = next((r["trainable_percent"] for r in rows if r["method"] == method and r["model"] == model), None)
            if value:
                xs.append(position + (index - (len(models) - 1) / 2) * width)
                heights.append(value)
        axis.bar(xs, heights, width=width, color=colors[model], label=model)
    if rows:
        axis.set_yscale("log")
        axis.set_xticks(range(len(methods)), methods)
        axis.set_ylabel("trainable parameters (% of the adapted model)")
        axis.legend(title="model", fontsize=8)
    else:
        empty(axis, "no finished training run")
    axis.set_title(title, fontsize=11)
    return figure


def loss_vs_size(rows: list[dict], fits: dict[str, list[tuple[float, float]]], methods: list[str], title: str) -> Figure:
    """Final test loss (left) and train loss (right) against base parameters, log x; dotted: the
    scaling fit on the smaller sizes, extended to the largest."""
    figure, axes = new_figure(columns=2, width=WIDTH * 1.4)
    colors = method_colors(methods)
    for axis, key, label in ((axes[0], "final_test_loss", "final test loss"), (axes[1], "final_train_loss", "final train loss")):
        if lines_vs_size(axis, rows, methods, key, label, "no finished training run", legend=False):
            for method in methods:
                if key == "final_test_loss" and fits.get(method):
                    axis.plot(*zip(*fits[method]), linestyle=":", color=colors[method])
    if axes[1].get_legend_handles_labels()[0]:  # a line per method with a loss (none: nothing to name)
        axes[1].legend(fontsize=8)
    figure.suptitle(title, fontsize=11)
    return figure


def lines_vs_size(axis, rows: list[dict], methods: list[str], key: str, ylabel: str, nothing: str, *,
                  scale: float = 1.0, legend: bool = True) -> bool:
    """One line per method of `key` (times `scale`) against base parameters, log x; the axis says
    `nothing` when no row has both. Returns whether anything was drawn."""
    colors = method_colors(methods)
    drawn = False
    for method in methods:
        points = sorted((row["base_parameters"], scale * row[key]) for row in rows
                        if row["method"] == method and row[key] is not None and row["base_parameters"])
        if points:
            axis.plot(*zip(*points), marker="o", color=colors[method], label=method)
            drawn = True
    if not drawn:
        empty(axis, nothing)
        return False
    axis.set_xscale("log")
    axis.set_xlabel("base model parameters N")
    axis.set_ylabel(ylabel)
    if legend:
        axis.legend(fontsize=7)
    return True


def loss_curves(rows: list[dict], methods: list[str], models: list[str], title: str) -> Figure:
    """Test loss against optimiser steps, one panel per model size."""
    columns = max(min(len(models), 4), 1)
    figure, axes = new_figure(columns=columns, width=max(WIDTH, 3.2 * columns))
    colors = method_colors(methods)
    if not rows:
        empty(axes[0], "no loss log (losses.jsonl) found")
    for axis, model in zip(axes, models):
        for method in methods:
            points = [(r["step"], r["test_loss"]) for r in rows if r["model"] == model and r["method"] == method]
            if points:
                axis.plot(*zip(*points), marker=".", color=colors[method], label=method)
        axis.set_title(model, fontsize=9)
        axis.set_xlabel("step")
    axes[0].set_ylabel("test loss")
    if rows:
        axes[-1].legend(fontsize=7)
    figure.suptitle(title, fontsize=11)
    return figure


def params_vs_loss(rows: list[dict], methods: list[str], models: list[str], title: str) -> Figure:
    figure, (axis,) = new_figure()
    colors = method_colors(methods)
    markers = {model: MARKERS[index % len(MARKERS)] for index, model in enumerate(models)}
    for row in rows:
        axis.scatter(row["trainable"], row["final_test_loss"], color=colors[row["method"]], marker=markers[row["model"]],
                     s=40)
    if rows:
        axis.set_xscale("log")
        axis.set_xlabel("trainable parameters")
        axis.set_ylabel("final test loss")
        _two_legends(axis, colors, markers, [r["method"] for r in rows])
    else:
        empty(axis, "no finished training run")
    axis.set_title(title, fontsize=11)
    return figure


def loss_vs_score(rows: list[dict], methods: list[str], models: list[str], title: str, note: str) -> Figure:
    figure, (axis,) = new_figure()
    colors = method_colors(methods)
    markers = {model: MARKERS[index % len(MARKERS)] for index, model in enumerate(models)}
    for row in rows:
        axis.scatter(row["final_test_loss"], row["average_score"], color=colors[row["method"]],
                     marker=markers[row["model"]], s=40)
        if row.get("ci_low") is not None:
            axis.errorbar(row["final_test_loss"], row["average_score"], color=colors[row["method"]], linewidth=0.8,
                          yerr=[[row["average_score"] - row["ci_low"]], [row["ci_high"] - row["average_score"]]])
    if rows:
        axis.set_xlabel("final test loss")
        axis.set_ylabel("average downstream score")
        _two_legends(axis, colors, markers, [r["method"] for r in rows])
        axis.text(0.02, 0.98, note, transform=axis.transAxes, va="top", fontsize=8,
                  bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    else:
        empty(axis, "no cell has both a final loss and downstream scores")
    axis.set_title(title, fontsize=11)
    return figure


def _two_legends(axis, colors: dict, markers: dict, present: list[str]) -> None:
    from matplotlib.lines import Line2D

    method_handles = [Line2D([], [], color=color, marker="o", linestyle="", label=method)
                      for method, color in colors.items() if method in present]
    size_handles = [Line2D([], [], color="grey", marker=marker, linestyle="", label=model)
                    for model, marker in markers.items()]
    first = axis.legend(handles=method_handles, fontsize=7, loc="upper right", title="method", title_fontsize=7)
    axis.add_artist(first)
    axis.legend(handles=size_handles, fontsize=7, loc="lower right", title="model", title_fontsize=7)


def log_range(low: float, high: float, points: int = 50) -> list[float]:
    """Evenly spaced points on a log axis from low to high."""
    return [math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (points - 1)) for i in range(points)]
