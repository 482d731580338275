"""Code understanding (CodeXGLUE): Devign defect detection and BigCloneBench clone detection,
asked of an instruction-tuned model as YES/NO questions, scored as binary classification.

Tasks: `devign` (is this C function defective? primary metric accuracy) and `bigclonebench` (are
these two Java functions clones? primary metric F1 of the clone class): the study's Table 2.

Data (test split), from the local data directory (`--data-dir` / $ASTRAIOS_DATA_DIR), first match:
    devign/test.jsonl               CodeXGLUE's file (idx, func, target, project, commit_id), or
                                    records in the Hub's fields (id, func, target)
    devign/data/test-*.parquet      a snapshot of the Hub dataset (or devign/test.parquet)
    devign/function.json + devign/test.txt (or split_test.txt): CodeXGLUE's raw release
    devign/sample_test.jsonl + devign/split_test.txt: part of the split (a few real records);
                                    positions come from the split ids, results say it is partial
    bigclonebench/data.jsonl + bigclonebench/test.txt: CodeXGLUE's files (functions by idx; one
                                    `id1<TAB>id2<TAB>label` pair per line)
    bigclonebench/test.jsonl        records with func1, func2, label (the Hub's fields)
    bigclonebench/data/test-*.parquet (or bigclonebench/test.parquet): a Hub snapshot
else the Hub (`google/code_x_glue_cc_defect_detection`, `google/code_x_glue_cc_clone_detection_big_clone_bench`,
test parquet files only). A document's `index` is its position in the full test split, in the
Hub's (= CodeXGLUE's) order; its id is Devign's function idx, or BigCloneBench's pair number
(line of test.txt).

Sampling (`select`): N = --limit test examples (default 2,000, as the study), drawn with --seed:
- `natural` (default): stratified: each class gets its share of N in the split's label ratio
  (rounded half up for the positive class), drawn uniformly within the class;
- `uniform`: a simple random sample of N (the label ratio varies by chance);
- `as-study`: exactly the examples the study's Table 2 scores came from. Devign: its notebook drew
  1,081 clean then 919 defective functions from the 2,732 test functions (the split's ratio) with
  Python's `random.seed(0)` and `random.sample` over each class's positions, then shuffled the 2,000
  with `datasets`' `shuffle(seed=0)`. BigCloneBench, two stages: the harness drew 1,726 non-clones
  and 1,000 clones that way from the 415,416 test pairs, and the notebook then drew all 1,726
  non-clones and 274 of the clones from the harness's 2,726 (so 13.7% clones, not the split's ratio);
  see STUDY.md. --seed replaces the study's 0; --limit takes the first N of the study's shuffled sample.
The natural and uniform samples are in dataset order; the ids are recorded in results.json.

Prompts (OctoCoder form; `--wording study` uses the study harness's exact sentences instead):
    Question: {code}\\nIs there a defect in the code? Answer YES or NO.\\n\\nAnswer:
    Question: Code 1:\\n{code1}\\nCode 2:\\n{code2}\\nAre Code 1 and Code 2 clones of each other? Answer YES or NO.\\n\\nAnswer:
`--shots 1` puts one solved example first (the study's ablation): for Devign the study's own
exemplar (QEMU's `cris_bound_w`, answered YES); for BigCloneBench, for which the study has no
one-shot run, a short hand-written pair of Java functions that read a file into a string (YES).

Scoring (`--scoring`):
- `loglik` (default): the answer is the more likely of YES and NO after the prompt, each side
  being the log-sum-exp of its case variants (` YES`/` Yes`/` yes` vs ` NO`/` No`/` no`), so a
  model that prefers "Yes" is read correctly. No parsing, no invalid answers; one forward pass per
  example when the backend can read all continuations off one pass over the prompt.
- `generate` (the study's way): greedy, at most 16 new tokens, stop at a newline; the answer is
  parsed (`parse_answer`) and an unparseable one counts as wrong, reported as `invalid_rate`.
Long inputs: the code (never the question) is cut to fit the model's context, room kept for the
answer; two functions share the room (the shorter keeps all it can). Prompts that were cut are counted.

Saved generations: ours (one list with the answer per document), or the study harness's files
(`[[{"raw_text": ..., ...}], ...]`, answers after the last "\\nAnswer:"), for the full test split or
for exactly the sampled documents.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from astraios.generate.base import score_choices
from astraios.generate.cache import Request
from astraios.metrics import classification_metrics, confusion_matrix
from astraios.tasks.base import Task, TaskScore
from astraios.tasks.data import (
    DataNotFoundError,
    data_dir,
    find_local,
    missing_data_message,
    open_text,
    read_jsonl,
)

SAMPLE_SIZE = 2000
SCORINGS = ("loglik", "generate")
BALANCES = ("natural", "uniform", "as-study")
WORDINGS = ("plain", "study")
SHOTS = (0, 1)
ANSWER_TOKENS = 16  # generate: enough for a short sentence; the parser reads only the first one
ANSWER_STOP = ("\n",)
ANSWER_VARIANTS = {1: (" YES", " Yes", " yes"), 0: (" NO", " No", " no")}
CHOICES = (*ANSWER_VARIANTS[1], *ANSWER_VARIANTS[0])
HARNESS_ANSWER_MARK = "\nAnswer:"
# Study sampling, (positives, negatives) per stage, each stage drawing from the previous one.
STUDY_STAGES = {"devign": ((919, 1081),), "bigclonebench": ((1000, 1726), (274, 1726))}
STUDY_SEED = 0

DEVIGN_HUB = "google/code_x_glue_cc_defect_detection"
BIGCLONEBENCH_HUB = "google/code_x_glue_cc_clone_detection_big_clone_bench"
HUB_TEST_FILES = "data/test-*"

DEVIGN_EXEMPLAR = ('static inline int cris_bound_w(int v, int b) { int r = v; '
                   'asm ("bound.w\\t%1, %0\\n" : "+r" (r) : "ri" (b)); return r; }')
BIGCLONEBENCH_EXEMPLAR = (
    "public static String readFile(String path) throws IOException {\n"
    "    StringBuilder text = new StringBuilder();\n"
    "    BufferedReader reader = new BufferedReader(new FileReader(path));\n"
    "    String line;\n"
    "    while ((line = reader.readLine()) != null) {\n"
    "        text.append(line).append('\\n');\n"
    "    }\n"
    "    reader.close();\n"
    "    return text.toString();\n"
    "}",
    "public String loadText(File file) throws IOException {\n"
    "    byte[] bytes = new byte[(int) file.length()];\n"
    "    FileInputStream in = new FileInputStream(file);\n"
    "    in.read(bytes);\n"
    "    in.close();\n"
    "    return new String(bytes);\n"
    "}",
)


# ----------------------------------------------------------------------------------------------
# Answers


AFFIRMATIVE = {"yes", "yeah", "yep", "true"}
NEGATIVE = {"no", "nope", "false"}
NEGATORS = {"no", "not", "never", "without", "neither", "nor", "none", "cannot", "isnt", "arent", "doesnt",
            "dont", "hasnt", "havent", "wasnt", "werent", "didnt", "cant"}
NEGATION_WINDOW = 5  # words before a term that can negate it ("is not really a clone of")
WORD = r"[a-z]+(?:'[a-z]+)?"


def parse_answer(text: str, terms: str) -> int | None:
    """1 (YES), 0 (NO) or None (unparseable) from a free-text answer.

    Reads the first non-empty line: its leading word if that is yes/no/true/false (or the whole
    answer is Y or N); else the first mention of the task's subject (`terms`, a regex such as
    `defect|bug`) in the first sentence, NO when a negation ("no", "not", "n't", "without", ...)
    comes shortly before it or "-free" after it, YES otherwise; else a lone yes/no/true/false in
    that sentence, when only one side occurs.
    """
    line = next((line for line in text.replace("\u2019", "'").split("\n") if line.strip()), "").lower()
    words = re.findall(WORD, line)
    bare = re.sub(r"[^a-z]", "", line)
    if bare in ("y", "n"):
        return int(bare == "y")
    if words and words[0] in AFFIRMATIVE | NEGATIVE:
        return int(words[0] in AFFIRMATIVE)
    sentence = re.split(r"[.!?;](?:\s|$)", line, maxsplit=1)[0]
    mention = re.search(rf"\b(?:{terms})", sentence)
    if mention:
        before = re.findall(WORD, sentence[:mention.start()])[-NEGATION_WINDOW:]
        negated = any(word.replace("'", "") in NEGATORS or word.endswith("n't") for word in before)
        free = re.match(r"\w*[\s-]free\b", sentence[mention.start():])
        return 0 if negated or free else 1
    sides = {word in AFFIRMATIVE for word in re.findall(WORD, sentence) if word in AFFIRMATIVE | NEGATIVE}
    return int(sides.pop()) if len(sides) == 1 else None


def harness_answer(item) -> str:
    """Our prediction from one entry of a study harness file: the text after its last "Answer:"."""
    if isinstance(item, str):
        return item
    return item["raw_text"].split(HARNESS_ANSWER_MARK)[-1]


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(value - top) for value in values))


# ----------------------------------------------------------------------------------------------
# Sampling


def stratified_counts(size: int, positives: int, negatives: int) -> tuple[int, int]:
    """(positives, negatives) of a sample of `size` (at most the population) in the population's
    label ratio, the positive share rounded half up; neither class can run short."""
    chosen = math.floor(size * positives / (positives + negatives) + 0.5)
    return chosen, size - chosen


def study_draw(labels: Sequence[int], positives: int, negatives: int, seed: int) -> list[int]:
    """Positions drawn the study's way: `random.seed(seed)`, sample `negatives` of the negatives'
    positions then `positives` of the positives' (both in dataset order), concatenate, and shuffle
    with a numpy generator, as `datasets.Dataset.shuffle(seed=seed)` does."""
    import numpy as np

    rng = random.Random(seed)
    negative_positions = [position for position, label in enumerate(labels) if label == 0]
    positive_positions = [position for position, label in enumerate(labels) if label == 1]
    chosen = ([negative_positions[i] for i in rng.sample(range(len(negative_positions)), negatives)]
              + [positive_positions[i] for i in rng.sample(range(len(positive_positions)), positives)])
    return [chosen[i] for i in np.random.default_rng(seed).permutation(len(chosen))]


def study_sample(labels: Sequence[int], stages: Sequence[tuple[int, int]], seed: int = STUDY_SEED) -> list[int]:
    """Positions (into `labels`) of the study's sample: each stage draws from the previous stage's
    sample, in that sample's order."""
    positions = list(range(len(labels)))
    for positives, negatives in stages:
        drawn = study_draw([labels[position] for position in positions], positives, negatives, seed)
        positions = [positions[i] for i in drawn]
    return positions


# ----------------------------------------------------------------------------------------------
# Prompt fitting


class PromptFitter:
    """Cuts the code of a prompt (never the question) so that it fits the model's context with
    `reserve` tokens left for the answer. Several code pieces share the room: each gets an equal
    share, and what a short piece does not use goes to the longer ones."""

    def __init__(self, tokenizer, context: int, reserve: int):
        self.tokenizer = tokenizer
        self.budget = context - reserve

    @classmethod
    def for_backend(cls, backend, reserve: int) -> PromptFitter | None:
        """A fitter for a backend with a local tokenizer, or None (e.g. a remote server)."""
        tokenizer = getattr(backend, "tokenizer", None)
        context = getattr(backend, "context", None) or getattr(tokenizer, "model_max_length", None)
        if tokenizer is None or not isinstance(context, int) or context > 10**7:
            return None
        return cls(tokenizer, context, reserve)

    def length(self, text: str) -> int:
        # With special tokens, as backends encode; quiet about texts longer than the model's window.
        return len(self.tokenizer(text, verbose=False)["input_ids"])

    def fit(self, render: Callable[[Sequence[str]], str], codes: Sequence[str]) -> tuple[str, bool]:
        """(the prompt, whether any code was cut)."""
        prompt = render(codes)
        excess = self.length(prompt) - self.budget
        if excess <= 0:
            return prompt, False
        pieces = [self.tokenizer(code, add_special_tokens=False, verbose=False)["input_ids"] for code in codes]
        room = sum(map(len, pieces)) - excess
        # Cutting can change how tokens merge at the edges: measure again and shrink until it fits.
        while room > 0:
            shares = _share(room, [len(piece) for piece in pieces])
            cut = [self.tokenizer.decode(piece[:share]).rstrip("\ufffd") for piece, share in zip(pieces, shares)]
            prompt = render(cut)
            excess = self.length(prompt) - self.budget
            if excess <= 0:
                return prompt, True
            room -= excess
        raise ValueError(f"the question alone takes more than the model's {self.budget}-token budget "
                         f"(context minus the answer's room); no code would fit. Fix: use a model with a longer context.")


def _share(room: int, lengths: Sequence[int]) -> list[int]:
    """Token counts that sum to at most `room`: water-filling, shortest pieces first."""
    shares = [0] * len(lengths)
    left = room
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for rank, i in enumerate(order):
        shares[i] = min(lengths[i], left // (len(order) - rank))
        left -= shares[i]
    return shares


# ----------------------------------------------------------------------------------------------
# Data


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

    dataset = load_dataset(repo_id, data_files={"test": HUB_TEST_FILES}, split="test")
    return dataset.with_format("arrow").iter(batch_size=10_000)


class LoadedSplit:
    """A loaded test split: its documents, where they came from, and how big the split is."""

    def __init__(self, documents: list, source: str | None, split_size: int):
        self.documents = documents
        self.source = source
        self.split_size = split_size

    @property
    def complete(self) -> bool:
        return len(self.documents) == self.split_size


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
        return LoadedSplit(documents, f"{sample} (part of the split in {split_ids})", len(rank))
    if directory is not None:
        raise DataNotFoundError(missing_data_message("Devign", candidates, directory, DEVIGN_HUB))
    try:
        return _devign_from_batches(_hub_batches(DEVIGN_HUB), f"hub:{DEVIGN_HUB}")
    except Exception as error:  # offline, no such repo, auth: all end in the same advice
        raise DataNotFoundError(missing_data_message("Devign", candidates, None, DEVIGN_HUB, error)) from error


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
        raise DataNotFoundError(missing_data_message("BigCloneBench", candidates, directory, BIGCLONEBENCH_HUB))
    try:
        return _bigclonebench_from_batches(_hub_batches(BIGCLONEBENCH_HUB), f"hub:{BIGCLONEBENCH_HUB}")
    except Exception as error:  # offline, no such repo, auth: all end in the same advice
        raise DataNotFoundError(missing_data_message("BigCloneBench", candidates, None, BIGCLONEBENCH_HUB,
                                                     error)) from error


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


# ----------------------------------------------------------------------------------------------
# Tasks


class UnderstandingTask(Task):
    """A YES/NO question about code, scored as binary classification (1 = YES = the positive class)."""

    subject: str  # regex of the words that name the positive class, for parsing free answers
    stages: tuple[tuple[int, int], ...]  # the study's (positives, negatives) draws, see STUDY_STAGES

    def __init__(self, scoring: str = "loglik", shots: int = 0, balance: str = "natural", wording: str = "plain",
                 seed: int = STUDY_SEED):
        for flag, value, allowed in (("--scoring", scoring, SCORINGS), ("--shots", shots, SHOTS),
                                     ("--balance", balance, BALANCES), ("--wording", wording, WORDINGS)):
            if value not in allowed:
                raise ValueError(f"{flag} {value}: expected one of {', '.join(map(str, allowed))}")
        self.scoring = scoring
        self.shots = shots
        self.balance = balance
        self.wording = wording
        self.seed = seed
        self.dataset: LoadedSplit | None = None
        self.sample: dict = {}
        self.outcomes: dict[str, dict] = {}  # doc_id -> what predict learnt (truncation, log-probs)

    # Data and sampling

    @abstractmethod
    def load(self, data_dir=None) -> LoadedSplit:
        """The test split, from the local data directory or the Hub."""

    def documents(self, data_dir=None) -> list[dict]:
        self.dataset = self.load(data_dir)
        return self.dataset.documents

    def select(self, documents, limit):
        size = SAMPLE_SIZE if limit is None else limit
        labels = [document["label"] for document in documents]
        dataset = self.dataset or LoadedSplit(documents, None, len(documents))
        if self.balance == "as-study":
            chosen = [documents[i] for i in self._study_positions(labels, dataset)][:size]
        elif size >= len(documents):
            chosen = list(documents)
        elif self.balance == "uniform":
            chosen = sorted(random.Random(self.seed).sample(documents, size), key=lambda document: document["index"])
        else:
            positives = [document for document in documents if document["label"] == 1]
            negatives = [document for document in documents if document["label"] == 0]
            wanted_positives, wanted_negatives = stratified_counts(size, len(positives), len(negatives))
            rng = random.Random(self.seed)
            chosen = sorted(rng.sample(positives, wanted_positives) + rng.sample(negatives, wanted_negatives),
                            key=lambda document: document["index"])
        positives = sum(document["label"] for document in chosen)
        self.sample = {
            "balance": self.balance, "seed": self.seed, "size": len(chosen), "positives": positives,
            "negatives": len(chosen) - positives, "source": dataset.source,
            "population": {"documents": len(documents), "positives": sum(labels), "split_size": dataset.split_size,
                           "complete": dataset.complete},
        }
        return chosen

    def _study_positions(self, labels: list[int], dataset: LoadedSplit) -> list[int]:
        first_positives, first_negatives = self.stages[0]
        if not dataset.complete or sum(labels) < first_positives or len(labels) - sum(labels) < first_negatives:
            raise ValueError(
                f"--balance as-study draws {first_positives:,} positive and {first_negatives:,} negative examples from "
                f"the complete {self.name} test split ({dataset.split_size:,} examples), but "
                f"{dataset.source or 'the data'} holds {len(labels):,} ({sum(labels):,} positive). Fix: provide the "
                f"complete test split (see `astraios.tasks.codexglue`) or use --balance natural.")
        return study_sample(labels, self.stages, self.seed)

    # Prompts

    @abstractmethod
    def codes(self, document: dict) -> list[str]:
        """The code the question is about (one function, or two)."""

    @abstractmethod
    def question(self, codes: Sequence[str]) -> str:
        """The question about `codes`, without "Question:"/"Answer:"."""

    @abstractmethod
    def exemplar(self) -> list[str]:
        """The code of the solved example that `--shots 1` shows first (its answer is YES)."""

    def render(self, codes: Sequence[str]) -> str:
        prompt = f"Question: {self.question(codes)}\n\nAnswer:"
        if self.shots:
            return f"Question: {self.question(self.exemplar())}\n\nAnswer: YES\n\n{prompt}"
        return prompt

    def prompt(self, document: dict) -> str:
        return self.render(self.codes(document))

    # Predictions

    def expected_predictions(self, documents, sampling):
        return len(documents)

    def predict(self, backend, documents, sampling, cache, on_progress=None):
        """One answer per document ("YES"/"NO" for loglik, the raw completion for generate), through
        the cache (keyed by the untruncated prompt, so a resumed run needs no tokenizer)."""
        stream = f"{self.name}-{self.scoring}"
        prompts = [self.prompt(document) for document in documents]
        keys = [self._cache_key(cache.identity, document, prompt) for document, prompt in zip(documents, prompts)]
        known = cache.completions(stream)
        pending = [i for i, key in enumerate(keys) if key not in known]
        if on_progress:
            on_progress(len(documents) - len(pending))
        if pending and backend is None:
            raise ValueError(f"{self.name}: {len(pending)} answers are neither cached nor given, and no model was "
                             f"loaded. Fix: pass --model.")
        if pending:
            reserve = ANSWER_TOKENS if self.scoring == "generate" else self._choice_tokens(backend)
            fitter = PromptFitter.for_backend(backend, reserve)
            per_call = max(1, backend.rows_per_call)
            for start in range(0, len(pending), per_call):
                call = pending[start:start + per_call]
                fitted = [fitter.fit(self.render, self.codes(documents[i])) if fitter else (prompts[i], None)
                          for i in call]
                outcomes = self._answers(backend, [prompt for prompt, _ in fitted])
                for i, (_, truncated), outcome in zip(call, fitted, outcomes):
                    record = json.dumps({**outcome, "truncated": truncated})
                    cache.add(stream, keys[i], Request(i, documents[i]["doc_id"], prompts[i], 0), record)
                if on_progress:
                    on_progress(len(call))
        records = [json.loads(known[key]) for key in keys]
        self.outcomes = {document["doc_id"]: record for document, record in zip(documents, records)}
        return [[record["answer"]] for record in records]

    def _cache_key(self, identity: dict, document: dict, prompt: str) -> str:
        material = {**identity, "task": self.name, "scoring": self.scoring, "doc_id": document["doc_id"],
                    "prompt": hashlib.sha256(prompt.encode()).hexdigest(),
                    "answers": list(CHOICES) if self.scoring == "loglik" else
                    {"max_new_tokens": ANSWER_TOKENS, "stop": list(ANSWER_STOP)}}
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def _choice_tokens(backend) -> int:
        tokenizer = getattr(backend, "tokenizer", None)
        if tokenizer is None:
            return 0
        return max(len(tokenizer(choice, add_special_tokens=False)["input_ids"]) for choice in CHOICES)

    def _answers(self, backend, prompts: list[str]) -> list[dict]:
        if self.scoring == "generate":
            completions = backend.generate(prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=ANSWER_TOKENS,
                                           stop=ANSWER_STOP)
            return [{"answer": texts[0]} for texts in completions]
        outcomes = []
        for scores in score_choices(backend, [(prompt, CHOICES) for prompt in prompts]):
            yes = _logsumexp(scores[:len(ANSWER_VARIANTS[1])])
            no = _logsumexp(scores[len(ANSWER_VARIANTS[1]):])
            outcomes.append({"answer": "YES" if yes > no else "NO", "yes_logprob": yes, "no_logprob": no})
        return outcomes

    # Scoring

    def score(self, documents, predictions, *, workers=None, progress=True) -> TaskScore:
        labels = [document["label"] for document in documents]
        answers = [texts[0] if texts else "" for texts in predictions]
        parsed = [parse_answer(answer, self.subject) for answer in answers]
        per_document = []
        for document, answer, prediction in zip(documents, answers, parsed):
            outcome = self.outcomes.get(document["doc_id"], {})
            entry = {"doc_id": document["doc_id"], "label": document["label"], "prediction": prediction,
                     "correct": prediction == document["label"], "answer": answer[:200],
                     "truncated": outcome.get("truncated")}
            entry.update({key: outcome[key] for key in ("yes_logprob", "no_logprob") if key in outcome})
            per_document.append(entry)
        truncations = [entry["truncated"] for entry in per_document if entry["truncated"] is not None]
        details = {
            "confusion_matrix": confusion_matrix(labels, parsed),
            "truncated_prompts": sum(truncations) if truncations else None,
            "sample": self.sample,
            "sample_ids": [document["doc_id"] for document in documents],
        }
        return TaskScore(metrics=classification_metrics(labels, parsed), per_document=per_document, details=details)

    def from_file(self, lists, all_documents, documents, source):
        """Predictions from our generations file or the study harness's (dicts with `raw_text`),
        written for the full test split or for exactly these documents."""
        if not isinstance(lists, list) or not all(
                isinstance(entry, list) and all(isinstance(item, str) or isinstance(item, dict) and "raw_text" in item
                                                for item in entry) for entry in lists):
            raise ValueError(f"{source}: expected a JSON list with one list per document, of answers (strings) or of "
                             f"the study harness's records with `raw_text`.")
        answers = [[harness_answer(item) for item in entry] for entry in lists]
        split_size = self.dataset.split_size if self.dataset else len(all_documents)
        if len(answers) == split_size:
            return [answers[document["index"]] for document in documents]
        if len(answers) == len(documents):
            return answers
        raise ValueError(f"{source} holds {len(answers)} entries but the {self.name} test split has {split_size} "
                         f"examples ({len(documents)} sampled). Fix: pass the file written for this task with the "
                         f"same --limit, --seed and --balance, or one covering the whole test split.")

    def settings(self) -> dict:
        settings = {"scoring": self.scoring, "shots": self.shots, "balance": self.balance, "wording": self.wording,
                    "seed": self.seed, "data": self.dataset.source if self.dataset else None}
        if self.scoring == "generate":
            settings["decoding"] = f"greedy, at most {ANSWER_TOKENS} new tokens, stop at a newline"
        else:
            settings["answers"] = {"YES": list(ANSWER_VARIANTS[1]), "NO": list(ANSWER_VARIANTS[0])}
        if self.dataset is not None and not self.dataset.complete:
            settings["partial_data"] = (f"{len(self.dataset.documents)} of the {self.dataset.split_size} test examples: "
                                        f"scores are not comparable with the full split's")
        return settings


class Devign(UnderstandingTask):
    name = "devign"
    description = "C: is there a defect in this function? (CodeXGLUE Devign, YES/NO, accuracy)"
    primary_metric = "accuracy"
    language = "c"
    subject = r"defect|bug|vulnerab|flaw"
    stages = STUDY_STAGES["devign"]

    def load(self, data_dir=None):
        return load_devign(data_dir)

    def codes(self, document):
        return [document["func"]]

    def question(self, codes):
        if self.wording == "study":
            return f"{codes[0]}\nIs there a defect in the Code, and respond to YES or NO."
        return f"{codes[0]}\nIs there a defect in the code? Answer YES or NO."

    def exemplar(self):
        return [DEVIGN_EXEMPLAR]


class BigCloneBench(UnderstandingTask):
    name = "bigclonebench"
    description = "Java: are these two functions clones? (CodeXGLUE BigCloneBench, YES/NO, F1)"
    primary_metric = "f1"
    language = "java"
    subject = r"clone|equivalent|same function"
    stages = STUDY_STAGES["bigclonebench"]

    def load(self, data_dir=None):
        return load_bigclonebench(data_dir)

    def codes(self, document):
        return [document["func1"], document["func2"]]

    def question(self, codes):
        if self.wording == "study":
            return (f"Code1: {codes[0]}.\nCode2: {codes[1]}.\nIs there a clone relation between the Code1 and Code2, "
                    f"and respond to YES or NO.")
        return f"Code 1:\n{codes[0]}\nCode 2:\n{codes[1]}\nAre Code 1 and Code 2 clones of each other? Answer YES or NO."

    def exemplar(self):
        return list(BIGCLONEBENCH_EXEMPLAR)


TASKS = {task.name: (task, ()) for task in (Devign, BigCloneBench)}
