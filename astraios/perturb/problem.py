"""A HumanEval-style problem as the transformations see it: the prompt and the canonical solution
as one module with a marker line between them, so that every edit, wherever it lands, moves the
boundary with it; splitting at the marker gives the perturbed prompt and the canonical solution
transformed the same way.

Syntax and format perturbations apply to partial code, as in ReCode: the prompt also holds the
first half of the solution (`partial`), so the model sees the perturbed code and completes it.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass

from astraios.perturb.source import Source, docstring_node

MARKER = "# <astraios:split>"
FIELDS = ("task_id", "prompt", "entry_point", "canonical_solution", "test")


class ProblemError(ValueError):
    """A record that cannot be perturbed (it does not parse, lacks its function, ...)."""


@dataclass(frozen=True)
class Problem:
    task_id: str
    code: str  # prompt + MARKER line + canonical solution
    test: str  # defines check(candidate); the runner calls check(entry_point)
    entry_point: str

    @classmethod
    def from_record(cls, record: dict) -> Problem:
        prompt = record["prompt"]
        if not prompt.endswith("\n"):
            raise ProblemError("the prompt does not end with a newline, so the solution does not start on a line")
        problem = cls(record["task_id"], prompt + MARKER + "\n" + record["canonical_solution"],
                      _without_check_call(record["test"], record["entry_point"]), record["entry_point"])
        try:
            source = Source(problem.joined)
        except SyntaxError as error:
            raise ProblemError(f"prompt + canonical solution do not parse: {error}") from None
        if source.function(problem.entry_point) is None:
            raise ProblemError(f"no module-level function {problem.entry_point}() in prompt + canonical solution")
        return problem

    @property
    def marker_line(self) -> int:
        return self.code.split("\n").index(MARKER)

    @property
    def prompt(self) -> str:
        return "\n".join(self.code.split("\n")[:self.marker_line]) + "\n"

    @property
    def canonical_solution(self) -> str:
        return "\n".join(self.code.split("\n")[self.marker_line + 1:])

    @property
    def joined(self) -> str:
        """Prompt and solution as the program they make (the marker is a comment, so `code`
        parses the same; this is what the checks run)."""
        return self.prompt + self.canonical_solution

    def record(self) -> dict:
        return {"task_id": self.task_id, "prompt": self.prompt, "entry_point": self.entry_point,
                "canonical_solution": self.canonical_solution, "test": self.test}

    def replace(self, **changes) -> Problem:
        return dataclasses.replace(self, **changes)


def partial(problem: Problem) -> Problem:
    """The problem with about the first half of its solution moved into the prompt: the split
    goes before the statement that starts nearest the middle of the solution (never the first,
    unless it is the only one: then the prompt stays as it was)."""
    lines = problem.code.split("\n")
    marker = problem.marker_line
    source = Source(problem.code)
    function = source.function(problem.entry_point)
    docstring = docstring_node(function)
    starts = sorted({node.lineno - 1 for node in ast.walk(function)
                     if isinstance(node, ast.stmt) and node is not function and node is not docstring
                     and node.lineno - 1 > marker and source.starts_line(node)})
    if len(starts) < 2:
        return problem
    middle = marker + 1 + (len(lines) - marker - 1) // 2
    split = min(starts[1:], key=lambda line: (abs(line - middle), line))
    moved = lines[:marker] + lines[marker + 1:split] + [MARKER] + lines[split:]
    return problem.replace(code="\n".join(moved))


def _without_check_call(test: str, entry_point: str) -> str:
    """The test without a trailing top-level `check(entry_point)` (HumanEvalPack's tests end with
    one; ReCode's runner, like the harness, appends it itself)."""
    try:
        tree = ast.parse(test)
    except SyntaxError as error:
        raise ProblemError(f"the test does not parse: {error}") from None
    last = tree.body[-1] if tree.body else None
    if (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and isinstance(last.value.func, ast.Name)
            and last.value.func.id == "check" and len(last.value.args) == 1 and not last.value.keywords
            and isinstance(last.value.args[0], ast.Name) and last.value.args[0].id == entry_point):
        lines = test.split("\n")
        return "\n".join(lines[:last.lineno - 1]).rstrip("\n") + "\n"
    return test
