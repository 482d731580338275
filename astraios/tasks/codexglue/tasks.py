"""The `devign` and `bigclonebench` tasks: a YES/NO question per example, scored as binary
classification (1 = YES = the positive class), under one of two protocols (see the package docstring)."""

from __future__ import annotations

import hashlib
import json
from abc import abstractmethod
from collections.abc import Sequence

from astraios.generate.base import score_choices
from astraios.generate.cache import Request
from astraios.metrics import classification_metrics, confusion_matrix
from astraios.tasks.base import Task, TaskScore
from astraios.tasks.harness import PROTOCOLS, STUDY_DTYPE
from astraios.tasks.codexglue.answers import (
    ANSWER_STOP,
    ANSWER_TOKENS,
    ANSWER_VARIANTS,
    CHOICES,
    STUDY_KEYWORDS,
    harness_answer,
    loglik_answer,
    paper_answer,
    parse_answer,
)
from astraios.tasks.codexglue.loading import (
    LoadedSplit,
    load_bigclonebench,
    load_devign,
)
from astraios.tasks.codexglue.prompts import (
    SHOTS,
    STUDY_ONE_SHOT_PREFIX,
    STUDY_WINDOW,
    WORDINGS,
    PromptFitter,
    StudyWindow,
    render,
)
from astraios.tasks.codexglue.sampling import (
    BALANCES,
    SAMPLE_SIZE,
    STUDY_SEED,
    STUDY_STAGES,
    choose,
    study_sample,
)

SCORINGS = ("loglik", "generate")
# The options each protocol implies; protocol study fixes them (another value is an error).
PROTOCOL_OPTIONS = {
    "astraios": {"scoring": "loglik", "wording": "plain", "balance": "natural"},
    "study": {"scoring": "generate", "wording": "study", "balance": "as-study"},
}


class UnderstandingTask(Task):
    """A YES/NO question about code, scored as binary classification (1 = YES = the positive class)."""

    subject: str  # regex of the words that name the positive class, for parsing free answers
    stages: tuple[tuple[int, int], ...]  # the study's (positives, negatives) draws, see STUDY_STAGES
    primary_metrics: dict[str, str]  # protocol -> the metric tables rank by
    uses_sampling = False  # answers are greedy or log-likelihoods whatever --n-samples/--temperature say

    def __init__(self, protocol: str = "astraios", scoring: str | None = None, shots: int = 0,
                 balance: str | None = None, wording: str | None = None, seed: int = STUDY_SEED):
        if protocol not in PROTOCOLS:
            raise ValueError(f"--protocol {protocol}: expected one of {', '.join(PROTOCOLS)}. Fix: use one of those.")
        implied = PROTOCOL_OPTIONS[protocol]
        given = {"scoring": scoring, "wording": wording, "balance": balance}
        if protocol == "study":
            self._check_study(given, shots, seed)
        options = {name: implied[name] if value is None else value for name, value in given.items()}
        for flag, value, allowed in (("--scoring", options["scoring"], SCORINGS), ("--shots", shots, SHOTS),
                                     ("--balance", options["balance"], BALANCES),
                                     ("--wording", options["wording"], WORDINGS)):
            if value not in allowed:
                raise ValueError(f"{flag} {value}: expected one of {', '.join(map(str, allowed))}. Fix: use one of those.")
        self.protocol = protocol
        self.study = protocol == "study"
        self.scoring = options["scoring"]
        self.shots = shots
        self.balance = options["balance"]
        self.wording = options["wording"]
        self.seed = seed
        self.primary_metric = self.primary_metrics[protocol]
        self.required_dtype = STUDY_DTYPE if self.study else None
        self.dataset: LoadedSplit | None = None
        self.sample: dict = {}
        self.outcomes: dict[str, dict] = {}  # doc_id -> what predict learnt (truncation, log-probs)

    def _check_study(self, given: dict, shots: int, seed: int) -> None:
        implied = PROTOCOL_OPTIONS["study"]
        changes = [f"--{name} {value}" for name, value in given.items() if value not in (None, implied[name])]
        if seed != STUDY_SEED:
            changes.append(f"--seed {seed}")
        if changes:
            raise ValueError(
                f"{self.name}: --protocol study is the study's way as a whole (greedy answers to its questions about "
                f"its sample, seed {STUDY_SEED}, parsed by its notebook), and {', '.join(changes)} would change it. "
                f"Fix: drop {'them' if len(changes) > 1 else 'it'}, or use --protocol astraios with the options you "
                f"want.")
        if shots and self.name not in STUDY_ONE_SHOT_PREFIX:
            raise ValueError(f"{self.name}: --protocol study --shots 1 needs the study's one-shot exemplar for "
                             f"{self.name}, which is in no file astraios holds. Fix: use --shots 0, or --protocol "
                             f"astraios --shots 1 (a hand-written exemplar).")

    # Data and sampling

    @abstractmethod
    def load(self, data_dir=None) -> LoadedSplit:
        """The test split, from the local data directory or the Hub."""

    def documents(self, data_dir=None) -> list[dict]:
        self.dataset = self.load(data_dir)
        return self.dataset.documents

    def complete_documents(self, documents, lists, source):
        """The whole split when the local data holds only part of it (and knows every id) and
        `lists` is a study harness file for the whole split: its `true_label`s fill in the rest."""
        split = self.dataset
        if (split is None or split.complete or split.ids is None or len(lists) != split.split_size
                or not _harness_records(lists)):
            return documents
        labels = _harness_labels(lists, source)
        disagree = [document for document in split.documents if labels[document["index"]] != document["label"]]
        if disagree:
            raise ValueError(f"{source}: its true_label disagrees with {split.source} for {len(disagree)} examples "
                             f"(first: ID {disagree[0]['index']}), so it was not made for this test split. Fix: pass "
                             f"the study's file for {self.name}.")
        self.dataset = split.with_labels(labels, source)
        return self.dataset.documents

    def select(self, documents, limit):
        size = SAMPLE_SIZE if limit is None else limit
        labels = [document["label"] for document in documents]
        dataset = self.dataset or LoadedSplit(documents, None, len(documents))
        if self.balance == "as-study":
            chosen = [documents[i] for i in self._study_positions(labels, dataset)][:size]
        else:
            chosen = choose(documents, size, self.balance, self.seed)
        positives = sum(document["label"] for document in chosen)
        self.sample = {
            "balance": self.balance, "seed": self.seed, "size": len(chosen), "positives": positives,
            "negatives": len(chosen) - positives, "source": dataset.source, "labels_from": dataset.labels_from,
            "population": {"documents": len(documents), "positives": sum(labels), "split_size": dataset.split_size,
                           "complete": dataset.complete},
        }
        return chosen

    def _study_positions(self, labels: list[int], dataset: LoadedSplit, stages=None) -> list[int]:
        stages = stages or self.stages
        first_positives, first_negatives = stages[0]
        if not dataset.complete or sum(labels) < first_positives or len(labels) - sum(labels) < first_negatives:
            raise ValueError(
                f"--balance as-study draws {first_positives:,} positive and {first_negatives:,} negative examples from "
                f"the complete {self.name} test split ({dataset.split_size:,} examples), but "
                f"{dataset.source or 'the data'} holds {len(labels):,} ({sum(labels):,} positive). Fix: provide the "
                f"complete test split (see `astraios.tasks.codexglue`), a study harness file for the whole split "
                f"with --generations, or use --balance natural.")
        return study_sample(labels, stages, self.seed)

    # Prompts

    @abstractmethod
    def codes(self, document: dict) -> list[str]:
        """The code the question is about (one function, or two)."""

    def render(self, codes: Sequence[str]) -> str:
        return render(self.name, self.wording, self.shots, self.study, codes)

    def prompt(self, document: dict) -> str:
        return self.render(self.codes(document))

    # Predictions

    def expected_predictions(self, documents, sampling):
        return len(documents)

    def predict(self, backend, documents, sampling, cache, on_progress=None):
        """One answer per document ("YES"/"NO" for loglik, the raw completion for generate), through
        the cache (keyed by the untruncated prompt, so a resumed run needs no tokenizer)."""
        stubs = sum(1 for document in documents if document.get("stub"))
        if stubs:
            raise ValueError(f"{self.name}: {stubs} sampled examples have labels (from {self.dataset.labels_from}) but "
                             f"no code, so no model can answer them. Fix: provide the complete test split.")
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
            fitted = dict(zip(pending, self._fit(backend, [documents[i] for i in pending],
                                                 [prompts[i] for i in pending])))
            # Equal answer budgets batch together (the study's window gives each prompt its own).
            pending.sort(key=lambda i: fitted[i][2])
            per_call = max(1, backend.rows_per_call)
            for start in range(0, len(pending), per_call):
                call = pending[start:start + per_call]
                outcomes = self._answers(backend, [fitted[i] for i in call])
                for i, outcome in zip(call, outcomes):
                    record = json.dumps({**outcome, "truncated": fitted[i][1]})
                    cache.add(stream, keys[i], Request(i, documents[i]["doc_id"], prompts[i], 0), record)
                if on_progress:
                    on_progress(len(call))
        records = [json.loads(known[key]) for key in keys]
        self.outcomes = {document["doc_id"]: record for document, record in zip(documents, records)}
        return [[record["answer"]] for record in records]

    def _fit(self, backend, documents: list[dict], prompts: list[str]) -> list[tuple[str, bool | None, int]]:
        """(prompt as the model sees it, whether it was cut or None when unknown, answer token budget)."""
        tokenizer = getattr(backend, "tokenizer", None)
        if self.study:
            if tokenizer is None:
                raise ValueError(f"{self.name}: --protocol study cuts prompts to the study's {STUDY_WINDOW}-token "
                                 f"window with the model's tokenizer, and this backend has none. Fix: use the "
                                 f"transformers or vllm backend.")
            window = StudyWindow(tokenizer)
            return [window.fit(prompt) for prompt in prompts]
        reserve = ANSWER_TOKENS if self.scoring == "generate" else self._choice_tokens(tokenizer)
        fitter = PromptFitter.for_backend(backend, reserve)
        if fitter is None:
            return [(prompt, None, ANSWER_TOKENS) for prompt in prompts]
        return [(*fitter.fit(self.render, self.codes(document)), ANSWER_TOKENS) for document in documents]

    def _cache_key(self, identity: dict, document: dict, prompt: str) -> str:
        if self.scoring == "loglik":
            answers = list(CHOICES)
        elif self.study:
            answers = {"window": STUDY_WINDOW, "stop": list(ANSWER_STOP)}
        else:
            answers = {"max_new_tokens": ANSWER_TOKENS, "stop": list(ANSWER_STOP)}
        material = {**identity, "task": self.name, "scoring": self.scoring, "doc_id": document["doc_id"],
                    "prompt": hashlib.sha256(prompt.encode()).hexdigest(), "answers": answers}
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def _choice_tokens(tokenizer) -> int:
        if tokenizer is None:
            return 0
        return max(len(tokenizer(choice, add_special_tokens=False)["input_ids"]) for choice in CHOICES)

    def _answers(self, backend, fitted: list[tuple[str, bool | None, int]]) -> list[dict]:
        prompts = [prompt for prompt, _, _ in fitted]
        if self.scoring == "loglik":
            return [loglik_answer(scores) for scores in score_choices(backend, [(prompt, CHOICES) for prompt in prompts])]
        budgets = [budget for _, _, budget in fitted]
        completions = backend.generate(prompts, n=1, temperature=0.0, top_p=1.0, max_new_tokens=max(budgets),
                                       stop=ANSWER_STOP)
        answers = [texts[0] for texts in completions]
        if self.study and min(budgets) < max(budgets):
            window = StudyWindow(backend.tokenizer)
            answers = [window.cut_answer(answer, budget) for answer, budget in zip(answers, budgets)]
        return [{"answer": answer} for answer in answers]

    # Scoring

    def parse(self, answer: str) -> int | None:
        """1, 0 or None (unparseable): the notebook's parser under protocol study, ours otherwise."""
        return paper_answer(answer, STUDY_KEYWORDS[self.name]) if self.study else parse_answer(answer, self.subject)

    def score(self, documents, predictions, *, workers=None, progress=True) -> TaskScore:
        labels = [document["label"] for document in documents]
        answers = [texts[0] if texts else "" for texts in predictions]
        parsed = [self.parse(answer) for answer in answers]
        per_document = []
        for document, answer, prediction in zip(documents, answers, parsed):
            outcome = self.outcomes.get(document["doc_id"], {})
            entry = {"doc_id": document["doc_id"], "index": document["index"], "label": document["label"],
                     "prediction": prediction, "correct": prediction == document["label"], "answer": answer[:200],
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
        written for the full test split, for exactly these documents, or (BigCloneBench, as-study)
        for the harness's first-stage sample that the notebook drew from."""
        if not isinstance(lists, list) or not all(
                isinstance(entry, list) and all(isinstance(item, str) or isinstance(item, dict) and "raw_text" in item
                                                for item in entry) for entry in lists):
            raise ValueError(f"{source}: expected a JSON list with one list per document, of answers (strings) or of "
                             f"the study harness's records with `raw_text`.")
        answers = [[harness_answer(item) for item in entry] for entry in lists]
        split_size = self.dataset.split_size if self.dataset else len(all_documents)
        if len(answers) == split_size:
            positions = [document["index"] for document in documents]
        elif len(answers) == len(documents):
            positions = list(range(len(documents)))
        elif self.balance == "as-study" and len(self.stages) > 1 and len(answers) == sum(self.stages[0]):
            first_stage = self._study_positions([document["label"] for document in all_documents],
                                                self.dataset or LoadedSplit(all_documents, None, len(all_documents)),
                                                self.stages[:1])
            in_file = {position: line for line, position in enumerate(first_stage)}
            positions = [in_file[document["index"]] for document in documents]
        else:
            raise ValueError(f"{source} holds {len(answers)} entries but the {self.name} test split has {split_size} "
                             f"examples ({len(documents)} sampled). Fix: pass the file written for this task with the "
                             f"same --limit, --seed and --balance, or one covering the whole test split.")
        if _harness_records(lists):
            labels = _harness_labels(lists, source)
            wrong = [document for document, position in zip(documents, positions) if labels[position] != document["label"]]
            if wrong:
                raise ValueError(f"{source}: its true_label disagrees with the data for {len(wrong)} of the "
                                 f"{len(documents)} sampled examples (first: {self.name} {wrong[0]['doc_id']}), so it "
                                 f"was not written for this sample. Fix: pass the file made for these --balance, "
                                 f"--seed and --limit.")
        return [answers[position] for position in positions]

    def settings(self) -> dict:
        settings = {"protocol": self.protocol, "scoring": self.scoring, "shots": self.shots, "balance": self.balance,
                    "wording": self.wording, "seed": self.seed, "data": self.dataset.source if self.dataset else None}
        if self.study:
            settings.update(decoding=f"greedy; prompt and answer share {STUDY_WINDOW} tokens, the prompt cut from the "
                                     f"left; stop at a newline", parser="the study notebook's paper_method",
                            dtype=STUDY_DTYPE)
        elif self.scoring == "generate":
            settings["decoding"] = f"greedy, at most {ANSWER_TOKENS} new tokens, stop at a newline"
        else:
            settings["answers"] = {"YES": list(ANSWER_VARIANTS[1]), "NO": list(ANSWER_VARIANTS[0])}
        if self.dataset is not None and self.dataset.labels_from:
            settings["labels_from"] = (f"{self.dataset.labels_from} (true_label), for the test examples "
                                       f"{self.dataset.source} lacks")
        elif self.dataset is not None and not self.dataset.complete:
            settings["partial_data"] = (f"{len(self.dataset.documents)} of the {self.dataset.split_size} test examples: "
                                        f"scores are not comparable with the full split's")
        return settings


def _harness_records(lists) -> bool:
    """Whether a saved file is the study harness's: one record per example with its label."""
    return bool(lists) and all(len(entry) == 1 and isinstance(entry[0], dict) and "true_label" in entry[0]
                               for entry in lists)


def _harness_labels(lists, source: str) -> list[int]:
    labels = []
    for position, (record,) in enumerate(lists):
        if record.get("ID", position) != position or str(record["true_label"]) not in ("0", "1"):
            raise ValueError(f"{source}: entry {position} has ID {record.get('ID')!r} and true_label "
                             f"{record['true_label']!r}; the study harness writes ID = position and a 0/1 label. "
                             f"Fix: pass the harness's file unchanged.")
        labels.append(int(record["true_label"]))
    return labels


class Devign(UnderstandingTask):
    name = "devign"
    description = "C: is there a defect in this function? (CodeXGLUE Devign, YES/NO, accuracy)"
    primary_metric = "accuracy"
    primary_metrics = {"astraios": "accuracy", "study": "accuracy"}
    language = "c"
    subject = r"defect|bug|vulnerab|flaw"
    stages = STUDY_STAGES["devign"]

    def load(self, data_dir=None):
        return load_devign(data_dir)

    def codes(self, document):
        return [document["func"]]


class BigCloneBench(UnderstandingTask):
    name = "bigclonebench"
    description = ("Java: are these two functions clones? (CodeXGLUE BigCloneBench, YES/NO, F1: of the clone class, "
                   "or the study's macro F1 under --protocol study)")
    primary_metric = "f1_positive"
    primary_metrics = {"astraios": "f1_positive", "study": "f1_macro_study"}
    language = "java"
    subject = r"clone|equivalent|same function"
    stages = STUDY_STAGES["bigclonebench"]

    def load(self, data_dir=None):
        return load_bigclonebench(data_dir)

    def codes(self, document):
        return [document["func1"], document["func2"]]


TASKS = {task.name: (task, ()) for task in (Devign, BigCloneBench)}
