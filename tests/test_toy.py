"""The toy problem generator, its data sources and the `toy-synthesize` task: no leakage between
training and test problems, the same test set everywhere, tests that tell right from wrong."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import pytest

from astraios import tasks
from astraios.config import ConfigError, load_config
from astraios.data import instruction, toy
from astraios.tasks import humanevalpack

# The digest of the 120 test documents: a change to the generator that alters them must bump
# toy.GENERATOR_VERSION (recorded in results.json) and this value together.
TEST_SET_SHA256 = "2e7f645bf7f0febb88db9a7675ddafcdead46200a0da11046f6f4f9f5f3a42e5"


def test_train_and_test_problems_never_share_a_family_and_parameters():
    test_keys = [problem.key for problem in toy.test_problems()]
    assert len(test_keys) == len(set(test_keys)) == toy.TEST_PROBLEMS  # distinct test problems
    assert all(toy.split_of(key) == "test" for key in test_keys)
    for seed in (0, 1, 17):
        for records in (toy.instruction_records(seed, 3000), toy.corpus_records(seed, 3000)):
            train_keys = {record["key"] for record in records}
            assert not train_keys & set(test_keys)
            assert all(toy.split_of(key) == "train" for key in train_keys)
    # A key is its family, kind and parameters: names and wordings do not make a new problem.
    problem = toy.test_problems(1)[0]
    assert problem.key == f"{problem.family}|{problem.kind.name}|{'|'.join(map(repr, problem.parameters))}"
    # About one key in five is a test key (the split is a hash, not a per-seed draw).
    keys = [f"conditionals|greater|{k}|{a}|{b}" for k in range(1, 9) for a in range(10) for b in range(10)]
    assert 0.12 < sum(toy.split_of(key) == "test" for key in keys) / len(keys) < 0.28


def test_the_test_set_is_the_same_on_every_machine():
    documents = tasks.get("toy-synthesize").documents()
    digest = hashlib.sha256(json.dumps(documents, sort_keys=True).encode()).hexdigest()
    assert digest == TEST_SET_SHA256
    assert [d["family"] for d in documents[:8]] == list(toy.FAMILIES) * 2  # families in turn: --limit stays balanced
    assert Counter(d["family"] for d in documents) == {family: toy.TEST_PER_FAMILY for family in toy.FAMILIES}
    assert len({d["entry_point"] for d in documents}) > 30 and len({d["kind"] for d in documents}) > 15


def test_documents_use_the_humanevalpack_prompt_and_format():
    task = tasks.get("toy-synthesize")
    document = task.documents()[0]
    assert task.prompt(document) == humanevalpack.octocoder_prompt(document["instruction"], document["prompt"])
    assert document["instruction"].startswith(f"Write a Python function `{document['signature']}` to solve")
    assert document["prompt"].startswith(document["declaration"]) and '"""' in document["prompt"]
    assert document["test"].count("assert candidate(") == toy.TEST_ASSERTS
    assert document["test"].rstrip().endswith(f"check({document['entry_point']})")
    assert task.stop_sequences == humanevalpack.STOP_SEQUENCES["python"]
    completion = "\n" + document["canonical_solution"] + "\n\ndef unrelated():\n    pass\n"  # after the stripped prompt
    assert task.postprocess(document, completion).rstrip() == (document["prompt"] + document["canonical_solution"]).rstrip()
    assert "toy-synthesize" in tasks.names()


def test_canonical_solutions_pass_and_wrong_ones_fail_in_the_sandbox():
    task = tasks.get("toy-synthesize")
    documents = task.documents()
    canonical = task.score(documents, [[d["prompt"] + d["canonical_solution"]] for d in documents], progress=False)
    assert canonical.metrics == {"pass@1": 1.0}
    assert canonical.details["families"]["conditionals"] == {"problems": toy.TEST_PER_FAMILY, "pass@1": 1.0}
    # Returning the argument unchanged fails every problem; so does returning one branch of a conditional.
    argument = {"arithmetic": "x", "conditionals": "x", "strings": "s", "lists": "xs"}
    wrong = [d["prompt"] + f"    return {argument[d['family']]}\n" for d in documents]
    branches = [(d, d["prompt"] + "    return " + d["canonical_solution"].split()[branch] + "\n")
                for d in documents if d["family"] == "conditionals" for branch in (1, -1)]
    result = task.score(documents + [d for d, _ in branches], [[p] for p in wrong] + [[p] for _, p in branches],
                        progress=False)
    assert [entry["passed"] for entry in result.per_document] == [0] * len(result.per_document)


def test_generated_sources_build_as_training_data():
    from astraios.models import tiny

    config = load_config(None, ["data.sources=[{path: toy-instructions, limit: 30, seed: 2}, "
                                "{path: toy-corpus, limit: 20}]", "data.test_size=5", "data.seq_len=512"])
    data = instruction.build(config.data, tiny.tokenizer())
    assert data.stats["train"]["examples"] + data.stats["test"]["examples"] == 50
    texts = [tiny.tokenizer().decode(ids) for ids in [*data.train["input_ids"], *data.test["input_ids"]]]
    questions = [text for text in texts if text.startswith("Question: Write a Python function")]
    raw = [text for text in texts if text.startswith("# ")]  # corpus text has no template: a comment, then code
    assert len(questions) == 30 and len(raw) == 20
    assert all("\n\nAnswer: def " in text and '"""' in text for text in questions)
    assert all("\ndef " in text and '"""' not in text and "\nassert " in text for text in raw)
    assert toy.instruction_records(2, 5) == toy.instruction_records(2, 5) != toy.instruction_records(3, 5)
    assert len(toy.source_records("toy-corpus", None, None)) == toy.SOURCES["toy-corpus"][1]


def test_seed_is_only_for_generated_sources():
    with pytest.raises(ConfigError, match="`seed` applies only to generated sources"):
        load_config(None, ["data.sources=[{path: astraios-sample, seed: 1}]"])


def test_asking_for_more_distinct_problems_than_exist_is_an_error():
    with pytest.raises(ValueError, match="no unused test problem left"):
        toy._take(toy.problems(0, "test", distinct=True), 1000)
