"""The registry of evaluation tasks: name -> task.

Adding a task family is one module that defines its `Task` classes (see `astraios.tasks.base`)
and a `TASKS` dict (name -> (class, positional arguments)), plus one entry in `FAMILIES` below.
Task options (e.g. `timeout_s`) are keyword arguments of the class; `get` passes each task only
the options its constructor accepts, so one `astraios eval` command line can carry options for
several task families; `option_names` lists them (the grid checks its `per_task` settings with it).

A task file (`astraios.tasks.custom`: a HumanEval-style jsonl, or a YAML file naming one) is named
by its path wherever a task name goes: `resolve` reads it and registers its task under the name it
gives, for this process (`names()` keeps listing the built-in tasks only).
"""

from __future__ import annotations

import difflib
import inspect

from pathlib import Path

from astraios.tasks import aatk, codexglue, custom, humanevalpack, recode, toy
from astraios.tasks.base import GenerationTask, Task, TaskScore
from astraios.tasks.data import DATA_DIR_ENV, DataNotFoundError

FAMILIES = (humanevalpack, codexglue, recode, aatk, toy)
REGISTRY: dict[str, tuple[type[Task], tuple]] = {name: entry for family in FAMILIES for name, entry in family.TASKS.items()}
FILE_TASKS: dict[str, tuple[type[Task], tuple]] = {}  # task files read in this process: name -> (FileTask, (path,))


class UnknownTaskError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def names() -> list[str]:
    return list(REGISTRY)


def resolve(reference: str) -> str:
    """The task name of `reference`: a task's name, or a task file's path (read, checked and
    registered under the name it gives)."""
    if not custom.is_task_file(reference):
        entry(reference)
        return reference
    path = str(Path(reference).expanduser().resolve())
    task = custom.FileTask(path)
    task.documents()  # reads and checks the problems: a mistake fails here, before any model loads
    if task.name in REGISTRY:
        raise ValueError(f"{reference}: the task name `{task.name}` is a built-in task's. Fix: give the task another "
                         f"`name` in a YAML task file, or rename the file.")
    FILE_TASKS[task.name] = (custom.FileTask, (path,))
    return task.name


def resolve_all(references: list[str]) -> list[str]:
    """The task names of `references` (duplicates dropped, order kept); two task files may not
    give the same name, since their results would land in one place."""
    files: dict[str, tuple[str, str]] = {}  # name -> (reference, path) of the task file that gave it
    names = []
    for reference in references:
        name = resolve(reference)
        if custom.is_task_file(reference):
            path = FILE_TASKS[name][1][0]
            earlier, earlier_path = files.setdefault(name, (reference, path))
            if earlier_path != path:
                raise ValueError(f"{earlier} and {reference} both name the task `{name}`. Fix: give one another "
                                 f"`name` (a YAML task file), or rename one.")
        names.append(name)
    return list(dict.fromkeys(names))


def entry(name: str) -> tuple[type[Task], tuple]:
    """(class, arguments) of task `name`: built in, or from a task file read by `resolve`."""
    found = REGISTRY.get(name) or FILE_TASKS.get(name)
    if found is None:
        close = difflib.get_close_matches(name, REGISTRY, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownTaskError(f"unknown task `{name}`.{hint} Available tasks: {', '.join(REGISTRY)} "
                               f"(`astraios tasks` describes them), or a task file (.jsonl, .yaml).")
    return found


def get(name: str, **options) -> Task:
    """A fresh task by name (or task file); options its constructor does not take are ignored."""
    name = resolve(name)
    task_class, arguments = entry(name)
    return task_class(*arguments, **accepted_options(name, options))


def option_names(name: str) -> list[str]:
    """The options (keyword arguments) task `name` takes, past the arguments its registry entry fills."""
    task_class, arguments = entry(name)
    return list(inspect.signature(task_class).parameters)[len(arguments):]


def sampling_defaults(name: str) -> dict:
    """The sampling a task file asks for (n_samples, temperature), where it does; built-in tasks: none."""
    task_class, arguments = entry(name)
    return task_class(*arguments).sampling_defaults() if name in FILE_TASKS else {}


def fingerprint(name: str) -> str | None:
    """The sha256 of a task file and its problems (None for a built-in task): a change re-evaluates it."""
    task_class, arguments = entry(name)
    return task_class(*arguments).fingerprint() if name in FILE_TASKS else None


def accepted_options(name: str, options: dict) -> dict:
    """The part of `options` that task `name` takes."""
    accepted = option_names(name)
    return {key: value for key, value in options.items() if key in accepted}


def parse_names(text: str) -> list[str]:
    """Task names from a comma-separated list of names and task files, each checked, duplicates
    dropped, order kept."""
    requested = [part.strip() for part in text.split(",") if part.strip()]
    if not requested:
        raise UnknownTaskError(f"no task given. Fix: --tasks humanevalsynthesize-python (available: {', '.join(REGISTRY)})")
    names = resolve_all(requested)
    for name in names:
        get(name)
    return names


__all__ = [
    "DATA_DIR_ENV",
    "REGISTRY",
    "DataNotFoundError",
    "GenerationTask",
    "Task",
    "TaskScore",
    "UnknownTaskError",
    "accepted_options",
    "entry",
    "fingerprint",
    "get",
    "names",
    "option_names",
    "parse_names",
    "resolve",
    "resolve_all",
    "sampling_defaults",
]
