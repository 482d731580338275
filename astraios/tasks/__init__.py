"""The registry of evaluation tasks: name -> task.

Adding a task family is one module that defines its `Task` classes (see `astraios.tasks.base`)
and a `TASKS` dict (name -> (class, positional arguments)), plus one entry in `FAMILIES` below.
Task options (e.g. `timeout_s`) are keyword arguments of the class; `get` passes each task only
the options its constructor accepts, so one `astraios eval` command line can carry options for
several task families; `option_names` lists them (the grid checks its `per_task` settings with it).
"""

from __future__ import annotations

import difflib
import inspect

from astraios.tasks import aatk, codexglue, humanevalpack, recode, toy
from astraios.tasks.base import GenerationTask, Task, TaskScore
from astraios.tasks.data import DATA_DIR_ENV, DataNotFoundError

FAMILIES = (humanevalpack, codexglue, recode, aatk, toy)
REGISTRY: dict[str, tuple[type[Task], tuple]] = {name: entry for family in FAMILIES for name, entry in family.TASKS.items()}


class UnknownTaskError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str, **options) -> Task:
    """A fresh task by name; options its constructor does not take are ignored."""
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownTaskError(f"unknown task `{name}`.{hint} Available tasks: {', '.join(REGISTRY)} "
                               f"(`astraios tasks` describes them).")
    task_class, arguments = REGISTRY[name]
    return task_class(*arguments, **accepted_options(name, options))


def option_names(name: str) -> list[str]:
    """The options (keyword arguments) task `name` takes, past the arguments its registry entry fills."""
    task_class, arguments = REGISTRY[name]
    return list(inspect.signature(task_class).parameters)[len(arguments):]


def accepted_options(name: str, options: dict) -> dict:
    """The part of `options` that task `name` takes."""
    accepted = option_names(name)
    return {key: value for key, value in options.items() if key in accepted}


def parse_names(text: str) -> list[str]:
    """Task names from a comma-separated list, each checked, duplicates dropped, order kept."""
    requested = [part.strip() for part in text.split(",") if part.strip()]
    if not requested:
        raise UnknownTaskError(f"no task given. Fix: --tasks humanevalsynthesize-python (available: {', '.join(REGISTRY)})")
    for name in requested:
        get(name)
    return list(dict.fromkeys(requested))


__all__ = [
    "DATA_DIR_ENV",
    "REGISTRY",
    "DataNotFoundError",
    "GenerationTask",
    "Task",
    "TaskScore",
    "UnknownTaskError",
    "accepted_options",
    "get",
    "names",
    "option_names",
    "parse_names",
]
