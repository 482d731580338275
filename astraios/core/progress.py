"""The progress bar of counted work (programs run, completions generated, programs checked): rich's
Progress with the description, the bar, done / total and the time elapsed, and where the pace is
steady enough to estimate it, the time left. Training's bar adds its losses (train/reporting.py)."""

from __future__ import annotations


def counting_bar(*, remaining: bool = False, disable: bool = False):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    return Progress(*columns, *([TimeRemainingColumn()] if remaining else []), disable=disable)
