"""Loading the CodeXGLUE test splits of Devign and BigCloneBench, from the local data directory
or the Hub, in every layout `astraios.tasks.codexglue` lists.

A document's `index` is its position in the full test split in the Hub's (= CodeXGLUE's) order,
which is also the `ID` of the study harness's records; its `doc_id` is Devign's function idx, or
BigCloneBench's pair number (line of test.txt).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from astraios.tasks.data import (
    DataNotFoundError,
    data_dir,
    find_local,
    hub_access,
    missing_data_message,
    open_text,
    read_jsonl,
)

DEVIGN_HUB = "google/code_x_glue_cc_defect_detection"
BIGCLONEBENCH_HUB = "google/code_x_glue_cc_clone_detection_big_clone_bench"
HUB_TEST_FILES = "data/test-*"


def _label(value, field: str, where: str) -> int:
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return int(value.strip().lower() in ("1", "true"))
    raise ValueError(f"{where}: field `{field}` is {value!r}; expected a 0/1 (or true/false) label. Fix: pass the "
                     f"CodeXGLUE test split unchanged.")


def _field(record: dict, names: Sequence[str], where: str, expected: str):
    for name in names:
        if name in record:
            return record[name]
    raise ValueError(f"{where}: no `{names[0]}` field (fields: {', '.join(sorted(record)) or 'none'}); expected "
                     f"{expected}. Fix: pass the CodeXGLUE file unchanged or a Hub snapshot.")


def _read_ids(path: Path) -> list[int]:
    with open_text(path) as handle:
        return [int(word) for word in handle.read().split()]


def _parquet_batches(paths: Sequence[Path]) -> Iterable:
    import pyarrow.parquet as pq

    for path in paths:
        yield from pq.ParquetFile(path).iter_batches(batch_size=10_000)


def _local_parquet(directory: Path | None, folder: str) -> list[Path]:
    if directory is None:
        return []
    return sorted((directory / folder / "data").glob("test-*.parquet")) or sorted((directory / folder).glob("test*.parquet"))


def _hub_batches(repo_id: str) -> Iterable:
    """The Hub dataset's test split, as arrow tables (only the test files are downloaded)."""
    from datasets import load_dataset

    with hub_access():
        dataset = load_dataset(repo_id, data_files={"test": HUB_TEST_FILES}, split="test")
    return dataset.with_format("arrow").iter(batch_size=10_000)


class LoadedSplit:
    """A loaded test split: its documents, where they came from, and how big the split is.

    `ids` names every position of the split (its doc_id) when the local data holds only part of
    the split but knows the whole split's ids (Devign's sample plus split_test.txt): enough to
    score a saved file that carries the labels of the whole split (`with_labels`)."""

    def __init__(self, documents: list, source: str | None, split_size: int, ids: list[str] | None = None):
        self.documents = documents
        self.source = source
        self.split_size = split_size
        self.ids = ids
        self.labels_from: str | None = None  # a saved file that supplied the labels the data lacks

    @property
    def complete(self) -> bool:
        return len(self.documents) == self.split_size

    def with_labels(self, labels: Sequence[int], source: str) -> LoadedSplit:
        """The whole split, completed from `labels` (one per position, from `source`): the documents
        the data lacks are label-only stubs, enough to sample and score saved answers, not to prompt."""
        known = {document["index"]: document for document in self.documents}
        documents = [known.get(index) or {"doc_id": self.ids[index], "index": index, "label": label, "stub": True}
                     for index, label in enumerate(labels)]
        completed = LoadedSplit(documents, self.source, self.split_size, self.ids)
        completed.labels_from = source
        return completed


def _devign_document(record: dict, index: int, where: str) -> dict:
    idx = int(_field(record, ("idx", "id"), where, "CodeXGLUE Devign fields idx (or id), func, target"))
    return {"doc_id": str(idx), "index": index, "idx": idx,
            "func": _field(record, ("func",), where, "CodeXGLUE Devign fields idx, func, target"),
            "label": _label(_field(record, ("target",), where, "CodeXGLUE Devign fields idx, func, target"),
                            "target", where),
            "project": record.get("project"), "commit_id": record.get("commit_id")}


def load_devign(explicit_dir=None) -> LoadedSplit:
    directory = data_dir(explicit_dir)
    candidates = ["devign/test.jsonl", "devign/data/test-*.parquet", "devign/function.json + devign/test.txt",
                  "devign/sample_test.jsonl + devign/split_test.txt"]
    test = find_local(directory, ["devign/test.jsonl"])
    if test is not None:
        documents = [_devign_document(record, index, f"{test} record {index + 1}")
                     for index, record in enumerate(read_jsonl(test))]
        return LoadedSplit(documents, str(test), len(documents))
    parquet = _local_parquet(directory, "devign")
    if parquet:
        return _devign_from_batches(_parquet_batches(parquet), ", ".join(map(str, parquet)))
    split_ids = find_local(directory, ["devign/test.txt", "devign/split_test.txt"])
    functions = find_local(directory, ["devign/function.json"])
    if functions is not None and split_ids is not None:
        with open_text(functions) as handle:
            everything = json.load(handle)
        ids = sorted(_read_ids(split_ids))
        return LoadedSplit([_devign_document({**everything[idx], "idx": idx}, index, f"{functions} function {idx}")
                        for index, idx in enumerate(ids)], f"{functions} + {split_ids}", len(ids))
    sample = find_local(directory, ["devign/sample_test.jsonl"])
    if sample is not None and split_ids is not None:
        # Part of the split: positions are ranks among the split's ids (the Hub orders by idx).
        rank = {idx: position for position, idx in enumerate(sorted(_read_ids(split_ids)))}
        documents = []
        for number, record in enumerate(read_jsonl(sample), start=1):
            document = _devign_document(record, -1, f"{sample} record {number}")
            if document["idx"] not in rank:
                raise ValueError(f"{sample} record {number}: idx {document['idx']} is not in {split_ids}, so it is "
                                 f"not a test function. Fix: pass the test sample with the test split ids.")
            documents.append({**document, "index": rank[document["idx"]]})
        documents.sort(key=lambda document: document["index"])
        return LoadedSplit(documents, f"{sample} (part of the split in {split_ids})", len(rank),
                           ids=[str(idx) for idx in sorted(rank, key=rank.get)])
    if directory is not None:
        raise DataNotFoundError(missing_data_message("Devign", candidates, directory, DEVIGN_HUB,
                                                     download="devign"))
    try:
        return _devign_from_batches(_hub_batches(DEVIGN_HUB), f"hub:{DEVIGN_HUB}")
    except Exception as error:  # offline, no such repo, auth: all end in the same advice
        raise DataNotFoundError(missing_data_message("Devign", candidates, None, DEVIGN_HUB, error,
                                                     download="devign")) from error


def _devign_from_batches(batches: Iterable, source: str) -> LoadedSplit:
    documents = []
    for batch in batches:
        for record in batch.to_pylist():
            documents.append(_devign_document(record, len(documents), f"{source} row {len(documents)}"))
    return LoadedSplit(documents, source, len(documents))


def _pair_document(index: int, pair_id, id1, id2, func1: str, func2: str, label: int) -> dict:
    return {"doc_id": str(pair_id), "index": index, "id1": str(id1), "id2": str(id2), "func1": func1,
            "func2": func2, "label": label}


def load_bigclonebench(explicit_dir=None) -> LoadedSplit:
    directory = data_dir(explicit_dir)
    candidates = ["bigclonebench/data.jsonl + bigclonebench/test.txt", "bigclonebench/test.jsonl",
                  "bigclonebench/data/test-*.parquet"]
    functions_file = find_local(directory, ["bigclonebench/data.jsonl"])
    pairs_file = find_local(directory, ["bigclonebench/test.txt"])
    if functions_file is not None and pairs_file is not None:
        return _bigclonebench_from_codexglue(functions_file, pairs_file)
    records_file = find_local(directory, ["bigclonebench/test.jsonl"])
    if records_file is not None:
        documents = []
        for index, record in enumerate(read_jsonl(records_file)):
            where = f"{records_file} record {index + 1}"
            expected = "the Hub's fields func1, func2, label"
            documents.append(_pair_document(index, record.get("id", index), record.get("id1", ""), record.get("id2", ""),
                                            _field(record, ("func1",), where, expected),
                                            _field(record, ("func2",), where, expected),
                                            _label(_field(record, ("label",), where, expected), "label", where)))
        return LoadedSplit(documents, str(records_file), len(documents))
    parquet = _local_parquet(directory, "bigclonebench")
    if parquet:
        return _bigclonebench_from_batches(_parquet_batches(parquet), ", ".join(map(str, parquet)))
    if directory is not None:
        if functions_file is not None or pairs_file is not None:
            have, lacking = (functions_file, "test.txt") if functions_file else (pairs_file, "data.jsonl")
            candidates = [f"bigclonebench/{lacking} (beside {have.name})", *candidates]
        raise DataNotFoundError(missing_data_message("BigCloneBench", candidates, directory, BIGCLONEBENCH_HUB,
                                                     download="bigclonebench"))
    try:
        return _bigclonebench_from_batches(_hub_batches(BIGCLONEBENCH_HUB), f"hub:{BIGCLONEBENCH_HUB}")
    except Exception as error:  # offline, no such repo, auth: all end in the same advice
        raise DataNotFoundError(missing_data_message("BigCloneBench", candidates, None, BIGCLONEBENCH_HUB,
                                                     error, download="bigclonebench")) from error


def _bigclonebench_from_codexglue(functions_file: Path, pairs_file: Path) -> LoadedSplit:
    functions = {}
    for number, record in enumerate(read_jsonl(functions_file), start=1):
        where = f"{functions_file} record {number}"
        functions[str(_field(record, ("idx",), where, "CodeXGLUE's fields func, idx"))] = _field(
            record, ("func",), where, "CodeXGLUE's fields func, idx")
    documents = []
    with open_text(pairs_file) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parts = line.split()
            where = f"{pairs_file} line {number}"
            if len(parts) != 3:
                raise ValueError(f"{where}: expected `id1<TAB>id2<TAB>label`, got {line.strip()!r}. Fix: pass "
                                 f"CodeXGLUE's test.txt unchanged.")
            id1, id2, label = parts
            missing = [idx for idx in (id1, id2) if idx not in functions]
            if missing:
                raise ValueError(f"{where}: function {missing[0]} is not in {functions_file}. Fix: pass the data.jsonl "
                                 f"that belongs to this test.txt.")
            documents.append(_pair_document(len(documents), len(documents), id1, id2, functions[id1], functions[id2],
                                            _label(label, "label", where)))
    return LoadedSplit(documents, f"{functions_file} + {pairs_file}", len(documents))


def _bigclonebench_from_batches(batches: Iterable, source: str) -> LoadedSplit:
    """Documents from the Hub's columns (id, id1, id2, func1, func2, label). Each function's text
    is read once and shared by its pairs: the split repeats 9,000 functions over 415,416 pairs."""
    functions: dict = {}
    documents: list[dict] = []
    for batch in batches:
        missing = {"id1", "id2", "func1", "func2", "label"} - set(batch.schema.names)
        if missing:
            raise ValueError(f"{source}: no column {', '.join(sorted(missing))} (found {', '.join(batch.schema.names)}); "
                             f"expected the Hub's columns id, id1, id2, func1, func2, label. Fix: pass a snapshot of "
                             f"{BIGCLONEBENCH_HUB}.")
        columns = {name: batch.column(name).to_pylist() for name in ("id1", "id2", "label")}
        for side in ("1", "2"):
            ids = columns[f"id{side}"]
            new = [row for row, idx in enumerate(ids) if idx not in functions]
            texts = batch.column(f"func{side}").take(new).to_pylist() if new else []
            for row, text in zip(new, texts):
                functions.setdefault(ids[row], text)
        pair_ids = batch.column("id").to_pylist() if "id" in batch.schema.names else None
        for row, (id1, id2, label) in enumerate(zip(columns["id1"], columns["id2"], columns["label"])):
            index = len(documents)
            documents.append(_pair_document(index, pair_ids[row] if pair_ids else index, id1, id2, functions[id1],
                                            functions[id2], _label(label, "label", f"{source} row {index}")))
    return LoadedSplit(documents, source, len(documents))
