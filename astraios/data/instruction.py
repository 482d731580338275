"""Instruction data in the OctoCoder form: load, format, tokenise, mask, pack, split.

Every record becomes `Question: {instruction}\\n\\nAnswer: {answer}` followed by EOS, where
- prompt/completion records (OctoPack's OASST + CommitPackFT files, `bigcode/guanaco-commits`)
  give instruction = prompt, answer = completion;
- raw CommitPackFT rows (`bigcode/commitpackft`) give instruction = the commit subject, a newline
  and the old code, answer = the new code (as OctoPack's `add_commitpackft.py` does);
- OASST conversations (`bigcode/oasst-octopack`) give one example per user turn and the assistant
  reply that follows it;
- raw text records (a `text` column, e.g. the generated `toy-corpus`) are tokenised as they are,
  with no template (their instruction is empty), as pre-training text is.

`toy-instructions` and `toy-corpus` are generated on the fly from the source's `seed`
(`astraios.data.toy`, which also says how they never share a problem with the `toy-synthesize` task).

The question (`Question: ...\\n\\nAnswer: `) and the answer are tokenised separately and
concatenated, so the answer-only loss mask falls exactly on the answer's tokens and the EOS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from astraios.config import DataConfig, DataSource
from astraios.core.hub import hub_errors, looks_local, missing_local_path
from astraios.data import toy

log = logging.getLogger(__name__)

SAMPLE = "astraios-sample"
SAMPLE_FILE = Path(__file__).parent / "sample" / "octopack_sample.jsonl.gz"
IGNORE_INDEX = -100
LOCAL_BUILDERS = {".jsonl": "json", ".json": "json", ".gz": "json", ".parquet": "parquet"}
FORMAT_COLUMNS = {
    "prompt_completion": {"prompt", "completion"},
    "commitpackft": {"old_contents", "new_contents", "subject"},
    "oasst": {"conversations"},
    "text": {"text"},
}
USER_ROLES = {"user", "prompter", "human"}
ASSISTANT_ROLES = {"assistant", "gpt", "bot"}


def question(instruction: str) -> str:
    """The prompt part of the OctoCoder template; the answer follows it directly."""
    return f"Question: {instruction}\n\nAnswer: "


@dataclass
class InstructionData:
    """Tokenised train and held-out test sequences (datasets with input_ids and labels)."""

    train: object
    test: object
    stats: dict


def build(config: DataConfig, tokenizer, context: int | None = None) -> InstructionData:
    """Load every source, split off the held-out test set, tokenise and (optionally) pack."""
    import datasets

    if context is not None and config.seq_len > context:
        raise ValueError(
            f"data.seq_len ({config.seq_len}) exceeds the model's context ({context}); "
            f"set data.seq_len to {context} or less"
        )
    examples = datasets.concatenate_datasets([load_examples(source) for source in config.sources])
    test_size = int(config.test_size) if config.test_size >= 1 else config.test_size
    if len(examples) < 2:
        raise ValueError(f"the data sources hold {len(examples)} example(s); at least 2 are needed to hold one out")
    split = examples.train_test_split(test_size=test_size, seed=config.seed, shuffle=True)
    train, train_stats = _tokenize(split["train"], tokenizer, config)
    test, test_stats = _tokenize(split["test"], tokenizer, config)
    stats = {"train": train_stats, "test": test_stats}
    return InstructionData(train=train, test=test, stats=stats)


def load_examples(source: DataSource):
    """One source as a dataset of {instruction, answer} records (public for inspection and tests)."""
    rows = _read_rows(source)
    if source.limit is not None:
        rows = rows.select(range(min(source.limit, len(rows))))
    kind = _detect_format(source, rows.column_names)
    converter = {"prompt_completion": _from_prompt_completion, "commitpackft": _from_commit, "oasst": _from_oasst,
                 "text": _from_text}[kind]
    return rows.map(converter, batched=True, remove_columns=rows.column_names, desc=f"formatting {source.path}")


def _read_rows(source: DataSource):
    import datasets

    if source.path == SAMPLE:
        return datasets.load_dataset("json", data_files=str(SAMPLE_FILE), split="train")
    if source.path in toy.SOURCES:
        return datasets.Dataset.from_list(toy.source_records(source.path, source.seed, source.limit))
    path = Path(source.path)
    if path.exists():
        files = sorted(p for p in path.rglob("*") if p.suffix in LOCAL_BUILDERS) if path.is_dir() else [path]
        if not files:
            raise ValueError(f"data source {path}: no .jsonl, .json, .jsonl.gz or .parquet files in it")
        suffixes = {LOCAL_BUILDERS.get(p.suffix) for p in files}
        if None in suffixes or len(suffixes) > 1:
            raise ValueError(
                f"data source {path}: use files of one kind: .jsonl/.json/.jsonl.gz (json) or .parquet"
            )
        return datasets.load_dataset(suffixes.pop(), data_files=[str(p) for p in files], split="train")
    local_fix = f"point data.sources at a local .jsonl/.json/.parquet file or directory, or use {SAMPLE} (shipped)"
    if looks_local(source.path) or path.suffix in LOCAL_BUILDERS:
        raise missing_local_path(source.path, "data source", local_fix + ".")
    with hub_errors("dataset", source.path, local_fix, repo_type="dataset"):
        return datasets.load_dataset(source.path, name=source.subset, split=source.split)


def _detect_format(source: DataSource, columns: list[str]) -> str:
    if source.format != "auto":
        required = FORMAT_COLUMNS[source.format]
        if source.format == "commitpackft":
            required = required - {"subject"} if "message" in columns else required
        if not required <= set(columns):
            raise ValueError(
                f"data source {source.path}: format `{source.format}` needs columns "
                f"{sorted(required)}, found {columns}"
            )
        return source.format
    if FORMAT_COLUMNS["prompt_completion"] <= set(columns):
        return "prompt_completion"
    if {"old_contents", "new_contents"} <= set(columns) and ({"subject", "message"} & set(columns)):
        return "commitpackft"
    if "conversations" in columns:
        return "oasst"
    if "text" in columns:
        return "text"
    expected = "; ".join(f"{name}: {sorted(cols)}" for name, cols in FORMAT_COLUMNS.items())
    raise ValueError(
        f"data source {source.path}: cannot tell its format from columns {columns}. Fix: provide one "
        f"of these column sets ({expected}) or set `format:` for the source"
    )


def _from_prompt_completion(batch: dict) -> dict:
    return {"instruction": batch["prompt"], "answer": batch["completion"]}


def _from_commit(batch: dict) -> dict:
    subjects = batch.get("subject") or [message.strip().split("\n")[0] for message in batch["message"]]
    return {
        "instruction": [f"{subject}\n{old}" for subject, old in zip(subjects, batch["old_contents"])],
        "answer": list(batch["new_contents"]),
    }


def _from_text(batch: dict) -> dict:
    return {"instruction": [""] * len(batch["text"]), "answer": list(batch["text"])}


def _turn(turn: dict) -> tuple[str, str]:
    role = str(turn.get("role", turn.get("from", ""))).lower()
    text = turn.get("text", turn.get("content", turn.get("value", "")))
    return role, text


def _from_oasst(batch: dict) -> dict:
    instructions, answers = [], []
    for conversation in batch["conversations"]:
        turns = [_turn(turn) for turn in conversation]
        for (role, text), (next_role, next_text) in zip(turns, turns[1:]):
            if role in USER_ROLES and next_role in ASSISTANT_ROLES:
                instructions.append(text)
                answers.append(next_text)
    return {"instruction": instructions, "answer": answers}


def _tokenize(examples, tokenizer, config: DataConfig):
    # Settings travel as fn_kwargs (not closures) so that datasets' cache fingerprints include them.
    tokenized = examples.map(
        _encode,
        batched=True,
        remove_columns=examples.column_names,
        fn_kwargs={"tokenizer": tokenizer, "answer_only": config.loss_on == "answer"},
        desc="tokenizing",
    )
    lengths = [len(ids) for ids in tokenized["input_ids"]]  # the column is read once
    total_tokens = sum(lengths)
    stats = {"examples": len(examples), "tokens": total_tokens}
    if config.packing:
        sequences = tokenized.map(_pack, batched=True, batch_size=1000, fn_kwargs={"seq_len": config.seq_len}, desc="packing")
        stats["dropped_tail_tokens"] = total_tokens - len(sequences) * config.seq_len
    else:
        sequences = tokenized.map(_truncate, batched=True, fn_kwargs={"seq_len": config.seq_len}, desc="truncating")
        stats["truncated"] = sum(length > config.seq_len for length in lengths)
        sequences = sequences.filter(_has_labels, batched=True, desc="dropping examples without answer tokens")
        stats["dropped_no_answer_tokens"] = len(tokenized) - len(sequences)
    stats["sequences"] = len(sequences)
    if len(sequences) == 0:
        raise ValueError(
            f"no training sequences remain after tokenisation ({stats}); lower data.seq_len or disable packing"
        )
    return sequences, stats


def _encode(batch: dict, tokenizer, answer_only: bool) -> dict:
    eos = tokenizer.eos_token_id
    # An empty instruction marks raw text (no template).
    questions = tokenizer([question(i) if i else "" for i in batch["instruction"]], add_special_tokens=False)["input_ids"]
    answers = tokenizer(batch["answer"], add_special_tokens=False)["input_ids"]
    input_ids, labels = [], []
    for q, a in zip(questions, answers):
        input_ids.append(q + a + [eos])
        labels.append(([IGNORE_INDEX] * len(q) if answer_only else q) + a + [eos])
    return {"input_ids": input_ids, "labels": labels}


def _pack(batch: dict, seq_len: int) -> dict:
    """Concatenate examples and cut full `seq_len` blocks; a batch's last partial block is dropped."""
    ids = [token for sequence in batch["input_ids"] for token in sequence]
    labels = [token for sequence in batch["labels"] for token in sequence]
    usable = len(ids) // seq_len * seq_len
    return {
        "input_ids": [ids[i : i + seq_len] for i in range(0, usable, seq_len)],
        "labels": [labels[i : i + seq_len] for i in range(0, usable, seq_len)],
    }


def _truncate(batch: dict, seq_len: int) -> dict:
    return {key: [sequence[:seq_len] for sequence in batch[key]] for key in ("input_ids", "labels")}


def _has_labels(batch: dict) -> list[bool]:
    # A label at position 0 is never predicted (there is no token before it).
    return [any(label != IGNORE_INDEX for label in labels[1:]) for labels in batch["labels"]]


def collate(batch: list[dict], pad_token_id: int) -> dict:
    """Right-pad a list of sequences into tensors (labels padded with -100)."""
    import torch

    width = max(len(item["input_ids"]) for item in batch)
    input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, item in enumerate(batch):
        length = len(item["input_ids"])
        input_ids[row, :length] = torch.as_tensor(item["input_ids"])
        labels[row, :length] = torch.as_tensor(item["labels"])
        attention_mask[row, :length] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
