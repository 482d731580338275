"""Tick labels a reader takes in at a glance: plain numbers on log axes (0.3%, 20K) instead of
matplotlib's 3x10^-1, and a model-size axis ticked at the sizes themselves."""

from __future__ import annotations

import math
from collections.abc import Callable

from astraios.analysis.tables import size_label

MAX_DIGITS = 6
CLOSEST_LABELS = 0.1  # share of a size axis's span under which a size's label would touch its neighbour's


def plain_number(value: float) -> str:
    """`value` in plain decimals with as few significant digits as show it exactly (up to 6): 0.03, 0.6, 1.25, 100."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)) + 1e-9)
    digits = next((d for d in range(1, MAX_DIGITS + 1)
                   if abs(round(value, d - 1 - magnitude) - value) <= 1e-9 * abs(value)), MAX_DIGITS)
    return f"{value:.{max(0, digits - 1 - magnitude)}f}"


def percent(value: float) -> str:
    return f"{plain_number(value)}%"


def count(value: float) -> str:
    """A count in thousands, millions, billions: 200, 20K, 1.5M, 7B."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{plain_number(value / scale)}{suffix}"
    return plain_number(value)


def log_ticks(axis, text: Callable[[float], str]) -> None:
    """Label a log axis (`axis.xaxis` or `axis.yaxis`) with `text(value)`: every decade; the 2s and 5s
    too where the view spans less than three decades; under one decade every tick."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, minor: bool) -> str:
        if value <= 0:
            return ""
        low, high = sorted(abs(limit) for limit in axis.get_view_interval())
        decades = math.log10(high / max(low, 1e-300))
        leading = round(value / 10 ** math.floor(math.log10(value) + 1e-9))
        if minor and (decades >= 3 or (decades >= 1 and leading not in (2, 5))):
            return ""
        return text(value)

    axis.set_major_formatter(FuncFormatter(lambda value, _: label(value, minor=False)))
    axis.set_minor_formatter(FuncFormatter(lambda value, _: label(value, minor=True)))


def size_ticks(axis, sizes: list[float]) -> None:
    """The x ticks of a log axis at the model sizes themselves, labelled as the tables head them (72K,
    1.6M); a size too close to the one labelled before it keeps its tick but not a label of its own."""
    from matplotlib.ticker import NullFormatter

    sizes = sorted(set(sizes))
    span = math.log10(sizes[-1] / sizes[0]) if len(sizes) > 1 else 1.0
    labels, labelled = [], None
    for size in sizes:
        crowded = labelled is not None and math.log10(size / labelled) / span < CLOSEST_LABELS
        labels.append("" if crowded else size_label(size))
        labelled = labelled if crowded else size
    axis.set_xticks(sizes, labels)
    axis.xaxis.set_minor_formatter(NullFormatter())
