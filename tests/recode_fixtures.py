"""A small ReCode layout written by hand (three problems; function-name, docstring and format
variants), for the recode task tests without the real data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

PROBLEMS = [
    {"task_id": "HumanEval/0", "entry_point": "add_two",
     "prompt": 'def add_two(a, b):\n    """Return the sum of a and b.\n    >>> add_two(1, 2)\n    3\n    """\n',
     "canonical_solution": "    total = a + b\n    return total\n",
     "test": "\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n"},
    {"task_id": "HumanEval/1", "entry_point": "negate",
     "prompt": 'def negate(x):\n    """Return minus x."""\n',
     "canonical_solution": "    return -x\n",
     "test": "\n\ndef check(candidate):\n    assert candidate(2) == -2\n"},
    {"task_id": "HumanEval/2", "entry_point": "count_up",
     "prompt": 'def count_up(n):\n    """Return the numbers below n, in order."""\n',
     "canonical_solution": "    result = []\n    for i in range(n):\n        result.append(i)\n    return result\n",
     "test": "\n\ndef check(candidate):\n    assert candidate(3) == [0, 1, 2]\n"},
]
# The nominal partial code: half of the solution moved into the prompt (problem 1 is too short).
PARTIAL_SPLIT = {"HumanEval/0": 1, "HumanEval/1": 0, "HumanEval/2": 2}
PERTURBED = "recode/perturbed/humaneval/full"


def partial(problem: dict) -> dict:
    lines = problem["canonical_solution"].split("\n")
    cut = PARTIAL_SPLIT[problem["task_id"]]
    return {**problem, "prompt": problem["prompt"] + "".join(line + "\n" for line in lines[:cut]),
            "canonical_solution": "\n".join(lines[cut:])}


def renamed(problem: dict, new: str) -> dict:
    old = problem["entry_point"]
    return {**problem, "prompt": problem["prompt"].replace(old, new), "entry_point": new}


def write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(record) + "\n" for record in records)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def write_layout(root: Path) -> Path:
    """ReCode's release layout under root (the data directory); returns root.

    func_name: FuncRenameCamelCase (s0 only) and FuncRenameTypo (s0..s2); nlaugmenter:
    DocCase (s0..s2; s0 leaves the prompt as it was, as ReCode's unperturbed records do); format:
    new_lines (s0..s1, gzipped) and tab_indent (s0) on the partial code."""
    write(root / "recode/nominal/HumanEval.jsonl", PROBLEMS)
    write(root / "recode/nominal/humaneval_partial.jsonl", [partial(p) for p in PROBLEMS])
    camel = {"add_two": "addTwo", "negate": "negate", "count_up": "countUp"}
    write(root / PERTURBED / "func_name/humaneval_FuncRenameCamelCase_s0.jsonl",
          [renamed(p, camel[p["entry_point"]]) for p in PROBLEMS])
    for seed in range(3):
        write(root / PERTURBED / f"func_name/humaneval_FuncRenameTypo_s{seed}.jsonl",
              [renamed(p, p["entry_point"] + "x" * (seed + 1)) for p in PROBLEMS])
    for seed in range(3):
        records = []
        for problem in PROBLEMS:
            case = {0: "Return", 1: "RETURN", 2: "return"}[seed]
            prompt = problem["prompt"].replace('"""Return', f'"""{case}')
            records.append({**problem, "prompt": prompt, "seed": seed, "perturbed": seed > 0})
        write(root / PERTURBED / f"nlaugmenter/humaneval_DocCase_s{seed}.jsonl", records)
    for seed in range(2):
        write(root / PERTURBED / f"format/humaneval_new_lines_s{seed}.jsonl.gz",
              [{**partial(p), "prompt": partial(p)["prompt"].replace('"""\n', '"""\n' + "\n" * (seed + 1), 1),
                "partial": None} for p in PROBLEMS])
    tabbed = []
    for problem in PROBLEMS:
        half = partial(problem)
        tabbed.append({**half, "prompt": half["prompt"].replace("    ", "\t"), "partial": None})
    write(root / PERTURBED / "format/humaneval_tab_indent_s0.jsonl", tabbed)
    return root
