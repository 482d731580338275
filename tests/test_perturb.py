"""`astraios perturb`: each transformation changes what it says and keeps the program's meaning;
the engine checks every record in the sandbox, leaves out and reports the ones that fail, and
writes ReCode's layout that the recode tasks read."""

from __future__ import annotations

import ast
import json
import random

import pytest
from recode_fixtures import PROBLEMS
from typer.testing import CliRunner

from astraios import tasks
from astraios.cli import app
from astraios.perturb import TRANSFORMATIONS, perturb
from astraios.cli.perturb import NAMES
from astraios.perturb.problem import MARKER, Problem, ProblemError, partial
from astraios.sandbox import Program, run_many
from astraios.tasks.recode import canonical_program, program_with_check

runner = CliRunner()
LOOP = Problem.from_record(PROBLEMS[2])  # count_up: a for loop, locals `result` and `i`
ADD = Problem.from_record(PROBLEMS[0])  # add_two: a doctest that names the function


def apply(name: str, problem: Problem, seed: int = 0) -> Problem:
    transformation = TRANSFORMATIONS[name]
    base = partial(problem) if transformation.category in ("natgen", "format") else problem
    return transformation.apply(base, random.Random(seed))


def passes(*problems: Problem) -> list[bool]:
    programs = [Program("python", program_with_check(p.joined, {"test": p.test, "entry_point": p.entry_point}))
                for p in problems]
    return [run.passed for run in run_many(programs, progress=False)]


def test_partial_split_moves_half_of_the_solution_into_the_prompt():
    half = partial(LOOP)
    assert half.prompt.endswith('"""\n    result = []\n    for i in range(n):\n')
    assert half.canonical_solution == "        result.append(i)\n    return result\n"
    assert partial(Problem.from_record(PROBLEMS[1])) == Problem.from_record(PROBLEMS[1])  # one statement: no split
    assert half.joined == LOOP.joined and MARKER not in half.joined


def test_function_renames_reach_definition_doctests_recursion_and_tests():
    recursive = Problem.from_record({
        "task_id": "r", "entry_point": "fact_of", "prompt": 'def fact_of(n):\n    """fact_of(3) is 6."""\n',
        "canonical_solution": "    return 1 if n < 2 else n * fact_of(n - 1)\n",
        "test": "def check(fact_of):\n    assert fact_of(3) == 6\n\ncheck(fact_of)\n"})
    camel = apply("FuncRenameCamelCase", recursive)
    assert camel.entry_point == "factOf" and "fact_of" not in camel.joined + camel.test
    assert '"""factOf(3) is 6."""' in camel.prompt and "n * factOf(n - 1)" in camel.canonical_solution
    assert camel.test == "def check(factOf):\n    assert factOf(3) == 6\n"  # the trailing call is the runner's
    typo = apply("FuncRenameTypo", ADD, seed=3)
    assert typo.entry_point != "add_two" and typo.entry_point.isidentifier() and f">>> {typo.entry_point}(1, 2)" in typo.prompt
    assert apply("FuncRenameCamelCase", Problem.from_record(PROBLEMS[1])) == Problem.from_record(PROBLEMS[1])
    assert passes(camel, typo) == [True, True]


def test_syntax_transformations_edit_the_prompt_part():
    naive = apply("VarRenameNaive", LOOP)
    assert "VAR_0 = []\n    for VAR_1 in range(n):" in naive.prompt and "VAR_0.append(VAR_1)" in naive.canonical_solution
    assert "def count_up(n):" in naive.prompt  # parameters keep their names: the docstring and tests use them
    randomised = apply("VarRenameRandom", LOOP, seed=2)
    assert "result" not in randomised.joined and randomised.joined != naive.joined
    loop = apply("ForWhile", LOOP)
    assert "while True:" in loop.prompt and "= next(_iter_0)" in loop.prompt and "for i in" not in loop.prompt
    dead = apply("DeadCode", LOOP, seed=5)
    tree = ast.parse(dead.joined)
    dead_blocks = [node for node in ast.walk(tree) if isinstance(node, (ast.If, ast.While, ast.For))
                   and ast.unparse(getattr(node, "test", getattr(node, "iter", None))) in ("False", "range(0)")]
    assert len(dead_blocks) == 1 and dead.canonical_solution == partial(LOOP).canonical_solution
    while_problem = Problem.from_record({
        "task_id": "w", "entry_point": "halve", "prompt": "def halve(n):\n",
        "canonical_solution": "    steps = 0\n    while n > 1:\n        n //= 2\n        steps += 1\n    return steps\n",
        "test": "def check(candidate):\n    assert candidate(8) == 3\n    assert candidate(1) == 0\n"})
    rewritten = apply("ForWhile", while_problem)
    assert "for _ in iter(int, 1):\n        if not (n > 1):\n            break" in rewritten.joined
    assert passes(naive, randomised, loop, dead, rewritten) == [True] * 5


def test_format_transformations():
    tabs = apply("TabIndent", LOOP)
    assert "\tresult = []\n\tfor i in range(n):\n" in tabs.prompt and tabs.canonical_solution.startswith("\t\tresult")
    comments = apply("DocToComments", ADD)
    assert '"""' not in comments.joined and "    # Return the sum of a and b.\n    # >>> add_two(1, 2)\n    # 3\n" in comments.prompt
    blank = apply("NewLineAfterDoc", LOOP)
    assert '"""\n\n    result' in blank.prompt
    lines = apply("NewLines", LOOP, seed=1)
    assert lines.joined.replace("\n\n", "\n") != lines.joined and lines.canonical_solution == partial(LOOP).canonical_solution
    assert passes(tabs, comments, blank, lines) == [True] * 4


def test_docstring_transformations_change_prose_only():
    for name in ("DocTypos", "DocCharCase", "DocSynonyms"):
        changed = [apply(name, ADD, seed) for seed in range(8)]
        assert any(c.prompt != ADD.prompt for c in changed), name
        for problem in changed:
            assert ">>> add_two(1, 2)\n    3\n" in problem.prompt  # the doctest is kept exactly
            assert problem.prompt.startswith("def add_two(a, b):") and problem.canonical_solution == ADD.canonical_solution
            assert ast.get_docstring(ast.parse(problem.joined).body[0]) is not None
    synonyms = apply("DocSynonyms", ADD, seed=0)
    assert synonyms.prompt != ADD.prompt or apply("DocSynonyms", ADD, seed=1).prompt != ADD.prompt


def test_problem_errors():
    with pytest.raises(ProblemError, match="does not end with a newline"):
        Problem.from_record({**PROBLEMS[0], "prompt": PROBLEMS[0]["prompt"].rstrip()})
    with pytest.raises(ProblemError, match="no module-level function nope"):
        Problem.from_record({**PROBLEMS[0], "entry_point": "nope"})


def write_input(path, extra=()):
    records = [*PROBLEMS, *extra]
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


# add_two's test looks at the function's name: renaming the function breaks it (and only that).
NAME_SENSITIVE = {**PROBLEMS[0], "task_id": "HumanEval/3", "test": PROBLEMS[0]["test"] + "    assert candidate.__name__ == 'add_two'\n"}
BROKEN = {**PROBLEMS[1], "task_id": "HumanEval/4", "canonical_solution": "    return x\n"}


def test_engine_checks_reports_and_writes_recodes_layout(tmp_path):
    source = write_input(tmp_path / "in.jsonl", [NAME_SENSITIVE, BROKEN])
    report = perturb(source, tmp_path / "out", seeds=2, workers=2, progress=False)
    assert report.problems == 5
    assert list(report.dropped_problems) == ["HumanEval/4"] and "fails its tests" in report.dropped_problems["HumanEval/4"]
    by_file = {(f.transformation, f.seed): f for f in report.files}
    assert len(report.files) == sum(2 if t.seeded else 1 for t in TRANSFORMATIONS.values())
    assert set(by_file["FuncRenameCamelCase", 0].dropped) == {"HumanEval/3"}
    assert "canonical solution fails after the transformation" in by_file["FuncRenameCamelCase", 0].dropped["HumanEval/3"]
    assert set(by_file["FuncRenameTypo", 1].dropped) == {"HumanEval/3"} and not by_file["DeadCode", 1].dropped
    assert by_file["FuncRenameCamelCase", 0].written == 3 and by_file["FuncRenameCamelCase", 0].changed == 2
    root = tmp_path / "out" / "recode"
    saved = json.loads((root / "perturb_report.json").read_text())
    assert saved["dropped_problems"] == report.dropped_problems
    camel = [json.loads(line) for line in
             (root / "perturbed/humaneval/full/func_name/humaneval_FuncRenameCamelCase_s0.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in camel] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert [r["perturbed"] for r in camel] == [True, False, True] and camel[0]["seed"] == 0
    nominal = (root / "nominal/HumanEval.jsonl").read_text().splitlines()
    assert len(nominal) == 4  # the broken problem is left out everywhere
    # The recode tasks read it, and every canonical solution there passes as it is.
    documents = []
    for category in ("docstring", "funcname", "syntax", "format"):
        documents += tasks.get(f"recode-{category}", num_seeds=2).documents(tmp_path / "out")
    runs = run_many([Program("python", program_with_check(d["prompt"] + d["canonical_solution"], d))
                     for d in documents], workers=2, progress=False)
    assert all(run.passed for run in runs)
    assert all(canonical_program(d) == d["prompt"] + d["canonical_solution"] for d in documents)


def test_cli_prints_the_table_and_what_it_left_out(tmp_path):
    source = write_input(tmp_path / "in.jsonl", [NAME_SENSITIVE])
    arguments = ["perturb", str(source), "--output", str(tmp_path / "out"), "--seeds", "1", "--quiet",
                 "--transformations", "FuncRenameCamelCase,DeadCode", "--workers", "2"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "left out of FuncRenameCamelCase s0: HumanEval/3: canonical solution fails after the transformation" in text
    assert "1 records and 0 problems left out" in text
    assert sorted(p.name for p in (tmp_path / "out/recode/perturbed/humaneval/full").iterdir()) == ["func_name", "natgen"]
    again = runner.invoke(app, arguments)
    assert again.exit_code == 1 and "exists. Fix: pass --overwrite" in " ".join(again.output.split())
    assert runner.invoke(app, [*arguments, "--overwrite"]).exit_code == 0
    unknown = runner.invoke(app, ["perturb", str(source), "--output", str(tmp_path / "x"), "--transformations", "Nope"])
    assert unknown.exit_code == 1 and "unknown transformation Nope" in " ".join(unknown.output.split())
    missing = runner.invoke(app, ["perturb", str(tmp_path / "none.jsonl"), "--output", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "no such file" in " ".join(missing.output.split())
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task_id": "x", "prompt": "def f():\n"}) + "\n")
    result = runner.invoke(app, ["perturb", str(bad), "--output", str(tmp_path / "x")])
    assert result.exit_code == 1 and "bad.jsonl:1: record lacks entry_point, canonical_solution, test" in " ".join(
        result.output.split())


def test_help_names_every_transformation():
    assert NAMES == tuple(TRANSFORMATIONS)


def test_perturbs_humanevalpack_python(data_dir, tmp_path):
    report = perturb(data_dir / "humanevalpack" / "humanevalpack_python.jsonl", tmp_path / "out", seeds=1, limit=8,
                     workers=2, progress=False)
    assert report.problems == 8 and not report.dropped_problems
    assert report.dropped_records == 0, [f.dropped for f in report.files if f.dropped]
    assert sum(f.changed for f in report.files) > 0.6 * sum(f.written for f in report.files)
    documents = tasks.get("recode-syntax", num_seeds=1).documents(tmp_path / "out")
    assert documents[0]["task_id"] == "Python/0" and "check(" not in documents[0]["test"].split("\n")[-2]
