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

from astraios.analysis.ticks import count, log_ticks, percent, size_ticks  # noqa: E402

MARKERS = "osD^vP*Xph"
WIDTH, HEIGHT = 7.0, 4.2  # inches; at the PNG resolution below, about 700 x 420 pixels


def method_colors(methods: list[str]) -> dict[str, tuple]:
    """A colour of its own for every method (a repeated colour would make two methods one in a legend):
    tab10 up to ten; up to twenty, tab20's dark shades first, then its light ones; beyond, evenly spaced hues."""
    count = len(methods)
    if count <= 10:
        return {method: plt.get_cmap("tab10")(index) for index, method in enumerate(methods)}
    if count <= 20:
        palette = plt.get_cmap("tab20")
        return {method: palette(2 * index % 20 + 2 * index // 20) for index, method in enumerate(methods)}
    palette = plt.get_cmap("hsv")
    return {method: palette(index / count) for index, method in enumerate(methods)}


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
    bracket marked n.s. on the right. `reference` (the untuned base) is drawn hatched, and only it
    is hatched in the legend. A size on which every method scores the same adds the same length to
    every bar: the legend says so (it cannot change the ranking)."""
    from matplotlib.patches import Patch

    figure, (axis,) = new_figure(height=max(HEIGHT, 0.45 * len(methods) + 1.5))
    totals = {method: sum(row["average_score"] for row in rows if row["method"] == method) for method in methods}
    ranked = [method for method in sorted(methods, key=lambda m: totals[m]) if any(r["method"] == method for r in rows)]
    if not ranked:
        empty(axis, "no downstream scores: no cell has evaluation results")
    colors = size_colors(models)
    left = dict.fromkeys(ranked, 0.0)
    handles = []
    for model in models:
        values = [next((r["average_score"] for r in rows if r["method"] == m and r["model"] == model), 0.0)
                  for m in ranked]
        if ranked:
            bars = axis.barh(ranked, values, left=[left[m] for m in ranked], color=colors[model])
            for method, bar in zip(ranked, bars):
                if method == reference:
                    bar.set_hatch("//")
            handles.append(Patch(facecolor=colors[model], label=model + _same_for_all(values)))
        for method, value in zip(ranked, values):
            left[method] += value
    if reference in ranked:
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label=f"hatched: {reference} (untuned)"))
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
        axis.legend(handles=handles, title="model", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside
        axis.set_xlim(0, max(reach * 1.3, 1e-3))
    axis.set_title(title, fontsize=11)
    return figure


def _same_for_all(values: list[float]) -> str:
    """A legend note for a size whose segment is the same in every bar (it cannot change the ranking)."""
    if len(values) < 2 or max(values) - min(values) > 1e-12:
        return ""
    return "\n(scores 0 for every method)" if max(values) == 0 else f"\n({values[0]:.3f} for every method)"


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
        log_ticks(axis.yaxis, percent)
        axis.set_xticks(range(len(methods)), methods, rotation=90 if len(methods) > 8 else 0)  # 9+ names collide flat
        axis.set_ylabel("trainable parameters (% of the adapted model)")
        axis.legend(title="model", fontsize=8)
    else:
        empty(axis, "no finished training run")
    axis.set_title(title, fontsize=11)
    return figure


def loss_vs_size(rows: list[dict], fits: dict[str, list[tuple[float, float]]], methods: list[str], title: str) -> Figure:
    """Final test loss (left) against base parameters, log x, with the scaling fits given (dotted);
    right: the generalisation gap, final test minus train loss (train loss itself would repeat the
    left panel where the two hardly differ; the gap is what it adds)."""
    figure, axes = new_figure(columns=2, width=WIDTH * 1.4)
    colors = method_colors(methods)
    gaps = [{**row, "gap": row["final_test_loss"] - row["final_train_loss"]} for row in rows
            if row["final_test_loss"] is not None and row["final_train_loss"] is not None]
    if lines_vs_size(axes[0], rows, methods, "final_test_loss", "final test loss", "no finished training run",
                     legend=False):
        for method in methods:
            if fits.get(method):
                axes[0].plot(*zip(*fits[method]), linestyle=":", color=colors[method])
    if lines_vs_size(axes[1], gaps, methods, "gap", "final test loss - final train loss",
                     "no run with both a test and a train loss", legend=False):
        axes[1].axhline(0.0, color="grey", linewidth=0.8)
        axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside: never over a line
    axes[0].set_title("test loss", fontsize=9)
    axes[1].set_title("generalisation gap: test - train loss (> 0: overfitting)", fontsize=9)
    figure.subplots_adjust(wspace=0.3)
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
    size_ticks(axis, [row["base_parameters"] for row in rows if row["method"] in methods and row[key] is not None
                      and row["base_parameters"]])
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
        _point(axis, row["trainable"], row["final_test_loss"], colors[row["method"]], markers[row["model"]])
    if rows:
        axis.set_xscale("log")
        log_ticks(axis.xaxis, count)
        axis.set_xlabel("trainable parameters")
        axis.set_ylabel("final test loss")
        _legends_beside(axis, colors, markers, [r["method"] for r in rows])
    else:
        empty(axis, "no finished training run")
    axis.set_title(title, fontsize=11)
    return figure


def loss_vs_score(rows: list[dict], methods: list[str], models: list[str], title: str, note: str) -> Figure:
    figure, (axis,) = new_figure()
    colors = method_colors(methods)
    markers = {model: MARKERS[index % len(MARKERS)] for index, model in enumerate(models)}
    for row in rows:
        if row.get("ci_low") is not None:  # under the markers, faint: many overlap where cells score alike
            axis.errorbar(row["final_test_loss"], row["average_score"], color=colors[row["method"]], linewidth=0.8,
                          alpha=0.5, zorder=1,
                          yerr=[[row["average_score"] - row["ci_low"]], [row["ci_high"] - row["average_score"]]])
        _point(axis, row["final_test_loss"], row["average_score"], colors[row["method"]], markers[row["model"]])
    if rows:
        axis.set_xlabel("final test loss")
        axis.set_ylabel("average downstream score")
        _legends_beside(axis, colors, markers, [r["method"] for r in rows], note)
    else:
        empty(axis, "no cell has both a final loss and downstream scores")
    axis.set_title(title, fontsize=11)
    return figure


def _point(axis, x: float, y: float, color, marker: str) -> None:
    """One cell: translucent, edged in white, so that cells at the same place stay visible as a pile."""
    axis.scatter(x, y, color=color, marker=marker, s=36, alpha=0.75, edgecolors="white", linewidths=0.6, zorder=2)


def _legends_beside(axis, colors: dict, markers: dict, present: list[str], note: str | None = None) -> None:
    """The method legend, the model legend and `note`, stacked to the right of the axes, outside
    them: nothing drawn over the data (savefig's tight bounding box makes room)."""
    from matplotlib.legend import Legend
    from matplotlib.lines import Line2D

    method_handles = [Line2D([], [], color=color, marker="o", linestyle="", label=method)
                      for method, color in colors.items() if method in present]
    size_handles = [Line2D([], [], color="grey", marker=marker, linestyle="", label=model)
                    for model, marker in markers.items()]
    renderer = axis.figure.canvas.get_renderer()
    top = 1.0
    for handles, title in ((method_handles, "method"), (size_handles, "model")):
        legend = Legend(axis, handles, [handle.get_label() for handle in handles], fontsize=7, loc="upper left",
                        bbox_to_anchor=(1.02, top), borderaxespad=0, title=title, title_fontsize=7)
        axis.add_artist(legend)
        legend.set_clip_on(False)  # add_artist clips to the axes: savefig's tight box would cut it off
        top = legend.get_window_extent(renderer).transformed(axis.transAxes.inverted()).y0 - 0.04
    if note:
        axis.text(1.02, top, note, transform=axis.transAxes, va="top", ha="left", fontsize=7)


def log_range(low: float, high: float, points: int = 50) -> list[float]:
    """Evenly spaced points on a log axis from low to high."""
    return [math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (points - 1)) for i in range(points)]
