"""`--protocol study` for Devign and BigCloneBench: the options it fixes, its exact prompts (checked
against the study's own raw_text), its 512-token window, float32, the notebook's parser, and
parity with the study's scoring notebook on the study's own generation files, recomputed here
from the notebook's code (datasets + sklearn), independently of astraios."""

from __future__ import annotations

import gzip
import json
import random

import pytest
from test_understanding import (
    AnswerStub,
    Devign,
    devign_records,
    harness_sampling,
    says_defective,
    tiny_tokenizer,
    write_codexglue_bigclonebench,
)
from typer.testing import CliRunner

from astraios import tasks
from astraios.cli import app
from astraios.evaluation import EvalConfig, evaluate
from astraios.core.io import write_jsonl
from astraios.tasks.codexglue import BigCloneBench, StudyWindow, load_devign, paper_answer, study_sample

runner = CliRunner()
STUDY_FILES = ["defect_detection/generations-defectdetection-starcoderbase-15b-ia3.json.gz",
               "defect_detection/generations-defectdetection-starcoderbase-15b-ptuning.json.gz",
               "defect_detection/generations-defectdetection-starcoderbase-1b-fft.json.gz",
               "defect_detection/generations-defectdetection-starcoderbase-1b-lora.json.gz",
               "defect_detection_ablation/defect_generations_15b-fft_os.json.gz"]


def study_file(data_dir, name):
    path = data_dir / "astraios_outputs" / name
    if not path.is_file():
        pytest.skip(f"the study's file {name} is not in {data_dir / 'astraios_outputs'}")
    return path


def read_study_file(path):
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


# ----------------------------------------------------------------------------------------------
# The notebook's numbers, recomputed from its own code (evaluation/eval_code_comprehension.ipynb)


def notebook_contains_keyword(sentence, keywords):
    return any(keyword.lower() in sentence.lower() for keyword in keywords)


def notebook_paper_method(raw_texts, positive_kw, negative_kw):
    predictions = []
    for text in raw_texts:
        short_ans = text.lower().replace(",", ".").split(".")[0]
        if "yes" in short_ans and "no" not in short_ans:
            predictions.append("1")
        elif "no" in short_ans and "yes" not in short_ans:
            predictions.append("0")
        elif notebook_contains_keyword(text, positive_kw):
            predictions.append("1")
        elif notebook_contains_keyword(text, negative_kw):
            predictions.append("0")
        else:
            predictions.append("-1")
    return predictions


def notebook_scores(path):
    """(sampled IDs in order, predictions, accuracy, macro F1) as the notebook's Devign cells compute
    them: `sampling(dataset, "true_label", 919, 1081)`, `paper_method` with the Devign key phrases,
    and `evaluate`'s accuracy and macro F1 (sklearn on the labels cast to int)."""
    import pandas as pd
    from datasets import Dataset, disable_progress_bars
    from sklearn.metrics import accuracy_score, f1_score

    disable_progress_bars()
    data = [content[0] for content in read_study_file(path)]
    dataset = Dataset.from_pandas(pd.DataFrame(data=data))
    # The notebook's filter also accepts the string labels its files hold.
    sampled = harness_sampling(dataset.map(lambda example: {"label": int(example["true_label"])}), "label", 919, 1081)
    labels = [int(label) for label in sampled["true_label"]]
    raw_texts = [text.split("\nAnswer:")[-1] for text in sampled["raw_text"]]
    predictions = [int(p) for p in notebook_paper_method(raw_texts, ["there is a", "ere is a", "has a defect",
                                                                     "contains a defect"], ["there is no defect"])]
    return (list(sampled["ID"]), predictions, accuracy_score(labels, predictions),
            f1_score(labels, predictions, average="macro"))


@pytest.mark.parametrize("name", STUDY_FILES)
def test_study_files_score_as_the_notebook(tmp_path, data_dir, name):
    path = study_file(data_dir, name)
    ids, predictions, accuracy, macro_f1 = notebook_scores(path)
    shots = 1 if "_os" in name else 0
    config = EvalConfig(tasks=["devign"], output_dir=tmp_path / "out", data_dir=str(data_dir),
                        generations={"devign": str(path)}, task_options={"protocol": "study", "shots": shots})
    entry = evaluate(config, progress=False)["tasks"]["devign"]
    assert [item["index"] for item in entry["per_document"]] == ids  # the same 2,000 IDs, in the same order
    assert len(ids) == 2000 and len(set(ids)) == 2000
    split_ids = sorted(int(word) for word in (data_dir / "devign" / "split_test.txt").read_text().split())
    assert entry["details"]["sample_ids"] == [str(split_ids[position]) for position in ids]
    assert [item["prediction"] if item["prediction"] is not None else -1 for item in entry["per_document"]] == predictions
    assert entry["metrics"]["accuracy"] == pytest.approx(accuracy, rel=1e-12)
    assert entry["metrics"]["f1_macro_study"] == pytest.approx(macro_f1, rel=1e-12)
    assert entry["primary_metric"] == "accuracy" and entry["task_settings"]["protocol"] == "study"
    assert "labels_from" in entry["task_settings"] and "partial_data" not in entry["task_settings"]


def test_cli_prints_the_notebooks_figures(tmp_path, data_dir):
    """The issue's acceptance line: the notebook's table shows 23.7 accuracy and 17.04 macro F1 for
    15B (IA)3 (its cell rounds to 2 decimals)."""
    path = study_file(data_dir, STUDY_FILES[0])
    result = runner.invoke(app, ["eval", "--tasks", "devign", "--protocol", "study", "--generations", str(path),
                                 "--data-dir", str(data_dir), "--output", str(tmp_path / "out"), "--quiet"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "devign" in line)
    assert "0.2370" in row and "0.1704" in row  # accuracy, f1_macro_study


def test_a_file_for_another_split_is_refused(tmp_path, data_dir):
    lists = read_study_file(study_file(data_dir, STUDY_FILES[2]))
    lists[0][0]["true_label"] = "1" if lists[0][0]["true_label"] == "0" else "0"  # position 0 is in the local sample
    path = tmp_path / "altered.json"
    path.write_text(json.dumps(lists))
    config = EvalConfig(tasks=["devign"], output_dir=tmp_path / "out", data_dir=str(data_dir),
                        generations={"devign": str(path)}, task_options={"protocol": "study"})
    with pytest.raises(ValueError, match=r"true_label disagrees with .* \(first: ID 0\).*Fix"):
        evaluate(config, progress=False)


# ----------------------------------------------------------------------------------------------
# The study's exact prompts, against the raw_text of its own files


@pytest.mark.parametrize(("name", "shots"), [(STUDY_FILES[2], 0), (STUDY_FILES[4], 1)])
def test_study_prompts_equal_the_studys_raw_text(data_dir, name, shots):
    lists = read_study_file(study_file(data_dir, name))
    task = tasks.get("devign", protocol="study", shots=shots)
    documents = task.documents(data_dir)  # the real sample: positions 0-9 of the split
    whole = 0
    for document in documents:
        raw_text = lists[document["index"]][0]["raw_text"]
        prompt = task.prompt(document)
        if raw_text.startswith(prompt[:40]):  # prompts under 512 tokens reach the model whole
            assert raw_text.startswith(prompt) and raw_text[len(prompt):].count("\nAnswer:") == 0
            whole += 1
        else:  # longer ones lost their beginning: the text ends the same way
            assert prompt.endswith(raw_text.split("\nAnswer:")[0] + "\nAnswer:")
    assert whole >= 4


def test_plain_one_shot_keeps_the_c_escapes_and_the_study_has_them_interpreted():
    plain = tasks.get("devign", shots=1).prompt({"func": "int f();"})
    study = tasks.get("devign", protocol="study", shots=1).prompt({"func": "int f();"})
    assert '"bound.w\\t%1, %0\\n"' in plain and '"bound.w\t%1, %0\n"' in study
    assert study.startswith(" Question: static inline int cris_bound_w(") and study.count("Question:") == 2
    assert study.endswith("YES\n\n" + " " * 22 + "Question: int f();\nIs there a defect in the Code, and respond to YES "
                          "or NO.\n\nAnswer:")


# ----------------------------------------------------------------------------------------------
# Options the protocol fixes


@pytest.mark.parametrize(("options", "message"), [
    ({"scoring": "loglik"}, "--scoring loglik would change it. Fix: drop it"),
    ({"balance": "natural", "wording": "plain"}, "--wording plain, --balance natural would change it"),
    ({"seed": 1}, "--seed 1 would change it"),
])
def test_study_refuses_options_that_change_it(options, message):
    with pytest.raises(ValueError, match=message):
        tasks.get("devign", protocol="study", **options)


def test_study_protocol_settings_and_metrics():
    consistent = tasks.get("devign", protocol="study", scoring="generate", balance="as-study", wording="study")
    assert (consistent.scoring, consistent.balance, consistent.wording) == ("generate", "as-study", "study")
    assert consistent.required_dtype == "float32" and tasks.get("devign").required_dtype is None
    assert tasks.get("bigclonebench", protocol="study").primary_metric == "f1_macro_study"
    assert tasks.get("bigclonebench").primary_metric == "f1_positive"
    with pytest.raises(ValueError, match="one-shot exemplar for bigclonebench, which is in no file"):
        tasks.get("bigclonebench", protocol="study", shots=1)
    with pytest.raises(ValueError, match="--protocol studdy: expected one of astraios, study"):
        tasks.get("devign", protocol="studdy")


def test_cli_names_the_conflict_in_one_line(tmp_path):
    result = runner.invoke(app, ["eval", "--tasks", "devign", "--protocol", "study", "--scoring", "loglik",
                                 "--generations", "x.json", "--output", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "--scoring loglik would change it" in " ".join(result.output.split())


@pytest.mark.parametrize(("text", "expected"), [
    (" YES", 1), (" No, the code is correct.", 0), (" Yes, there is a defect", 1),
    (" I do not know", 0),  # "no" inside "not"/"know": the notebook's substring test
    (" Yesterday it worked", 1), (" The answer: yes or no", None), ("", None), ("<|endoftext|>", None),
    (" The function has a defect in it", 1), (" Maybe. There is no defect here", 0),
])
def test_paper_answer_follows_the_notebook(text, expected):
    keywords = (("there is a", "ere is a", "has a defect", "contains a defect"), ("there is no defect",))
    notebook = notebook_paper_method([text], *keywords)[0]
    assert paper_answer(text, keywords) == expected == (None if notebook == "-1" else int(notebook))


# ----------------------------------------------------------------------------------------------
# The 512-token window, with a real tokenizer and model


def test_study_window_cuts_from_the_left_and_leaves_the_rest_to_the_answer():
    tokenizer = tiny_tokenizer()
    window = StudyWindow(tokenizer, window=64)
    short = "Question: int f();\nIs there a defect in the Code, and respond to YES or NO.\n\nAnswer:"
    assert window.fit(short) == (short, False, 64 - len(tokenizer(short)["input_ids"]))
    long = "Question: " + "x = x * 3 + 1;\n" * 40 + "Is there a defect in the Code, and respond to YES or NO.\n\nAnswer:"
    prompt, cut, budget = window.fit(long)
    assert cut and budget == 1 and long.endswith(prompt)
    assert 60 <= len(tokenizer(prompt)["input_ids"]) <= 64
    assert window.cut_answer(" No, the code is correct and safe.", 2) == tokenizer.decode(
        tokenizer(" No, the code is correct and safe.", add_special_tokens=False)["input_ids"][:2])


class WindowStub(AnswerStub):
    """An answering stub with a tokenizer, that records each generate call's token budget."""

    def __init__(self, decide, text_for_budget):
        super().__init__(decide)
        self.tokenizer = tiny_tokenizer()
        self.budgets = []
        self.text_for_budget = text_for_budget

    def generate(self, prompts, n=1, temperature=0.2, top_p=0.95, max_new_tokens=512, stop=(), stop_when=None):
        self.budgets.append(max_new_tokens)
        self.generated.extend(prompts)
        return [[self.text_for_budget(prompt)] * n for prompt in prompts]


def test_study_predictions_use_the_window_and_cut_each_answer_to_its_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(Devign, "stages", ((4, 6),))  # the study's draw, scaled to the fixture
    records = devign_records(40)
    first = study_sample([record["target"] for record in records], [(4, 6)])[0]
    records[first]["func"] = "int big(char *src) {\n" + "    x = x * 3 + 1;\n" * 300 + "    strcpy(buf, src);\n}"
    write_jsonl(tmp_path / "data" / "devign" / "test.jsonl", records)
    yes = " Yes, there is a defect."
    stub = WindowStub(says_defective, lambda prompt: yes if "strcpy" in prompt else " No.")
    config = EvalConfig(tasks=["devign"], output_dir=tmp_path / "out", data_dir=str(tmp_path / "data"),
                        task_options={"protocol": "study"})
    entry = evaluate(config, backend=stub, progress=False)["tasks"]["devign"]
    assert entry["num_documents"] == 10 and entry["request"]["sampling"] is None
    assert [item["truncated"] for item in entry["per_document"]] == [True] + [False] * 9
    assert entry["details"]["truncated_prompts"] == 1
    for prompt in stub.generated:
        assert len(stub.tokenizer(prompt)["input_ids"]) <= 512
        assert prompt.endswith("Is there a defect in the Code, and respond to YES or NO.\n\nAnswer:")
    # The cut prompt filled the window: one answer token, as transformers gives the harness.
    one_token = stub.tokenizer.decode(stub.tokenizer(yes, add_special_tokens=False)["input_ids"][:1])
    assert entry["per_document"][0]["answer"] == one_token != yes
    assert {item["answer"] for item in entry["per_document"][1:]} <= {yes, " No."}


def test_study_protocol_loads_the_model_in_float32(tmp_path, monkeypatch):
    monkeypatch.setattr(Devign, "stages", ((2, 3),))
    # Functions past the window: every prompt is cut and answered with one token (a random model
    # never writes the newline that would end a longer answer, so this keeps the test fast).
    records = [{**record, "func": record["func"] + "\n/* padding */" * 300} for record in devign_records(10)]
    write_jsonl(tmp_path / "data" / "devign" / "test.jsonl", records)
    config = EvalConfig(tasks=["devign"], output_dir=tmp_path / "out", model="tiny-gptbigcode-xs",
                        data_dir=str(tmp_path / "data"), task_options={"protocol": "study"})
    results = evaluate(config, progress=False)
    assert results["generation"]["dtype"] == "float32" and results["settings"]["dtype"] == "float32"
    entry = results["tasks"]["devign"]
    assert entry["num_documents"] == 5 and entry["details"]["truncated_prompts"] == 5
    tokenizer = tiny_tokenizer()
    assert all(len(tokenizer(item["answer"], add_special_tokens=False)["input_ids"]) <= 1
               for item in entry["per_document"])
    contradicting = EvalConfig(tasks=["devign"], output_dir=tmp_path / "out2", model="tiny-gptbigcode-xs",
                               data_dir=str(tmp_path / "data"), dtype="bfloat16", task_options={"protocol": "study"})
    with pytest.raises(ValueError, match=r"--dtype bfloat16: devign --protocol study evaluates in float32.*Fix"):
        evaluate(contradicting, progress=False)


# ----------------------------------------------------------------------------------------------
# BigCloneBench: the harness's files hold its first-stage sample


def test_bigclonebench_harness_file_of_the_first_stage(tmp_path, monkeypatch):
    """The harness wrote one record per pair of its first-stage sample (the study's 2,726), in that
    sample's order; the notebook drew the scored 2,000 from it. Scaled down: 6 + 14 then 3 + 10."""
    pytest.importorskip("datasets")
    from datasets import Dataset, disable_progress_bars
    from sklearn.metrics import accuracy_score, f1_score

    disable_progress_bars()
    monkeypatch.setattr(BigCloneBench, "stages", ((6, 14), (3, 10)))
    write_codexglue_bigclonebench(tmp_path)
    documents = tasks.get("bigclonebench").documents(tmp_path)
    labels = [document["label"] for document in documents]
    split = Dataset.from_dict({"position": list(range(len(labels))), "label": labels})
    first = harness_sampling(split, "label", 6, 14)  # the harness's stage, then its generations
    rng = random.Random(3)
    answers = [rng.choice([" Yes", " No", " There is no clone", " Hmm"]) for _ in range(len(first))]
    harness = [[{"ID": i, "prediction": "-1", "true_label": str(label), "raw_text": f"...\nAnswer:{answer}\n"}]
               for i, (label, answer) in enumerate(zip(first["label"], answers))]
    path = tmp_path / "generations-clonedetection.json"
    path.write_text(json.dumps(harness))
    # The notebook: its sampling over the harness file's records, paper_method, sklearn.
    records = Dataset.from_dict({"ID": list(range(len(first))), "label": list(first["label"]),
                                 "raw_text": [record[0]["raw_text"] for record in harness]})
    second = harness_sampling(records, "label", 3, 10)
    expected = [int(p) for p in notebook_paper_method([t.split("\nAnswer:")[-1] for t in second["raw_text"]],
                                                     ["there is a", "ere is a"], ["there is no"])]
    config = EvalConfig(tasks=["bigclonebench"], output_dir=tmp_path / "out", data_dir=str(tmp_path),
                        generations={"bigclonebench": str(path)}, task_options={"protocol": "study"})
    entry = evaluate(config, progress=False)["tasks"]["bigclonebench"]
    assert [item["index"] for item in entry["per_document"]] == [first["position"][i] for i in second["ID"]]
    assert [-1 if item["prediction"] is None else item["prediction"] for item in entry["per_document"]] == expected
    assert entry["primary_metric"] == "f1_macro_study"
    assert entry["metrics"]["f1_macro_study"] == pytest.approx(f1_score(second["label"], expected, average="macro"),
                                                               rel=1e-12)
    assert entry["metrics"]["accuracy"] == pytest.approx(accuracy_score(second["label"], expected), rel=1e-12)


def test_real_devign_sample_loads_with_its_split_ids(data_dir):
    split = load_devign(data_dir)
    if split.ids is None:
        pytest.skip("no devign split ids in the data directory")
    assert len(split.ids) == split.split_size == 2732
    assert [split.ids[document["index"]] for document in split.documents] == [d["doc_id"] for d in split.documents]
