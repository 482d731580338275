"""Code understanding tasks (Devign, BigCloneBench): metrics, answer parsing, sampling (the study's
exact procedure included), prompts and truncation, both scoring modes on stub backends, the
one-pass log-likelihood backend method, loaders for every supported layout, errors, saved
generations (ours and the study harness's), and the real Devign sample."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest
from typer.testing import CliRunner

from astraios import tasks
from astraios.cli import app
from astraios.evaluation import EvalConfig, evaluate
from astraios.generate import GenerationCache, Sampling
from astraios.generate.base import loglikelihood_pairwise
from astraios.core.io import write_jsonl
from conftest import float32_approx
from astraios.metrics import classification_metrics, confusion_matrix
from astraios.tasks.codexglue import (
    DEVIGN_EXEMPLAR,
    Devign,
    PromptFitter,
    load_bigclonebench,
    load_devign,
    parse_answer,
    stratified_counts,
    study_sample,
)
from astraios.tasks.data import DataNotFoundError

runner = CliRunner()
DEFECT_TERMS = tasks.get("devign").subject
CLONE_TERMS = tasks.get("bigclonebench").subject


# ----------------------------------------------------------------------------------------------
# Fixtures: small datasets in the real layouts


def devign_records(count: int = 40, positive_every: int = 5) -> list[dict]:
    """CodeXGLUE Devign records; every `positive_every`-th function is defective (it calls strcpy)."""
    records = []
    for idx in range(count):
        defective = idx % positive_every == 0
        body = "strcpy(buf, src);" if defective else f"return x + {idx};"
        records.append({"project": "qemu", "commit_id": f"c{idx}", "target": int(defective),
                        "func": f"int f{idx}(int x, char *src) {{\n    char buf[8];\n    {body}\n}}", "idx": idx * 3})
    return records


@pytest.fixture
def devign_dir(tmp_path):
    write_jsonl(tmp_path / "devign" / "test.jsonl", devign_records())
    return tmp_path


BCB_FUNCTIONS = {str(1000 + i): f"public int work{i}(int x) {{\n    return x * {i % 4};\n}}" for i in range(12)}
# Pairs of functions with the same multiplier are clones (label 1).
BCB_PAIRS = [(a, b, int(int(a) % 4 == int(b) % 4)) for a in list(BCB_FUNCTIONS)[:6] for b in list(BCB_FUNCTIONS)[6:]]


def write_codexglue_bigclonebench(directory) -> None:
    folder = directory / "bigclonebench"
    write_jsonl(folder / "data.jsonl", [{"func": text, "idx": idx} for idx, text in BCB_FUNCTIONS.items()])
    (folder / "test.txt").write_text("".join(f"{a}\t{b}\t{label}\n" for a, b, label in BCB_PAIRS), encoding="utf-8")


def hub_bigclonebench_rows() -> list[dict]:
    return [{"id": number, "id1": int(a), "id2": int(b), "func1": BCB_FUNCTIONS[a], "func2": BCB_FUNCTIONS[b],
             "label": bool(label)} for number, (a, b, label) in enumerate(BCB_PAIRS)]


@pytest.fixture
def clone_dir(tmp_path):
    write_codexglue_bigclonebench(tmp_path)
    return tmp_path


class AnswerStub:
    """A backend that knows the answer: `decide(prompt) -> bool` (YES?). Generation says it in
    words (`yes_text` / `no_text`); log-likelihoods favour the matching answer's variants."""

    name = "answer-stub"
    rows_per_call = 8

    def __init__(self, decide, yes_text=" YES", no_text=" NO"):
        self.decide = decide
        self.yes_text, self.no_text = yes_text, no_text
        self.generated: list[str] = []
        self.scored: list[str] = []

    def generate(self, prompts, n=1, temperature=0.2, top_p=0.95, max_new_tokens=512, stop=(), stop_when=None, seeds=None):
        self.generated.extend(prompts)
        return [[self.yes_text if self.decide(prompt) else self.no_text] * n for prompt in prompts]

    def loglikelihood(self, requests):
        self.scored.extend(context for context, _ in requests)
        favoured = {True: ("YES", "Yes", "yes"), False: ("NO", "No", "no")}
        return [-0.5 if continuation.strip() in favoured[self.decide(context)] else -3.0
                for context, continuation in requests]

    def describe(self):
        return {"backend": self.name}


def last_question(prompt: str) -> str:
    return prompt.rsplit("Question:", 1)[-1]


def says_defective(prompt: str) -> bool:
    return "strcpy" in last_question(prompt)


def run_eval(tmp_path, data, task, backend, **options):
    config = EvalConfig(tasks=[task], output_dir=tmp_path / "out", data_dir=str(data), task_options=options,
                        limit=options.pop("limit", None))
    return evaluate(config, backend=backend, progress=False)["tasks"][task]


# ----------------------------------------------------------------------------------------------
# Metrics


def independent_metrics(labels, predictions):
    """Accuracy, precision, recall, F1 from boolean masks, invalid answers counting as wrong; the
    study's macro F1 from sklearn, invalid answers as the label -1."""
    from sklearn.metrics import f1_score

    y = np.array(labels)
    valid = np.array([p is not None for p in predictions])
    p = np.array([(1 - label) if prediction is None else prediction for label, prediction in zip(labels, predictions)])
    tp, fp, fn = np.sum((p == 1) & (y == 1)), np.sum((p == 1) & (y == 0)), np.sum((p == 0) & (y == 1))
    return {"accuracy": float(np.mean(p == y)),
            "precision": float(tp / (tp + fp)) if tp + fp else 0.0,
            "recall": float(tp / (tp + fn)) if tp + fn else 0.0,
            "f1_positive": float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0,
            "f1_macro_study": float(f1_score(labels, [-1 if q is None else q for q in predictions], average="macro",
                                             zero_division=0)),
            "invalid_rate": float(np.mean(~valid))}


@pytest.mark.parametrize("predictions", [
    [1, 0, 1, 1, 0, 0, 1, 0, 1, 1],
    [1] * 10,  # always YES: recall 1, precision = the positive rate
    [0] * 10,  # always NO: no positive predictions, precision/recall/F1 0
    [None, 1, None, 0, 1, 1, None, 0, 0, 1],
    [None] * 10,
])
def test_metrics_equal_an_independent_computation(predictions):
    labels = [1, 1, 0, 1, 0, 0, 1, 0, 0, 1]
    assert classification_metrics(labels, predictions) == pytest.approx(independent_metrics(labels, predictions))
    matrix = confusion_matrix(labels, predictions)
    assert matrix["tp"] + matrix["fp"] + matrix["tn"] + matrix["fn"] == len(labels)


def test_always_yes_and_always_no_edge_cases_by_hand():
    labels = [1, 0, 0, 0, 1]
    yes = classification_metrics(labels, [1] * 5)
    assert (yes["accuracy"], yes["precision"], yes["recall"]) == (pytest.approx(0.4), pytest.approx(0.4), 1.0)
    assert yes["f1_positive"] == pytest.approx(2 * 0.4 / 1.4)
    assert yes["f1_macro_study"] == pytest.approx((2 * 0.4 / 1.4 + 0) / 2)  # labels 0 and 1 occur; F1 of 0 is 0
    no = classification_metrics(labels, [0] * 5)
    assert (no["accuracy"], no["precision"], no["recall"], no["f1_positive"]) == (pytest.approx(0.6), 0.0, 0.0, 0.0)
    assert no["f1_macro_study"] == pytest.approx((0 + 2 * 3 / (2 * 3 + 2)) / 2)  # F1 of NO: tp 3, fp 2, fn 0


# ----------------------------------------------------------------------------------------------
# Parsing free answers


@pytest.mark.parametrize(("text", "terms", "expected"), [
    (" YES", DEFECT_TERMS, 1),
    (" NO", DEFECT_TERMS, 0),
    (" Yes, the code is correct. The defect is in the documentation.", DEFECT_TERMS, 1),
    ("yes", DEFECT_TERMS, 1),
    (" No.", DEFECT_TERMS, 0),
    (" **Yes**", DEFECT_TERMS, 1),
    ('"NO"', DEFECT_TERMS, 0),
    (" true", DEFECT_TERMS, 1),
    (" False", DEFECT_TERMS, 0),
    (" Y", DEFECT_TERMS, 1),
    (" n", DEFECT_TERMS, 0),
    ("\n\n Yes", DEFECT_TERMS, 1),
    (" There is a defect in the code.", DEFECT_TERMS, 1),
    (" There is no defect.", DEFECT_TERMS, 0),
    (" The function has a bug: buf overflows", DEFECT_TERMS, 1),
    (" The code isn't vulnerable", DEFECT_TERMS, 0),
    (" The code is not defective", DEFECT_TERMS, 0),
    (" The code doesn\u2019t contain any bugs", DEFECT_TERMS, 0),
    (" It is defect-free.", DEFECT_TERMS, 0),
    (" This code shouldn't have a defect", DEFECT_TERMS, 0),
    (" A significant defect exists", DEFECT_TERMS, 1),  # "significant" is no negation
    (" The answer is YES.", DEFECT_TERMS, 1),
    (" I think the answer is no", DEFECT_TERMS, 0),
    (" I cannot tell", DEFECT_TERMS, None),
    (" N/A", DEFECT_TERMS, None),
    (" yes or no", DEFECT_TERMS, 1),  # the leading word decides
    (" maybe yes, maybe no", DEFECT_TERMS, None),  # both sides, no leading answer
    ("", DEFECT_TERMS, None),
    ("   ", DEFECT_TERMS, None),
    (" The code is fine. There is a defect", DEFECT_TERMS, None),  # only the first sentence counts
    (" They are clones of each other.", CLONE_TERMS, 1),
    (" They are not clones.", CLONE_TERMS, 0),
    (" The two functions are semantically equivalent", CLONE_TERMS, 1),
    (" These functions do different things", CLONE_TERMS, None),
    (" No clone relation", CLONE_TERMS, 0),
])
def test_parse_answer(text, terms, expected):
    assert parse_answer(text, terms) == expected


# ----------------------------------------------------------------------------------------------
# Sampling


def test_stratified_counts_keep_the_label_ratio():
    assert stratified_counts(2000, 1255, 1477) == (919, 1081)  # 2,732 test functions: the study's 919/1,081
    assert stratified_counts(10, 3, 7) == (3, 7)
    assert stratified_counts(5, 1, 99) == (0, 5)  # 0.05 rounds down
    assert stratified_counts(8, 10, 30) == (2, 6)
    assert stratified_counts(6, 1, 20) == (0, 6)
    assert stratified_counts(6, 10, 2) == (5, 1)
    assert stratified_counts(12, 10, 2) == (10, 2)
    for size in range(0, 31):
        positives, negatives = stratified_counts(size, 7, 23)
        assert 0 <= positives <= 7 and 0 <= negatives <= 23 and positives + negatives == size
        assert abs(positives - size * 7 / 30) <= 0.5


@pytest.mark.parametrize("balance", ["natural", "uniform"])
def test_sampling_is_reproducible_for_a_seed_and_differs_across_seeds(devign_dir, balance):
    def sample(seed):
        task = tasks.get("devign", balance=balance, seed=seed)
        return [document["doc_id"] for document in task.select(task.documents(devign_dir), 15)]

    assert sample(3) == sample(3)
    assert sample(3) != sample(4)
    assert len(set(sample(3))) == 15


def test_natural_sampling_is_stratified_and_in_dataset_order(devign_dir):
    task = tasks.get("devign", seed=11)
    documents = task.documents(devign_dir)  # 40 functions, 8 defective (20%)
    chosen = task.select(documents, 15)
    assert sum(document["label"] for document in chosen) == 3  # 20% of 15
    assert [document["index"] for document in chosen] == sorted(document["index"] for document in chosen)
    assert task.sample["positives"] == 3 and task.sample["negatives"] == 12
    assert task.sample["population"] == {"documents": 40, "positives": 8, "split_size": 40, "complete": True}
    assert len(task.select(documents, None)) == 40  # the default 2,000 exceeds the split: all of it


def harness_sampling(dataset, target, positives, negatives, seed=0):
    """The study's sampling function (harness and notebook), with the `datasets` library."""
    from datasets import concatenate_datasets

    random.seed(seed)
    negative = dataset.filter(lambda example: example[target] == 0)
    positive = dataset.filter(lambda example: example[target] == 1)
    negative_indices = random.sample(range(0, len(negative)), negatives)
    positive_indices = random.sample(range(0, len(positive)), positives)
    return concatenate_datasets([negative.select(negative_indices), positive.select(positive_indices)]).shuffle(seed=seed)


def test_study_sample_equals_the_studys_procedure_on_datasets():
    pytest.importorskip("datasets")
    from datasets import Dataset, disable_progress_bars

    disable_progress_bars()
    rng = random.Random(5)
    labels = [int(rng.random() < 0.3) for _ in range(400)]
    dataset = Dataset.from_dict({"position": list(range(400)), "label": labels})
    # Devign: one stage; BigCloneBench: the harness's stage, then the notebook's on its output.
    devign_like = harness_sampling(dataset, "label", 40, 60)
    assert study_sample(labels, [(40, 60)]) == devign_like["position"]
    first = harness_sampling(dataset, "label", 50, 120)
    second = harness_sampling(first, "label", 14, 120)
    assert study_sample(labels, [(50, 120), (14, 120)]) == second["position"]
    assert study_sample(labels, [(50, 120), (14, 120)], seed=1) != second["position"]


def test_as_study_needs_the_complete_split(devign_dir):
    task = tasks.get("devign", balance="as-study")
    with pytest.raises(ValueError, match=r"--balance as-study draws 919 positive and 1,081 negative.*Fix"):
        task.select(task.documents(devign_dir), None)


def test_as_study_takes_a_prefix_of_the_study_sample(monkeypatch, devign_dir):
    monkeypatch.setattr(Devign, "stages", ((4, 6),))  # the study's counts, scaled to the fixture
    task = tasks.get("devign", balance="as-study")
    documents = task.documents(devign_dir)
    expected = study_sample([document["label"] for document in documents], [(4, 6)])
    chosen = task.select(documents, None)
    assert [document["index"] for document in chosen] == expected
    assert [document["index"] for document in task.select(documents, 3)] == expected[:3]


# ----------------------------------------------------------------------------------------------
# Prompts and truncation


def test_prompts_in_the_octocoder_form():
    devign, clones = tasks.get("devign"), tasks.get("bigclonebench")
    assert devign.prompt({"func": "int f();"}) == (
        "Question: int f();\nIs there a defect in the code? Answer YES or NO.\n\nAnswer:")
    assert clones.prompt({"func1": "A", "func2": "B"}) == (
        "Question: Code 1:\nA\nCode 2:\nB\nAre Code 1 and Code 2 clones of each other? Answer YES or NO.\n\nAnswer:")
    assert tasks.get("devign", wording="study").prompt({"func": "int f();"}) == (
        "Question: int f();\nIs there a defect in the Code, and respond to YES or NO.\n\nAnswer:")
    assert tasks.get("bigclonebench", wording="study").prompt({"func1": "A", "func2": "B"}) == (
        "Question: Code1: A.\nCode2: B.\nIs there a clone relation between the Code1 and Code2, and respond to YES "
        "or NO.\n\nAnswer:")
    one_shot = tasks.get("devign", shots=1).prompt({"func": "int f();"})
    assert one_shot == (f"Question: {DEVIGN_EXEMPLAR}\nIs there a defect in the code? Answer YES or NO.\n\nAnswer: YES"
                        "\n\nQuestion: int f();\nIs there a defect in the code? Answer YES or NO.\n\nAnswer:")


@pytest.mark.parametrize(("flag", "value"), [("scoring", "vote"), ("shots", 2), ("balance", "even"),
                                              ("wording", "loud")])
def test_invalid_options_name_the_flag(flag, value):
    with pytest.raises(ValueError, match=f"--{flag} {value}: expected one of"):
        tasks.get("devign", **{flag: value})


def tiny_tokenizer():
    from astraios.models import tiny

    return tiny.tokenizer()


def test_fitter_cuts_the_code_and_keeps_the_question():
    tokenizer = tiny_tokenizer()
    task = tasks.get("devign")
    fitter = PromptFitter(tokenizer, context=120, reserve=16)
    short, cut = fitter.fit(task.render, ["int f() { return 1; }"])
    assert not cut and short == task.render(["int f() { return 1; }"])
    code = "int g(int x) {\n" + "    x = x * 3 + 1;\n" * 60 + "    return x;\n}"
    prompt, cut = fitter.fit(task.render, [code])
    assert cut
    assert prompt.endswith("\nIs there a defect in the code? Answer YES or NO.\n\nAnswer:")
    kept = prompt.removeprefix("Question: ").split("\nIs there a defect")[0]
    assert code.startswith(kept) and len(kept) < len(code)
    assert len(tokenizer(prompt)["input_ids"]) <= 120 - 16
    assert len(tokenizer(prompt)["input_ids"]) >= 120 - 16 - 8  # cut no more than needed


def test_fitter_shares_the_room_between_two_functions():
    tokenizer = tiny_tokenizer()
    task = tasks.get("bigclonebench")
    short_code = "int a() { return 1; }"
    long_code = "int b() {\n" + "    step();\n" * 200 + "}"
    prompt, cut = PromptFitter(tokenizer, context=200, reserve=2).fit(task.render, [short_code, long_code])
    assert cut and f"Code 1:\n{short_code}\nCode 2:\n" in prompt  # the short one is kept whole
    assert len(tokenizer(prompt)["input_ids"]) <= 198
    both_long = ["int c() {\n" + "    left();\n" * 200 + "}", long_code]
    prompt, _ = PromptFitter(tokenizer, context=200, reserve=2).fit(task.render, both_long)
    first = prompt.split("Code 1:\n")[1].split("\nCode 2:\n")[0]
    second = prompt.split("\nCode 2:\n")[1].split("\nAre Code 1")[0]
    lengths = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in (first, second)]
    assert abs(lengths[0] - lengths[1]) <= 3


def test_fitter_refuses_a_context_too_small_for_the_question():
    fitter = PromptFitter(tiny_tokenizer(), context=20, reserve=16)
    with pytest.raises(ValueError, match="the question alone takes more than"):
        fitter.fit(tasks.get("devign").render, ["int f() { return 1; }" * 5])


# ----------------------------------------------------------------------------------------------
# Scoring modes through `evaluate`


@pytest.mark.parametrize("scoring", ["loglik", "generate"])
def test_always_yes_scores_the_positive_rate(tmp_path, devign_dir, scoring):
    entry = run_eval(tmp_path, devign_dir, "devign", AnswerStub(lambda prompt: True), scoring=scoring)
    labels = [document["label"] for document in load_devign(devign_dir).documents]
    assert entry["metrics"]["accuracy"] == pytest.approx(sum(labels) / len(labels))  # 0.2
    assert entry["metrics"]["recall"] == 1.0 and entry["metrics"]["invalid_rate"] == 0.0
    assert entry["details"]["confusion_matrix"] == {"tp": 8, "fp": 32, "tn": 0, "fn": 0, "invalid": 0}


@pytest.mark.parametrize("task", ["devign", "bigclonebench"])
def test_loglik_and_generate_agree_on_a_stub(tmp_path, devign_dir, task):
    write_codexglue_bigclonebench(devign_dir)

    def decide(prompt):  # defective, or the same multiplier in both functions
        question = last_question(prompt)
        if task == "devign":
            return says_defective(prompt)
        multipliers = [line for line in question.split("\n") if "return x *" in line]
        return multipliers[0] == multipliers[1]

    stub = AnswerStub(decide, yes_text=" Yes, they match.", no_text=" No, there is nothing.")
    loglik = run_eval(tmp_path / "l", devign_dir, task, stub, scoring="loglik")
    generated = run_eval(tmp_path / "g", devign_dir, task, stub, scoring="generate")
    assert [entry["prediction"] for entry in loglik["per_document"]] == [
        entry["prediction"] for entry in generated["per_document"]]
    assert loglik["metrics"]["accuracy"] == generated["metrics"]["accuracy"] == 1.0
    assert loglik["metrics"]["f1_positive"] == loglik["metrics"]["f1_macro_study"] == 1.0
    assert stub.scored and stub.generated


def test_results_carry_the_sample_ids_settings_and_answers(tmp_path, devign_dir):
    entry = run_eval(tmp_path, devign_dir, "devign", AnswerStub(says_defective), limit=10, seed=2)
    ids = entry["details"]["sample_ids"]
    assert len(ids) == 10 and ids == [document["doc_id"] for document in entry["per_document"]]
    task = tasks.get("devign", seed=2)
    assert ids == [document["doc_id"] for document in task.select(task.documents(devign_dir), 10)]
    assert entry["task_settings"]["scoring"] == "loglik" and entry["task_settings"]["seed"] == 2
    assert entry["primary_metric"] == "accuracy" and entry["n_samples"] == 1
    first = entry["per_document"][0]
    assert {"label", "prediction", "correct", "answer", "yes_logprob", "no_logprob", "truncated"} <= set(first)
    assert entry["details"]["truncated_prompts"] is None  # the stub has no tokenizer


def test_unparseable_answers_count_wrong_and_are_reported(tmp_path, devign_dir):
    stub = AnswerStub(says_defective, yes_text=" Yes", no_text=" Hmm, hard to say")
    entry = run_eval(tmp_path, devign_dir, "devign", stub, scoring="generate")
    assert entry["metrics"]["invalid_rate"] == pytest.approx(32 / 40)
    assert entry["metrics"]["accuracy"] == pytest.approx(8 / 40)
    assert entry["details"]["confusion_matrix"]["invalid"] == 32


def test_answers_are_cached_and_resume_without_a_backend(tmp_path, devign_dir):
    task = tasks.get("devign")
    documents = task.select(task.documents(devign_dir), 12)
    cache = GenerationCache(tmp_path / "cache", {"base": "stub"})
    stub = AnswerStub(says_defective)
    first = task.predict(stub, documents, Sampling(), cache)
    calls = len(stub.scored)
    again = tasks.get("devign").predict(None, documents, Sampling(), GenerationCache(tmp_path / "cache", {"base": "stub"}))
    assert again == first and len(stub.scored) == calls
    with pytest.raises(ValueError, match="no model was loaded"):
        tasks.get("devign", scoring="generate").predict(None, documents, Sampling(), cache)


# ----------------------------------------------------------------------------------------------
# The transformers backend: one forward pass per question


@pytest.mark.parametrize(("model_name", "method"), [("tiny-gptbigcode-xs", None), ("tiny-llama-xs", None),
                                                    ("tiny-gptbigcode-xs", "adapterh"), ("tiny-gptbigcode-xs", "ptuning")])
def test_loglikelihood_choices_equal_pairwise_scores(model_name, method):
    """Left padding, position ids and the reused KV cache change nothing, also with an un-merged
    adapter; prompt learning (P-Tuning) goes pair by pair."""
    import torch

    from astraios import methods
    from astraios.generate.huggingface import TransformersBackend
    from astraios.models import tiny

    model = tiny.build(model_name)
    if method:
        model = methods.apply(model, methods.get(method).config_class(name=method))
        for parameter in model.parameters():
            if parameter.requires_grad:  # trained-looking weights, so the adapter changes the scores
                torch.nn.init.normal_(parameter, std=0.05)
    backend = TransformersBackend(model, tiny_tokenizer(), batch_size=3)
    requests = [
        ("Question: int f(){return 0;}\nIs there a defect?\n\nAnswer:", [" YES", " Yes", " yes", " NO", " No", " no"]),
        ("Q: x", [" YES", " NO", "", " maybe so"]),
        ("Question: " + "a = b + c;\n" * 40 + "Answer:", [" YES", " no"]),
        ("short", [" yes"]),
        ("Another context", [" NO", " YES please do"]),
    ]
    one_pass = backend.loglikelihood_choices(requests)
    pairwise = loglikelihood_pairwise(backend, requests)
    for got, expected in zip(one_pass, pairwise):
        assert got == float32_approx(expected)


def test_tiny_model_end_to_end_counts_truncations(tmp_path):
    """A real model and tokenizer: long functions are cut to the 2,048-token context and counted."""
    records = devign_records(6)
    records[1]["func"] = "int big(int x) {\n" + "    x = x * 3 + 1;\n" * 600 + "    return x;\n}"
    write_jsonl(tmp_path / "data" / "devign" / "test.jsonl", records)
    config = EvalConfig(tasks=["devign"], output_dir=tmp_path / "out", model="tiny-gptbigcode-xs",
                        data_dir=str(tmp_path / "data"), batch_size=4)
    entry = evaluate(config, progress=False)["tasks"]["devign"]
    assert entry["details"]["truncated_prompts"] == 1
    assert [item["truncated"] for item in entry["per_document"]] == [False, True, False, False, False, False]
    assert entry["metrics"]["invalid_rate"] == 0.0


# ----------------------------------------------------------------------------------------------
# Loaders


def test_devign_layouts_load_the_same_documents(tmp_path):
    records = devign_records(12)
    expected = [(str(r["idx"]), r["target"], r["func"]) for r in records]

    def view(directory):
        return [(d["doc_id"], d["label"], d["func"]) for d in load_devign(directory).documents]

    jsonl = tmp_path / "jsonl"
    write_jsonl(jsonl / "devign" / "test.jsonl", records)
    hub_json = tmp_path / "hub-json"  # the Hub's field names: id, bool target
    write_jsonl(hub_json / "devign" / "test.jsonl",
                [{"id": r["idx"], "func": r["func"], "target": bool(r["target"])} for r in records])
    raw = tmp_path / "raw"  # CodeXGLUE's release: all functions plus the split's ids, unordered
    functions = [{"project": "qemu", "commit_id": "x", "target": 0, "func": "int other();"}] * 40
    for r in records:
        functions[r["idx"]] = {key: r[key] for key in ("project", "commit_id", "target", "func")}
    (raw / "devign").mkdir(parents=True)
    (raw / "devign" / "function.json").write_text(json.dumps(functions))
    (raw / "devign" / "test.txt").write_text("\n".join(str(r["idx"]) for r in reversed(records)) + "\n")
    gz = tmp_path / "gz"  # the raw release, gzipped
    (gz / "devign").mkdir(parents=True)
    for name in ("function.json", "test.txt"):
        (gz / "devign" / f"{name}.gz").write_bytes(gzip.compress((raw / "devign" / name).read_bytes()))
    for directory in (jsonl, hub_json, raw, gz):
        assert view(directory) == expected, directory


def test_devign_hub_parquet_snapshot(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = devign_records(9)
    folder = tmp_path / "devign" / "data"
    folder.mkdir(parents=True)
    table = pa.table({"id": [r["idx"] for r in records], "func": [r["func"] for r in records],
                      "target": [bool(r["target"]) for r in records], "project": ["qemu"] * 9,
                      "commit_id": ["c"] * 9})
    pq.write_table(table, folder / "test-00000-of-00001.parquet")
    split = load_devign(tmp_path)
    assert [(d["doc_id"], d["label"], d["index"]) for d in split.documents] == [
        (str(r["idx"]), r["target"], i) for i, r in enumerate(records)]
    assert "test-00000-of-00001.parquet" in split.source


def test_devign_sample_with_split_ids_is_marked_partial(tmp_path):
    records = devign_records(10)
    write_jsonl(tmp_path / "devign" / "sample_test.jsonl", records[2:5])
    split_ids = [r["idx"] for r in records] + [1000, 1001]
    (tmp_path / "devign" / "split_test.txt").write_text("\n".join(map(str, reversed(split_ids))) + "\n")
    split = load_devign(tmp_path)
    assert [d["index"] for d in split.documents] == [2, 3, 4]  # ranks among the sorted split ids
    assert split.split_size == 12 and not split.complete
    task = tasks.get("devign")
    task.documents(tmp_path)
    assert "partial_data" in task.settings()
    write_jsonl(tmp_path / "devign" / "sample_test.jsonl", [{**records[0], "idx": 999}])
    with pytest.raises(ValueError, match="idx 999 is not in .*split_test.txt"):
        load_devign(tmp_path)


def test_bigclonebench_layouts_load_the_same_documents(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = tmp_path / "files"
    write_codexglue_bigclonebench(files)
    records = tmp_path / "records"
    write_jsonl(records / "bigclonebench" / "test.jsonl", hub_bigclonebench_rows())
    parquet = tmp_path / "parquet"
    (parquet / "bigclonebench" / "data").mkdir(parents=True)
    rows = hub_bigclonebench_rows()
    table = pa.Table.from_pylist(rows)
    pq.write_table(table.slice(0, 20), parquet / "bigclonebench" / "data" / "test-00000-of-00002.parquet")
    pq.write_table(table.slice(20), parquet / "bigclonebench" / "data" / "test-00001-of-00002.parquet")
    gz = tmp_path / "gz"
    (gz / "bigclonebench").mkdir(parents=True)
    for name in ("data.jsonl", "test.txt"):
        (gz / "bigclonebench" / f"{name}.gz").write_bytes(gzip.compress((files / "bigclonebench" / name).read_bytes()))
    expected = [(str(n), a, b, BCB_FUNCTIONS[a], BCB_FUNCTIONS[b], label)
                for n, (a, b, label) in enumerate(BCB_PAIRS)]
    for directory in (files, records, parquet, gz):
        split = load_bigclonebench(directory)
        got = [(d["doc_id"], d["id1"], d["id2"], d["func1"], d["func2"], d["label"]) for d in split.documents]
        assert got == expected, directory
        assert [d["index"] for d in split.documents] == list(range(len(BCB_PAIRS)))
    shared = load_bigclonebench(parquet).documents
    assert shared[0]["func1"] is shared[1]["func1"]  # one string per function, not per pair


def test_missing_data_names_the_files_and_the_fix(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"Devign data not found: not in .*devign/test.jsonl.*--data-dir"):
        load_devign(tmp_path)
    with pytest.raises(DataNotFoundError, match=r"BigCloneBench data not found.*data.jsonl.*test.txt.*Hub"):
        load_bigclonebench(tmp_path)
    write_jsonl(tmp_path / "bigclonebench" / "data.jsonl", [{"func": "x", "idx": "1"}])
    with pytest.raises(DataNotFoundError, match=r"bigclonebench/test.txt \(beside data.jsonl\)"):
        load_bigclonebench(tmp_path)


def test_hub_failure_is_a_clear_missing_data_error(monkeypatch):
    from astraios.tasks.codexglue import loading

    def offline(repo_id):
        raise ConnectionError("no network")

    monkeypatch.delenv("ASTRAIOS_DATA_DIR", raising=False)
    monkeypatch.setattr(loading, "_hub_batches", offline)
    with pytest.raises(DataNotFoundError, match=r"google/code_x_glue_cc_defect_detection failed: the Hub cannot be reached"):
        load_devign(None)
    with pytest.raises(DataNotFoundError, match=r"big_clone_bench failed: the Hub cannot be reached \(offline\?\)\. Fix"):
        load_bigclonebench(None)


def test_hub_path_reads_the_test_parquet_files_of_the_datasets(monkeypatch):
    """The Hub code path, with `datasets.load_dataset` answering from memory instead of the network."""
    import datasets

    calls = []
    devign_rows = [{"id": r["idx"], "func": r["func"], "target": bool(r["target"]), "project": "qemu",
                    "commit_id": "c"} for r in devign_records(7)]

    def fake_load_dataset(path, data_files=None, split=None):
        calls.append((path, data_files, split))
        rows = hub_bigclonebench_rows() if "clone" in path else devign_rows
        return datasets.Dataset.from_list(rows)

    monkeypatch.delenv("ASTRAIOS_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    clones = load_bigclonebench(None)
    assert [(d["id1"], d["id2"], d["label"]) for d in clones.documents] == [(a, b, label) for a, b, label in BCB_PAIRS]
    assert clones.source == "hub:google/code_x_glue_cc_clone_detection_big_clone_bench" and clones.complete
    devign = load_devign(None)
    assert [(d["doc_id"], d["label"]) for d in devign.documents] == [(str(r["id"]), int(r["target"]))
                                                                     for r in devign_rows]
    assert calls == [("google/code_x_glue_cc_clone_detection_big_clone_bench", {"test": "data/test-*"}, "test"),
                     ("google/code_x_glue_cc_defect_detection", {"test": "data/test-*"}, "test")]


def test_malformed_records_name_the_file_and_field(tmp_path):
    write_jsonl(tmp_path / "devign" / "test.jsonl", [{"idx": 1, "code": "x", "target": 0}])
    with pytest.raises(ValueError, match=r"test.jsonl record 1: no `func` field .*Fix"):
        load_devign(tmp_path)
    write_jsonl(tmp_path / "devign" / "test.jsonl", [{"idx": 1, "func": "x", "target": "maybe"}])
    with pytest.raises(ValueError, match=r"field `target` is 'maybe'"):
        load_devign(tmp_path)
    write_codexglue_bigclonebench(tmp_path)
    (tmp_path / "bigclonebench" / "test.txt").write_text("1000\t9999\t1\n")
    with pytest.raises(ValueError, match=r"test.txt line 1: function 9999 is not in .*data.jsonl"):
        load_bigclonebench(tmp_path)


# ----------------------------------------------------------------------------------------------
# Saved generations and the CLI


def test_cli_scores_ours_and_the_study_harness_files(tmp_path, devign_dir):
    documents = load_devign(devign_dir).documents
    harness = [[{"ID": i, "prediction": "-1", "true_label": str(d["label"]),
                 "raw_text": f"Question: {d['func']}\nIs there a defect in the Code, and respond to YES or NO.\n\n"
                             f"Answer: {'Yes, there is a defect' if d['label'] else 'No'}.\n"}]
               for i, d in enumerate(documents)]
    path = tmp_path / "harness.json"
    path.write_text(json.dumps(harness))
    result = runner.invoke(app, ["eval", "--tasks", "devign", "--generations", str(path), "--data-dir",
                                 str(devign_dir), "--limit", "10", "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "tp/fp/tn/fn" in result.output
    entry = json.loads((tmp_path / "out" / "results.json").read_text())["tasks"]["devign"]
    assert entry["metrics"]["accuracy"] == 1.0 and entry["num_documents"] == 10
    # Answers (our format) for exactly the recorded sample score the same.
    labels = {d["doc_id"]: d["label"] for d in documents}
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps([["YES" if labels[doc_id] else "NO"] for doc_id in entry["details"]["sample_ids"]]))
    result = runner.invoke(app, ["eval", "--tasks", "devign", "--generations", str(ours), "--data-dir",
                                 str(devign_dir), "--limit", "10", "--output", str(tmp_path / "again")])
    assert result.exit_code == 0, result.output
    again = json.loads((tmp_path / "again" / "results.json").read_text())["tasks"]["devign"]
    assert again["metrics"] == entry["metrics"]
    result = runner.invoke(app, ["eval", "--tasks", "devign", "--generations", str(path), "--data-dir",
                                 str(devign_dir), "--limit", "7", "--output", str(tmp_path / "bad")])
    assert result.exit_code == 0  # the full-split file serves any sample
    short = tmp_path / "short.json"
    short.write_text(json.dumps(harness[:5]))
    result = runner.invoke(app, ["eval", "--tasks", "devign", "--generations", str(short), "--data-dir",
                                 str(devign_dir), "--output", str(tmp_path / "bad")])
    assert result.exit_code == 1 and "holds 5 entries" in " ".join(result.output.split())


def test_cli_rejects_a_bad_option(tmp_path, devign_dir):
    result = runner.invoke(app, ["eval", "--tasks", "devign", "--balance", "even", "--generations", "x.json",
                                 "--data-dir", str(devign_dir), "--output", str(tmp_path)])
    assert result.exit_code == 1
    assert "--balance even: expected one of natural, uniform, as-study" in " ".join(result.output.split())


# ----------------------------------------------------------------------------------------------
# The real Devign sample in the shared data


def test_real_devign_sample(data_dir):
    if not (data_dir / "devign" / "sample_test.jsonl").is_file():
        pytest.skip(f"no devign/sample_test.jsonl in {data_dir}")
    task = tasks.get("devign")
    documents = task.documents(data_dir)
    assert len(documents) == 10 and sum(d["label"] for d in documents) == 5
    assert task.dataset.split_size == 2732 and not task.dataset.complete
    assert all(0 <= d["index"] < 2732 for d in documents)
    chosen = task.select(documents, None)
    assert len(chosen) == 10 and task.sample["population"]["complete"] is False
    assert all(task.prompt(d).startswith("Question: ") and d["func"] in task.prompt(d) for d in chosen)
    with pytest.raises(ValueError, match="as-study"):
        tasks.get("devign", balance="as-study").select(documents, None)
