"""The recode-* tasks on a hand-made ReCode layout: loading and filters, prompts and
post-processing, scores against hand-computed values, saved generations in both formats, the Hub
loader on a local fixture in the Hub's format, and bad input."""

from __future__ import annotations

import json
import random

import pyarrow
import pyarrow.parquet
import pytest
from recode_fixtures import PROBLEMS, partial, write_layout
from typer.testing import CliRunner

from astraios import tasks
from astraios.cli import app
from astraios.generate import GenerationCache, Sampling
from astraios.tasks import recode_data
from astraios.tasks.data import DATA_DIR_ENV, DataNotFoundError
from astraios.tasks.recode import OCTOCODER_INSTRUCTION, canonical_program, program_with_check

runner = CliRunner()


@pytest.fixture
def layout(tmp_path):
    return write_layout(tmp_path / "data")


def task_documents(name, layout, **options):
    """The task and its documents; the fixture has at most 3 seeds (2 for format), fewer than the default 5."""
    options.setdefault("num_seeds", 2)
    task = tasks.get(name, **options)
    return task, task.documents(layout)


def test_documents_nominal_first_then_variants_with_the_seed_filter(layout):
    task, documents = task_documents("recode-funcname", layout, num_seeds=2)
    names = [(d["perturbation_name"], d["seed"]) for d in documents]
    assert names[:3] == [("nominal", None)] * 3
    # Sorted by transformation then seed, problems in file order; Typo s2 filtered out by num_seeds=2.
    assert names[3:] == [("FuncRenameCamelCase", 0)] * 3 + [("FuncRenameTypo", 0)] * 3 + [("FuncRenameTypo", 1)] * 3
    assert documents[7]["doc_id"] == "HumanEval/1/FuncRenameTypo/s0" and documents[7]["entry_point"] == "negatex"
    assert documents[7]["nominal_entry_point"] == "negate" and documents[7]["problem"] == 1
    assert [d["index"] for d in documents] == list(range(len(documents)))
    limited = task.select(documents, 2)
    assert {d["problem"] for d in limited} == {0, 1} and len(limited) == 2 * 4


def test_partial_categories_compare_against_the_partial_nominal(layout):
    _, documents = task_documents("recode-format", layout)
    nominal = [d for d in documents if d["perturbation_name"] == "nominal"]
    assert [d["prompt"] for d in nominal] == [partial(p)["prompt"] for p in PROBLEMS]
    assert {d["perturbation_name"] for d in documents} == {"nominal", "new_lines", "tab_indent"}  # .jsonl.gz read too


def test_transformation_filter_and_its_errors(layout):
    _, documents = task_documents("recode-funcname", layout, transformations="FuncRenameTypo")
    assert {d["perturbation_name"] for d in documents} == {"nominal", "FuncRenameTypo"}
    with pytest.raises(ValueError, match="did you mean FuncRenameTypo"):
        task_documents("recode-funcname", layout, transformations=["FuncRenameTypos"])
    with pytest.raises(ValueError, match=r"--num-seeds 6, but .*func_name has at most 3 seeds .*Fix: --num-seeds 3"):
        task_documents("recode-funcname", layout, num_seeds=6)


def test_missing_category_directory_and_nominal_file(tmp_path, layout):
    with pytest.raises(DataNotFoundError, match=r"natgen is missing \(it holds format, func_name, nlaugmenter\)"):
        task_documents("recode-syntax", layout)
    (layout / "recode/nominal/humaneval_partial.jsonl").unlink()
    with pytest.raises(DataNotFoundError, match="humaneval_partial.jsonl is missing"):
        task_documents("recode-format", layout)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataNotFoundError, match="does not exist"):
        task_documents("recode-docstring", tmp_path / "empty")


def test_prompt_styles_stop_sequences_and_post_processing(layout):
    task, documents = task_documents("recode-docstring", layout)
    document = documents[0]
    assert task.prompt(document) == document["prompt"].strip()
    completion = "\n    return a + b\n\nif __name__ == '__main__':\n    print(1)"
    assert task.postprocess(document, completion) == document["prompt"].strip() + "\n    return a + b\n"
    assert task.postprocess(document, "\n    return 1\n# done\ndef g(): pass") == document["prompt"].strip() + "\n    return 1"
    octo = tasks.get("recode-docstring", prompt_style="octocoder", num_seeds=2)
    assert octo.prompt(document) == f"Question: {OCTOCODER_INSTRUCTION}\n\nAnswer:\n{document['prompt'].strip()}"
    assert octo.settings()["prompt_style"] == "octocoder" and task.settings()["nominal"] == "HumanEval"
    with pytest.raises(ValueError, match="--prompt-style"):
        tasks.get("recode-docstring", prompt_style="chat")


def test_program_is_assembled_as_the_harness_does():
    document = {"test": "def check(candidate):\n    assert candidate() == 1\n", "entry_point": "f"}
    assert program_with_check("def f():\n    return 1", document) == (
        "def f():\n    return 1\n\ndef check(candidate):\n    assert candidate() == 1\n\ncheck(f)\n")


def test_canonical_solutions_of_the_fixture_pass(layout):
    from astraios.sandbox import Program, run_many

    for name in ("recode-docstring", "recode-funcname", "recode-format"):
        _, documents = task_documents(name, layout, num_seeds=3 if name != "recode-format" else 2)
        runs = run_many([Program("python", program_with_check(canonical_program(d), d)) for d in documents], progress=False)
        assert all(run.passed for run in runs), [(d["doc_id"], r.stderr) for d, r in zip(documents, runs) if not r.passed]


# Verdicts by (problem, transformation, seed) for a hand-computed example (see below).
VERDICTS = {
    (0, "nominal", None): True, (1, "nominal", None): True, (2, "nominal", None): False,
    (0, "FuncRenameCamelCase", 0): True, (1, "FuncRenameCamelCase", 0): True, (2, "FuncRenameCamelCase", 0): False,
    (0, "FuncRenameTypo", 0): True, (0, "FuncRenameTypo", 1): True, (0, "FuncRenameTypo", 2): True,
    (1, "FuncRenameTypo", 0): True, (1, "FuncRenameTypo", 1): True, (1, "FuncRenameTypo", 2): False,
    (2, "FuncRenameTypo", 0): True, (2, "FuncRenameTypo", 1): False, (2, "FuncRenameTypo", 2): False,
}
# pass@1 = 2/3. CamelCase: every verdict as nominal: RP 2/3, RD 0, RR 0, RC 0.
# Typo: robust only problem 0 (RP 1/3); problem 1 broken, problem 2 mended by s0 (RR 2/3); RD 0.5, RC 1/3.
# ReCode's own report counts CamelCase only (FuncRenameTypo is not in its config.json): coarse RP 2/3, RC 0.
EXPECTED = {"pass@1": 2 / 3, "RP@1": 1 / 3, "RD@1": 0.5, "RR@1": 2 / 3, "RC@1": 1 / 3,
            "coarse RP@1": 2 / 3, "coarse RC@1": 0.0}
EXPECTED_MEANS = {"RP@1": 0.5, "RD@1": 0.25, "RR@1": 1 / 3, "RC@1": 1 / 6}


def predictions_for(documents):
    def program(document):
        passes = VERDICTS[(document["problem"], document["perturbation_name"], document["seed"])]
        return canonical_program(document) if passes else document["prompt"].strip() + "\n    return None\n"

    return [[program(document)] for document in documents]


def test_scores_match_the_hand_computed_example(layout):
    task, documents = task_documents("recode-funcname", layout, num_seeds=3)
    score = task.score(documents, predictions_for(documents), workers=2, progress=False)
    assert score.metrics == pytest.approx(EXPECTED)
    assert score.details["mean_over_transformations"] == pytest.approx(EXPECTED_MEANS)
    typo = dict(score.details["transformations"]["FuncRenameTypo"])
    assert (typo.pop("seeds"), typo.pop("problems"), typo.pop("release_defects")) == ([0, 1, 2], 3, 0)
    assert typo == pytest.approx({"pass@1": 2 / 3, "RP@1": 1 / 3, "RD@1": 0.5, "RR@1": 2 / 3, "RC@1": 1 / 3})
    assert score.details["programs_total"] == len(documents) == 15
    assert score.details["statuses"] == {"passed": 10, "failed": 5}
    assert [entry["passed"] for entry in score.per_document[:3]] == [1, 1, 0]
    # The per-document verdicts recompute every score (the eval's check) and give its standard error:
    # pass@1 over the problems' 1, 1, 0 has sd sqrt(1/3), so sqrt(1/3) / sqrt(3) = 1/3.
    from astraios.intervals import entry_uncertainty

    found = entry_uncertainty({"metrics": score.metrics, "per_document": score.per_document})
    assert found["warnings"] == [] and set(found["stderr"]) == set(EXPECTED)
    assert found["stderr"]["pass@1"] == pytest.approx(1 / 3)
    # ReCode's coarse rule (issue 22) has no per-document recomputation yet: no interval for it.
    assert all(found["stderr"][metric] is not None and found["ci95"][metric] is not None
               for metric in EXPECTED if not metric.startswith("coarse"))


def test_identical_programs_across_variants_run_once(layout):
    task, documents = task_documents("recode-docstring", layout, num_seeds=3)
    # DocCase s0 repeats the nominal prompts: the same program, executed once.
    predictions = [[document["prompt"].strip() + "\n    return 0\n"] for document in documents]
    score = task.score(documents, predictions, workers=2, progress=False)
    assert score.details["programs_total"] == 12 and score.details["programs_executed"] == 9
    assert score.details["distinct_prompts"] == 9


class PromptCounter:
    name = "counter"
    rows_per_call = 4

    def __init__(self):
        self.prompts = []

    def generate(self, prompts, n=1, temperature=0.2, top_p=0.95, max_new_tokens=512, stop=(), stop_when=None,
                 seeds=None):
        self.prompts.extend(prompts)
        return [["\n    return 0\n"] * n for _ in prompts]

    def describe(self):
        return {"backend": self.name}


def test_greedy_generation_runs_each_distinct_prompt_once(layout, tmp_path):
    task, documents = task_documents("recode-docstring", layout, num_seeds=3)
    backend = PromptCounter()
    cache = GenerationCache(tmp_path / "cache", {"model": "counter"})
    sampling = Sampling(n=2, temperature=0, max_new_tokens=8)
    predictions = task.predict(backend, documents, sampling, cache)
    assert len(backend.prompts) == len(set(backend.prompts)) == 9 == task.expected_predictions(documents, sampling)
    assert all(len(programs) == 2 for programs in predictions) and len(predictions) == len(documents)
    assert task.predict(None, documents, sampling, cache) == predictions  # all cached: no model needed


def harness_file(documents, predictions, order):
    variants = [(d, p) for d, p in zip(documents, predictions) if d["perturbation_name"] != "nominal"]
    return [variants[i][1] for i in order]


def test_keyed_and_harness_files_give_the_same_scores(layout, tmp_path):
    task, documents = task_documents("recode-funcname", layout, num_seeds=3)
    predictions = predictions_for(documents)
    keyed = task.to_file(documents, predictions)
    assert keyed[0] == {"task_id": "HumanEval/0", "perturbation_name": "nominal", "seed": None,
                        "generations": predictions[0]}
    assert task.from_file(json.loads(json.dumps(keyed)), documents, documents, "f") == predictions
    variant_count = len(documents) - 3
    in_order = harness_file(documents, predictions, range(variant_count))
    shuffled_order = list(range(variant_count))
    random.Random(0).shuffle(shuffled_order)
    shuffled = harness_file(documents, predictions, shuffled_order)
    without_nominal = [record for record in keyed if record["perturbation_name"] != "nominal"]
    scores = [task.score(documents, task.from_file(file, documents, documents, "f"), workers=2, progress=False)
              for file in (in_order, shuffled, without_nominal)]
    assert scores[0].metrics == scores[1].metrics == scores[2].metrics == pytest.approx({"RP@1": 1 / 3,
                                                                                          "coarse RP@1": 2 / 3})
    assert all(score.details["mean_over_transformations"] == pytest.approx({"RP@1": 0.5}) for score in scores)
    assert "no nominal generations" in scores[0].details["note"]


def test_harness_file_for_the_whole_dataset_scores_a_limited_selection(layout):
    task, documents = task_documents("recode-funcname", layout, num_seeds=3)
    predictions = predictions_for(documents)
    file = harness_file(documents, predictions, range(len(documents) - 3))
    selected = task.select(documents, 1)
    given = task.from_file(file, documents, selected, "f")
    assert given == [[] if d["perturbation_name"] == "nominal" else predictions[d["index"]] for d in selected]


def test_harness_file_of_more_seeds_and_transformations_than_selected(layout):
    full_task, full_documents = task_documents("recode-funcname", layout, num_seeds=3)
    file = harness_file(full_documents, predictions_for(full_documents), range(len(full_documents) - 3))
    for options in ({"num_seeds": 2}, {"num_seeds": 3, "transformations": "FuncRenameTypo"}):
        task, documents = task_documents("recode-funcname", layout, **options)
        given = task.from_file(file, documents, documents, "f")
        expected = {d["doc_id"]: p for d, p in zip(full_documents, predictions_for(full_documents))}
        assert given == [[] if d["perturbation_name"] == "nominal" else expected[d["doc_id"]] for d in documents]


def test_generations_file_errors_name_the_file_and_the_fix(layout):
    task, documents = task_documents("recode-funcname", layout, num_seeds=3)
    predictions = predictions_for(documents)
    keyed = task.to_file(documents, predictions)
    with pytest.raises(ValueError, match=r"f\.json: no generations for 1 of the 15 selected recode-funcname prompts "
                                         r"\(e\.g\. HumanEval/2 FuncRenameTypo seed 2\)"):
        task.from_file(keyed[:-1], documents, documents, "f.json")
    with pytest.raises(ValueError, match=r"1 records match no recode-funcname prompt .* \(e\.g\. HumanEval/2 "
                                         r"FuncRenameCamelCase seed 7\)"):
        task.from_file(keyed + [{**keyed[5], "seed": 7}], documents, documents, "f.json")
    with pytest.raises(ValueError, match="record 0 needs task_id, perturbation_name, seed and generations"):
        task.from_file([{"task_id": "HumanEval/0"}], documents, documents, "f.json")
    harness = harness_file(documents, predictions, range(len(documents) - 3))
    with pytest.raises(ValueError, match=r"12 entries, but no generations for 1 of the selected"):
        task.from_file(harness[:-1] + [harness[0]], documents, documents, "f.json")
    with pytest.raises(ValueError, match="entry 0 begins with no ReCode prompt"):
        task.from_file([["def other():\n    pass"]] + harness[1:], documents, documents, "f.json")
    with pytest.raises(ValueError, match="not a mixture"):
        task.from_file([keyed[0], ["x"]], documents, documents, "f.json")


def test_eval_cli_scores_saved_generations_without_a_model(layout, tmp_path):
    task, documents = task_documents("recode-funcname", layout, num_seeds=3)
    path = tmp_path / "keyed.json"
    path.write_text(json.dumps(task.to_file(documents, predictions_for(documents))))
    output = tmp_path / "out"
    result = runner.invoke(app, ["eval", "--tasks", "recode-funcname", "--generations", str(path), "--num-seeds", "3",
                                 "--data-dir", str(layout), "--output", str(output), "--quiet", "--workers", "2"])
    assert result.exit_code == 0, result.output
    entry = json.loads((output / "results.json").read_text())["tasks"]["recode-funcname"]
    assert entry["metrics"] == pytest.approx(EXPECTED) and entry["primary_metric"] == "RP@1"
    assert entry["task_settings"] == {"protocol": "astraios", "prompt_style": "completion", "num_seeds": 3,
                                      "transformations": None, "timeout_s": 10.0, "nominal": "HumanEval",
                                      "budget": "--max-new-tokens new tokens"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(task.to_file(documents, predictions_for(documents))[:-2]))
    result = runner.invoke(app, ["eval", "--tasks", "recode-funcname", "--generations", str(bad), "--num-seeds", "3",
                                 "--data-dir", str(layout), "--output", str(tmp_path / "out2"), "--quiet"])
    assert result.exit_code == 1 and "error:" in result.output and "Traceback" not in result.output
    assert f"--generations {bad}: no generations for 2 of the 15" in " ".join(result.output.split())
    assert not (tmp_path / "out2" / "results.json").exists()


def write_hub_fixture(directory):
    """The Hub's files, as `hf_hub_download` would return them: the category's Parquet export (with
    `perturbation_name` and `seed` columns, the Hub's order) and openai_humaneval's Parquet."""
    from recode_fixtures import PARTIAL_SPLIT

    rows = []
    for seed in (1, 0):
        for problem in PROBLEMS:
            lines = problem["canonical_solution"].split("\n")
            cut = PARTIAL_SPLIT[problem["task_id"]]
            marked = problem["prompt"] + "".join(line + "\n" for line in lines[:cut]) + (
                f"    {recode_data.SPLIT_MARKER}\n" + "\n".join(lines[cut:]) if cut else "")
            half = partial(problem)
            rows.append({"task_id": problem["task_id"], "prompt": half["prompt"].replace("    ", "\t"),
                         "entry_point": problem["entry_point"], "canonical_solution": half["canonical_solution"],
                         "test": problem["test"], "seed": seed, "perturbation_name": "humaneval_tab_indent",
                         "partial": marked if cut else None})
    files = {"format/test/0000.parquet": rows, "openai_humaneval/test-00000-of-00001.parquet": PROBLEMS}
    for name, table in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pyarrow.parquet.write_table(pyarrow.Table.from_pylist(table), path)
    return directory


def test_hub_loader_reads_the_parquet_export(tmp_path, monkeypatch):
    hub = write_hub_fixture(tmp_path / "hub")
    asked = []

    def fake_download(repo_id, filename, revision=None, repo_type=None):
        asked.append((repo_id, filename, revision, repo_type))
        return str(hub / filename)

    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setattr("huggingface_hub.hf_hub_download", fake_download)
    task = tasks.get("recode-format", num_seeds=2)
    documents = task.documents(None)
    assert asked == [("RaymondLi/perturbed_humaneval", "format/test/0000.parquet", "refs/convert/parquet", "dataset"),
                     ("openai/openai_humaneval", "openai_humaneval/test-00000-of-00001.parquet", None, "dataset")]
    nominal = [d for d in documents if d["perturbation_name"] == "nominal"]
    assert [(d["prompt"], d["canonical_solution"]) for d in nominal] == [
        (partial(p)["prompt"], partial(p)["canonical_solution"]) for p in PROBLEMS]
    variants = [d for d in documents if d["perturbation_name"] != "nominal"]
    assert [(d["perturbation_name"], d["seed"]) for d in variants] == [("tab_indent", 1)] * 3 + [("tab_indent", 0)] * 3
    # The Hub's order is kept, so a harness file in that order aligns by position.
    programs = [[canonical_program(d)] for d in variants]
    assert task.from_file(programs, documents, documents, "f")[3:] == programs

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr("huggingface_hub.hf_hub_download", offline)
    with pytest.raises(DataNotFoundError, match=r"RaymondLi/perturbed_humaneval \(format\) failed: OSError: no network"):
        tasks.get("recode-format").documents(None)


def test_tasks_are_registered_with_their_options():
    assert {"recode-docstring", "recode-funcname", "recode-syntax", "recode-format", "recode-nominal"} <= set(tasks.names())
    task = tasks.get("recode-syntax", num_seeds=2, transformations="A,B", prompt_style="octocoder", timeout_s=3,
                     scoring="loglik", seed=1)
    assert (task.num_seeds, task.transformations, task.prompt_style, task.timeout_s) == (2, ["A", "B"], "octocoder", 3)
    assert tasks.get("recode-nominal").primary_metric == "pass@1" and task.primary_metric == "RP@1"


def test_recode_nominal_scores_pass_at_k(layout):
    task, documents = task_documents("recode-nominal", layout)
    assert [d["doc_id"] for d in documents] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    predictions = [[canonical_program({**d, "nominal_entry_point": d["entry_point"]}), "def x(): pass"]
                   for d in documents]
    score = task.score(documents, predictions, workers=2, progress=False)
    assert score.metrics == pytest.approx({"pass@1": 0.5})
