"""Your own code-synthesis task, without code: a HumanEval-style jsonl file, or a YAML task file
that names one, passed as `--tasks path/to/file` (and in a grid's `evaluation.tasks`).

A jsonl file holds one problem a line: `prompt` (the code the model continues: signature and
docstring), `test` and `entry_point`; optional `task_id` (default NAME/<line number - 1>),
`instruction` (the question of the octocoder prompt) and `canonical_solution`. A Python `test`
is either HumanEvalPack's (it calls the check itself) or OpenAI HumanEval's (`def check(candidate)`
and no call): then `check(<entry_point>)` is appended. A Java problem is HumanEvalPack's: `prompt`
opens `class Solution` and the method, `test` is a `public class Main` whose `main` throws on failure.

A YAML task file says how to ask and score (every field but `data` optional):

    name: my-task             # the task's name in results (default: the file's name)
    data: problems.jsonl      # the jsonl above, relative to this file (.jsonl.gz too)
    language: python          # python | java
    prompt_style: octocoder   # octocoder: `Question: {instruction}\\n\\nAnswer:\\n{prompt}` (as
                              #   humanevalsynthesize) | completion: the prompt alone (base models)
    instruction: ...          # the question for problems without `instruction` (default: "Complete
                              #   the following Python code.")
    stop: ["\\ndef", ...]     # stop sequences (default: humanevalsynthesize's for the language)
    n_samples: 20             # the task's sampling, unless --n-samples / --temperature are given
    temperature: 0.2
    k: [1, 10]                # the pass@k to report (default 1, 10, 100: those no larger than n)
    timeout_s: 10             # seconds each program may run (--timeout wins)
    description: ...          # one line for results and reports

Everything else is HumanEvalPack synthesis, reused rather than copied (`FileTask` is a
`humanevalpack.Synthesize`): the prompt, the post-processing that keeps the first function, the
program the sandbox runs (the import header and the tests after the program) and its scoring.
Results record the task file and the sha256 of it and its data, and a grid re-evaluates a task
whose files changed.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator

from astraios.core.schema import Strict
from astraios.tasks.data import read_jsonl
from astraios.tasks.humanevalpack import LANGUAGE_NAMES, STOP_SEQUENCES, TIMEOUT_S, Synthesize, octocoder_prompt

SUFFIXES = (".jsonl", ".jsonl.gz", ".yaml", ".yml")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # it names files (generations/NAME.json)
FIELDS = ("prompt", "test", "entry_point")
CHECK_DEFINED = re.compile(r"^def check\(", re.MULTILINE)
CHECK_CALLED = re.compile(r"^check\(", re.MULTILINE)


def is_task_file(reference: str) -> bool:
    """Whether `--tasks` names a task file rather than a task."""
    return reference.endswith(SUFFIXES)


class TaskFile(Strict):
    name: str | None = Field(None, description="the task's name (default: the file's name)")
    data: str = Field(description="the problems: a jsonl file, relative to the task file")
    language: Literal["python", "java"] = "python"
    prompt_style: Literal["octocoder", "completion"] = "octocoder"
    instruction: str | None = None
    stop: list[str] | None = Field(None, min_length=1)
    n_samples: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0)] | None = None
    k: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=1)
    timeout_s: Annotated[float, Field(gt=0)] = TIMEOUT_S
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _file_name_safe(cls, value):
        if value is not None and not NAME.fullmatch(value):
            raise ValueError(f"`{value}` cannot name the task's files. Fix: use letters, digits, `-`, `_` and `.`")
        return value


def load(path: str | Path) -> tuple[TaskFile, Path]:
    """The task file's settings (a jsonl file alone: the defaults) and the path of its problems."""
    from astraios.config import ConfigError, _describe, _read_yaml

    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"--tasks {path}: no such task file. Fix: check the path, or name a task (`astraios tasks`).")
    if not path.name.endswith((".yaml", ".yml")):
        return TaskFile(name=_stem(path), data=path.name), path
    raw = _read_yaml(path, sections="name/data/language/prompt_style/...", example="the task file format in "
                     "`astraios.tasks.custom`")
    try:
        spec = TaskFile(**raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, str(path), {}, root=TaskFile)) from None
    data = path.parent / spec.data
    if not data.is_file():
        raise ValueError(f"{path}: field `data`: {data} does not exist. Fix: give the problems' jsonl file, relative "
                         f"to {path.parent}.")
    return spec.model_copy(update={"name": spec.name or _stem(path)}), data


def _stem(path: Path) -> str:
    stem = next(path.name[:-len(suffix)] for suffix in SUFFIXES if path.name.endswith(suffix))
    if not NAME.fullmatch(stem):
        raise ValueError(f"{path}: `{stem}` cannot name the task's files. Fix: rename the file (letters, digits, `-`, "
                         f"`_`, `.`), or give the task a `name` in a YAML task file.")
    return stem


class FileTask(Synthesize):
    """HumanEvalPack synthesis over the problems of a task file."""

    variant = "synthesize"
    summary = "your own problems, scored by their unit tests"

    def __init__(self, path: str, timeout_s: float | None = None, empty_samples: str = "error"):
        self.spec, self.data = load(path)
        super().__init__(self.spec.language, timeout_s or self.spec.timeout_s, empty_samples)
        self.path = Path(path)
        self.name = self.spec.name
        self.description = self.spec.description or f"{LANGUAGE_NAMES[self.language]}: {self.summary} ({path})"
        self.stop_sequences = tuple(self.spec.stop or STOP_SEQUENCES[self.language])
        self.pass_at_k = tuple(self.spec.k or self.pass_at_k)
        self.primary_metric = f"pass@{min(self.pass_at_k)}"
        self.instruction = self.spec.instruction or f"Complete the following {LANGUAGE_NAMES[self.language]} code."

    def documents(self, data_dir=None) -> list[dict]:  # noqa: ARG002 (the task file names its own data)
        records = read_jsonl(self.data)
        if not records:
            raise ValueError(f"{self.data}: no problems. Fix: write one JSON object a line ({', '.join(FIELDS)}).")
        documents, seen = [], {}
        for index, record in enumerate(records):
            where = f"{self.data} line {index + 1}"
            missing = [name for name in FIELDS if not (isinstance(record.get(name), str) and record[name].strip())]
            if missing:
                raise ValueError(f"{where}: no `{missing[0]}` (a non-empty string). Fix: every problem needs "
                                 f"{', '.join(FIELDS)}.")
            task_id = str(record.get("task_id") or f"{self.name}/{index}")
            if task_id in seen:
                raise ValueError(f"{where}: task_id {task_id} is also on line {seen[task_id]}. Fix: make them unique.")
            seen[task_id] = index + 1
            documents.append({**record, "task_id": task_id, "doc_id": task_id, "index": index,
                              "instruction": record.get("instruction") or self.instruction,
                              "canonical_solution": record.get("canonical_solution") or "",
                              "test": self._test(record)})
        return documents

    def _test(self, record: dict) -> str:
        """The problem's test, calling its check as HumanEvalPack's Python tests do."""
        test = record["test"]
        if self.language == "python" and CHECK_DEFINED.search(test) and not CHECK_CALLED.search(test):
            return f"{test.rstrip()}\n\ncheck({record['entry_point']})\n"
        return test

    def prompt(self, document, sample=0):
        if self.spec.prompt_style == "completion":
            return document["prompt"].strip()
        return octocoder_prompt(document["instruction"].strip(), document["prompt"])

    def fingerprint(self) -> str:
        """The sha256 of the task file and its problems: what decides the task besides its options."""
        digest = hashlib.sha256(self.path.read_bytes())
        if self.data != self.path:
            digest.update(self.data.read_bytes())
        return digest.hexdigest()

    def settings(self) -> dict:
        return {**super().settings(), "prompt": self.spec.prompt_style, "task_file": str(self.path),
                "sha256": self.fingerprint()}

    def sampling_defaults(self) -> dict:
        """The sampling the task file asks for (under results.json's names), where it asks."""
        return {key: value for key, value in (("n_samples", self.spec.n_samples),
                                              ("temperature", self.spec.temperature)) if value is not None}
