"""Instruction data: formats, the OctoCoder template, answer-only masks, packing, the split."""

from __future__ import annotations

import json

import pytest

from astraios import data, models
from astraios.config import DataConfig, DataSource

IGNORE = data.IGNORE_INDEX


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer("tiny-gptbigcode-s")


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_template_is_octocoder():
    assert data.question("Fix the bug") == "Question: Fix the bug\n\nAnswer: "


def test_answer_only_mask_covers_exactly_the_answer_tokens(tokenizer):
    config = DataConfig(sources=[DataSource(path="astraios-sample", limit=30)], seq_len=2048, test_size=5, loss_on="answer")
    built = data.build(config, tokenizer)
    examples = data.load_examples(DataSource(path="astraios-sample", limit=30))
    expected = {}
    for example in examples:
        # Independent count: question and answer tokenised on their own, plus the EOS that ends it.
        question_ids = tokenizer(data.question(example["instruction"]), add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(example["answer"], add_special_tokens=False)["input_ids"]
        expected[tuple(question_ids + answer_ids + [tokenizer.eos_token_id])] = (len(question_ids), len(answer_ids) + 1)
    for row in built.train:
        question_tokens, answer_tokens = expected[tuple(row["input_ids"])]
        labels = row["labels"]
        assert labels[:question_tokens] == [IGNORE] * question_tokens
        assert labels[question_tokens:] == row["input_ids"][question_tokens:]
        assert sum(label != IGNORE for label in labels) == answer_tokens
        assert row["input_ids"][-1] == tokenizer.eos_token_id


def test_all_token_loss_labels_every_token(tokenizer):
    config = DataConfig(sources=[DataSource(path="astraios-sample", limit=10)], test_size=2, loss_on="all")
    for row in data.build(config, tokenizer).train:
        assert row["labels"] == row["input_ids"]


def test_packing_cuts_full_blocks_and_keeps_the_mask(tokenizer):
    source = DataSource(path="astraios-sample", limit=60)
    unpacked = data.build(DataConfig(sources=[source], seq_len=4096, test_size=10), tokenizer)
    packed = data.build(DataConfig(sources=[source], seq_len=128, test_size=10, packing=True), tokenizer)
    assert all(len(row["input_ids"]) == 128 for row in packed.train)
    total = sum(len(row["input_ids"]) for row in unpacked.train)
    assert len(packed.train) * 128 + packed.stats["train"]["dropped_tail_tokens"] == total
    stream = [t for row in unpacked.train for t in row["labels"]]
    assert [t for row in packed.train for t in row["labels"]] == stream[: len(packed.train) * 128]


def test_truncation_is_counted_and_unlabelled_examples_dropped(tokenizer, tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [
        {"prompt": "word " * 200, "completion": "short"},  # the question alone fills the sequence
        {"prompt": "hi", "completion": "there " * 100},
        {"prompt": "a", "completion": "b"},
        {"prompt": "c", "completion": "d"},
    ])
    built = data.build(DataConfig(sources=[DataSource(path=str(path))], seq_len=32, test_size=1, seed=3), tokenizer)
    stats = {key: built.stats["train"][key] + built.stats["test"][key] for key in ("truncated", "dropped_no_answer_tokens")}
    assert stats == {"truncated": 2, "dropped_no_answer_tokens": 1}
    assert all(len(row["input_ids"]) <= 32 for row in built.train)


def test_split_is_deterministic_and_disjoint(tokenizer):
    config = DataConfig(sources=[DataSource(path="astraios-sample", limit=50)], test_size=0.2, seed=7)
    first, second = data.build(config, tokenizer), data.build(config, tokenizer)
    assert first.train["input_ids"] == second.train["input_ids"]
    assert len(first.test) == 10 and len(first.train) == 40
    train_rows = {tuple(ids) for ids in first.train["input_ids"]}
    assert not train_rows & {tuple(ids) for ids in first.test["input_ids"]}
    other_seed = data.build(config.model_copy(update={"seed": 8}), tokenizer)
    assert other_seed.test["input_ids"] != first.test["input_ids"]


def test_commitpackft_rows_become_subject_plus_old_code(tmp_path):
    path = write_jsonl(tmp_path / "commits.jsonl", [{
        "commit": "abc", "old_file": "a.py", "new_file": "a.py", "old_contents": "x = 1\n", "new_contents": "x = 2\n",
        "subject": "Bump x", "message": "Bump x\n\nlong text", "lang": "Python", "license": "mit", "repos": "r",
    }])
    example = data.load_examples(DataSource(path=str(path)))[0]
    assert example == {"instruction": "Bump x\nx = 1\n", "answer": "x = 2\n"}


def test_oasst_conversations_give_one_example_per_reply(tmp_path):
    path = write_jsonl(tmp_path / "oasst.jsonl", [{"conversations": [
        {"role": "user", "text": "Q1"}, {"role": "assistant", "text": "A1"},
        {"role": "user", "text": "Q2"}, {"role": "assistant", "text": "A2"},
    ]}])
    examples = data.load_examples(DataSource(path=str(path)))
    assert [(e["instruction"], e["answer"]) for e in examples] == [("Q1", "A1"), ("Q2", "A2")]


def test_parquet_sources_load(tmp_path):
    import pandas as pd

    path = tmp_path / "d.parquet"
    pd.DataFrame({"prompt": ["p1", "p2"], "completion": ["c1", "c2"]}).to_parquet(path)
    assert data.load_examples(DataSource(path=str(path)))["answer"] == ["c1", "c2"]


def test_unknown_columns_name_the_source_and_the_fix(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"question": "q", "reply": "r"}])
    with pytest.raises(ValueError, match=r"odd.jsonl: cannot tell its format from columns \['question', 'reply'\].*Fix"):
        data.load_examples(DataSource(path=str(path)))
    with pytest.raises(ValueError, match="format `commitpackft` needs columns"):
        data.load_examples(DataSource(path=str(path), format="commitpackft"))


def test_sequence_longer_than_context_is_refused(tokenizer):
    with pytest.raises(ValueError, match=r"data.seq_len \(4096\) exceeds the model's context \(2048\)"):
        data.build(DataConfig(seq_len=4096), tokenizer, context=2048)


def test_collate_pads_right_and_masks_padding():
    batch = data.collate([{"input_ids": [1, 2, 3], "labels": [IGNORE, 2, 3]}, {"input_ids": [4], "labels": [4]}], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 2, 3], [4, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
