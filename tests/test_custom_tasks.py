"""Task files (astraios.tasks.custom): your own problems as a HumanEval-style jsonl or a YAML task
file, passed as `--tasks FILE` or in a grid's `evaluation.tasks`, scored in the sandbox exactly as
humanevalsynthesize-python scores its problems."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from astraios import tasks
from astraios.cli import app
from astraios.tasks.data import SAMPLE_DIR, read_jsonl

runner = CliRunner()
# OpenAI HumanEval's form: the test defines check(candidate) and does not call it.
PROBLEMS = [
    {"task_id": "mine/add", "prompt": 'def add(a, b):\n    """Return a + b."""\n', "entry_point": "add",
     "canonical_solution": "    return a + b\n",
     "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n"},
    {"task_id": "mine/twice", "prompt": 'def twice(s):\n    """Return s repeated twice."""\n', "entry_point": "twice",
     "canonical_solution": "    return s * 2\n",
     "test": "def check(candidate):\n    assert candidate('ab') == 'abab'\n"},
    {"task_id": "mine/last", "prompt": 'def last(xs):\n    """The last item of xs."""\n', "entry_point": "last",
     "canonical_solution": "    return xs[-1]\n",
     "test": "def check(candidate):\n    assert candidate([1, 2, 3]) == 3\n"},
]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def evaluate(*arguments: str):
    return runner.invoke(app, ["eval", "--quiet", *arguments])


def test_a_humaneval_style_jsonl_is_a_task_scored_in_the_sandbox(tmp_path):
    problems = write_jsonl(tmp_path / "my-problems.jsonl", PROBLEMS)
    programs = [[p["prompt"] + p["canonical_solution"]] for p in PROBLEMS]
    programs[1] = [PROBLEMS[1]["prompt"] + "    return s\n"]  # wrong: fails its test
    generations = tmp_path / "generations.json"
    generations.write_text(json.dumps(programs))
    result = evaluate("--tasks", str(problems), "--generations", str(generations), "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "out" / "results.json").read_text())["tasks"]["my-problems"]
    assert entry["metrics"]["pass@1"] == pytest.approx(2 / 3)  # n = 1: the share of problems passed
    assert [(d["doc_id"], d["passed"]) for d in entry["per_document"]] == [("mine/add", 1), ("mine/twice", 0),
                                                                           ("mine/last", 1)]
    assert entry["task_settings"]["task_file"] == str(problems.resolve())
    assert entry["request"]["task_file"] == entry["task_settings"]["sha256"]


def test_it_is_humanevalsynthesize_python_itself_on_the_same_problems(tmp_path):
    """The shipped HumanEvalPack problems as a task file: the same prompts, post-processing, programs and verdicts
    as humanevalsynthesize-python (whatever program assembly that task uses)."""
    builtin = tasks.get("humanevalsynthesize-python")
    documents = builtin.documents("astraios-sample")[:6]
    records = [{key: value for key, value in document.items() if key not in ("doc_id", "index")} for document in documents]
    mine = tasks.get(str(write_jsonl(tmp_path / "sample.jsonl", records)))
    own = mine.documents()
    assert [mine.prompt(d) for d in own] == [builtin.prompt(d) for d in documents]
    completions = ["\n    return None\n\nprint('after')", "    pass\n# trailing\n", "\n"]
    assert all(mine.postprocess(a, c) == builtin.postprocess(b, c)
               for a, b in zip(own, documents) for c in completions)
    predictions = [[d["prompt"] + d["canonical_solution"], d["prompt"] + d["buggy_solution"]] for d in documents]
    theirs = builtin.score(documents, predictions, progress=False)
    ours = mine.score(own, predictions, progress=False)
    assert ours.per_document == theirs.per_document and ours.metrics == theirs.metrics
    assert [entry["passed"] for entry in ours.per_document] == [1] * len(documents)  # canonical passes, buggy fails


def test_a_yaml_task_file_sets_prompt_style_stops_k_and_sampling(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "problems.jsonl", PROBLEMS)
    task_file = tmp_path / "task.yaml"
    task_file.write_text("name: base-completion\ndata: data/problems.jsonl\nprompt_style: completion\n"
                         "stop: [\"\\n\\n\\n\"]\nk: [1, 2]\nn_samples: 2\ntemperature: 0.8\ntimeout_s: 5\n")
    task = tasks.get(str(task_file))
    document = task.documents()[0]
    assert (task.name, task.primary_metric, task.timeout_s) == ("base-completion", "pass@1", 5)
    assert task.prompt(document) == PROBLEMS[0]["prompt"].strip()
    # Its own stop: `\n#` (humanevalsynthesize's) no longer cuts; the blank lines do.
    assert task.postprocess(document, "\n    # sum\n    return a + b\n\n\n\nx") == (
        PROBLEMS[0]["prompt"].rstrip() + "\n    # sum\n    return a + b")
    programs = json.dumps([[p["prompt"] + p["canonical_solution"]] * 2 for p in PROBLEMS])
    (tmp_path / "generations.json").write_text(programs)
    common = ["--tasks", str(task_file), "--generations", str(tmp_path / "generations.json")]
    assert evaluate(*common, "--output", str(tmp_path / "out")).exit_code == 0
    entry = json.loads((tmp_path / "out" / "results.json").read_text())["tasks"]["base-completion"]
    assert set(entry["metrics"]) == {"pass@1", "pass@2"}
    assert (entry["request"]["sampling"]["n_samples"], entry["request"]["sampling"]["temperature"]) == (2, 0.8)
    assert evaluate(*common, "--n-samples", "3", "--output", str(tmp_path / "out2")).exit_code == 0  # the flag wins
    entry = json.loads((tmp_path / "out2" / "results.json").read_text())["tasks"]["base-completion"]
    assert (entry["request"]["sampling"]["n_samples"], entry["request"]["sampling"]["temperature"]) == (3, 0.8)


def test_mistakes_in_a_task_file_are_one_line_naming_the_file_and_field(tmp_path):
    def error(task: str) -> str:
        result = evaluate("--tasks", task, "--model", "tiny-gptbigcode-xs", "--output", str(tmp_path / "o"))
        assert result.exit_code == 1, result.output
        (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
        return line

    broken = write_jsonl(tmp_path / "broken.jsonl", [PROBLEMS[0], {**PROBLEMS[1], "test": ""}])
    assert f"{broken} line 2: no `test`" in error(str(broken))
    (tmp_path / "bad.yaml").write_text("data: broken.jsonl\nlanguage: rust\n")
    assert "bad.yaml: field `language`" in error(str(tmp_path / "bad.yaml"))
    (tmp_path / "lost.yaml").write_text("data: nowhere.jsonl\n")
    assert "lost.yaml: field `data`" in error(str(tmp_path / "lost.yaml"))
    clash = write_jsonl(tmp_path / "devign.jsonl", PROBLEMS)
    assert "is a built-in task's" in error(str(clash))
    assert "no such task file" in error(str(tmp_path / "missing.jsonl"))
    other = tmp_path / "other"
    other.mkdir()
    first, second = (write_jsonl(folder / "same.jsonl", PROBLEMS) for folder in (tmp_path, other))
    assert "both name the task `same`" in error(f"{first},{second}")


@pytest.mark.skipif(not (shutil.which("javac") and shutil.which("java")), reason="javac/java not found: install a JDK 17+")
def test_a_java_task_file_runs_as_humanevalpack_java(tmp_path):
    problem = {"task_id": "J/0", "entry_point": "add",
               "prompt": "import java.util.*;\n\nclass Solution {\n    public int add(int a, int b) {\n",
               "canonical_solution": "        return a + b;\n    }\n}",
               "test": "public class Main {\n    public static void main(String[] args) {\n        Solution s = new "
                       "Solution();\n        if (s.add(2, 3) != 5) { throw new AssertionError(); }\n    }\n}"}
    write_jsonl(tmp_path / "java.jsonl", [problem])
    (tmp_path / "java.yaml").write_text("data: java.jsonl\nlanguage: java\n")
    task = tasks.get(str(tmp_path / "java.yaml"))
    (document,) = task.documents()
    good = task.postprocess(document, problem["canonical_solution"] + "\n// more")
    bad = task.postprocess(document, "        return a - b;\n    }\n}")
    score = task.score([document], [[good, bad]], progress=False)
    assert score.per_document[0]["passed"] == 1 and score.metrics["pass@1"] == pytest.approx(0.5)


def test_a_grid_evaluates_a_task_file_and_again_when_it_changes(tmp_path, monkeypatch):
    from astraios.evaluation import task_request
    from astraios.grid.evaluation import EvaluationConfig, request_changes

    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "mine.jsonl", PROBLEMS)
    (tmp_path / "mine.yaml").write_text("data: mine.jsonl\nn_samples: 4\n")
    settings = EvaluationConfig(tasks=["toy-synthesize", "mine.yaml"], temperature=0.1,
                                per_task={"mine": {"timeout_s": 3}})
    assert settings.tasks == ["toy-synthesize", str(tmp_path / "mine.yaml")]
    assert settings.task_names() == ["toy-synthesize", "mine"]
    config = settings.eval_config(settings.task_names(), tmp_path / "eval", None)
    # The file's n_samples, the section's explicit temperature, per_task's option.
    assert (config.sampling_for("mine").n, config.sampling_for("mine").temperature) == (4, 0.1)
    assert config.sampling_for("toy-synthesize").n == 20 and config.options_for("mine")["timeout_s"] == 3
    before = task_request(config, "mine")
    write_jsonl(tmp_path / "mine.jsonl", PROBLEMS[:2])
    assert request_changes(task_request(config, "mine"), before) == ["the task file or its problems changed"]
    with pytest.raises(ValueError, match="no such task file"):
        EvaluationConfig(tasks=["missing.yaml"])


def test_the_shipped_sample_is_readable_as_a_task_file():
    """A HumanEvalPack file is itself a task file (its tests already call their check)."""
    records = read_jsonl(SAMPLE_DIR / "humanevalpack" / "humanevalpack_python.jsonl.gz")
    task = tasks.get(str(SAMPLE_DIR / "humanevalpack" / "humanevalpack_python.jsonl.gz"))
    assert task.name == "humanevalpack_python"
    assert [d["test"] for d in task.documents()] == [record["test"] for record in records]


@pytest.mark.parametrize("name", ["example.yaml", "example.jsonl"])
def test_the_example_task_files_of_the_docs_pass_with_their_canonical_solutions(name):
    task = tasks.get(str(Path(__file__).resolve().parents[1] / "configs" / "tasks" / name))
    documents = task.documents()
    score = task.score(documents, [[d["prompt"] + d["canonical_solution"]] for d in documents], progress=False)
    assert len(documents) == 3 and score.metrics["pass@1"] == 1.0
