"""HumanEvalPack (OctoPack): code synthesis, repair and explanation in Python and Java, scored by
running each program's unit tests in the sandbox.

Prompts, stop sequences and post-processing follow bigcode-evaluation-harness's `humanevalpack`
tasks with the `octocoder` prompt, which the Astraios study used, so scores are comparable:

- prompt: `Question: {instruction}[\\n{context}]\\n\\nAnswer:\\n{code prefix}`, stripped at both ends
  (a trailing newline would split the indentation token the model expects next);
- synthesize: instruction = the problem's instruction, code prefix = the function's prompt
  (signature and docstring);
- fixtests: instruction = `Fix bugs in {entry_point}.`, context = the buggy function and its
  tests, code prefix = the bare declaration;
- explaindescribe: the correct function as context, `Provide a concise natural language
  description of the code using at most {len(docstring)} characters.`; the answer is cut to that
  length, and any line of the solution longer than 20 characters is removed from it (no code leaks
  into the explanation);
- explainsynthesize: `Write functional code in {Language} according to the description.` with
  one explanation as context, code prefix = the bare declaration. Sample i uses explanation
  i mod m of the m explanations per problem, so with 20 explanations and 20 samples each
  explanation is used once, as in the study (20 descriptions x 1 synthesis each);
- post-processing keeps the first function: the completion is cut at the first stop sequence,
  then (Python) before the first non-indented line, or (Java) after the brace that closes the
  class, and the code prefix is put back in front: the saved "generation" is the whole program;
- execution: Python programs get the harness's import header (numpy bound lazily, see
  PYTHON_HEADER) and the test suite appended; Java
  programs are the class `Solution` followed by the test's `public class Main`. Each runs in the
  sandbox with a 10 s limit. A program that exits before its tests finish fails: the sandbox
  proves the tests ran to the end. For Python that is the harness's verdict too (its `exec`
  catches `sys.exit`'s SystemExit as a failure); only Java differs: the harness passes a program
  whose `System.exit(0)` ends it early, since it reads only the exit status.

Identical programs are executed once (`astraios.tasks.execution`): greedy or low-temperature
samples repeat a lot, and the tests are deterministic, so the shared verdict changes nothing.

Every document counts in pass@k. A document with no samples (a saved-generations file with an
empty list) is an error naming the documents, since leaving it out would shrink the denominator
and overstate the score; `empty_samples="failed"` (`--empty-samples failed`) counts it as that
many failed samples instead.
"""

from __future__ import annotations

import re

from astraios.generate.base import cut_at_stop
from astraios.metrics import PASS_AT_K, pass_at_k_table
from astraios.tasks.base import GenerationTask, TaskScore, check_generations_file
from astraios.tasks.data import HubFile, load_jsonl_records
from astraios.tasks.execution import execute, python_tests

LANGUAGE_NAMES = {"python": "Python", "java": "Java"}
END_OF_TEXT = "<|endoftext|>"
STOP_SEQUENCES = {
    "python": ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\nassert", END_OF_TEXT),
    "java": (END_OF_TEXT,),
}
# Imports the harness puts in front of every Python program (generations may use them unimported).
# numpy is bound lazily (it loads on first use): the same behaviour, but programs that never touch
# it start in a third of the time, since importing numpy costs more than most tests.
PYTHON_HEADER = "\n".join([
    "import math", "import re", "import sys", "import copy", "import datetime", "import itertools",
    "import collections", "import heapq", "import statistics", "import functools", "import hashlib",
    "import importlib.util as _util",
    "_spec = _util.find_spec('numpy')",
    "_spec.loader = _util.LazyLoader(_spec.loader)",
    "numpy = np = sys.modules['numpy'] = _util.module_from_spec(_spec)",
    "_spec.loader.exec_module(numpy)",
    "del _util, _spec",
    "import string", "from typing import *", "from collections import *",
])
# The entry method's header, last in a Java declaration: `public [static] TYPE NAME(PARAMS) [throws X] {`.
JAVA_ENTRY = re.compile(r"^(?P<indent>\s*)public (?P<static>static )?(?P<type>.+?) (?P<name>\w+)\((?P<params>.*)\)"
                        r"(?: throws [\w., ]+)?\s*\{\s*$")
# Java generations that reproduce the test's class header with an empty body would clash with it.
EMPTY_MAIN_CLASS = "public class Main {\n    }"
# Braces already open where a Java completion starts: `class Solution {` and the method's `{`.
JAVA_OPEN_BRACES = 2
TIMEOUT_S = 10.0
PROBLEMS = 164  # in each language; fewer loaded (a sample) makes results partial
DESCRIPTION_LEAK_CHARS = 20
EMPTY_SAMPLES = ("error", "failed")  # what a document without samples is: an error, or failed samples


def octocoder_prompt(instruction: str, code_prefix: str = "", context: str | None = None) -> str:
    question = instruction if context is None else f"{instruction}\n{context}"
    return f"Question: {question}\n\nAnswer:\n{code_prefix}".strip()


def function_is_complete(language: str, code: str) -> bool:
    """Whether the completion already holds a whole function (what post-processing keeps)."""
    if language == "python":
        return any(line.strip() and line[0] not in " \t" for line in code.split("\n"))
    return code.count("{") + JAVA_OPEN_BRACES <= code.count("}")


def keep_first_function(language: str, code: str, stop_sequences=None) -> str:
    """The completion up to the end of the function it starts with (the harness's
    `remove_last_block`), after cutting at the first stop sequence (the language's by default)."""
    code = cut_at_stop(code, STOP_SEQUENCES[language] if stop_sequences is None else stop_sequences)
    if language == "python":
        lines = code.split("\n")
        for number, line in enumerate(lines):
            if line.strip() and line[0] not in " \t":
                return "\n".join(lines[:number])
        return code
    depth = JAVA_OPEN_BRACES
    for position, character in enumerate(code):
        depth += {"{": 1, "}": -1}.get(character, 0)
        if depth == 0:
            return code[:position + 1]
    # The class never closed: drop a generated main method and end at the last brace. The harness
    # then appends a brace only when the completion left exactly one of its own braces open (so a
    # class left open by the completion stays a compile error); kept as is for comparable scores.
    main = code.find("public static void main")
    if main != -1:
        code = code[:main] + "}"
    if "}" in code:
        code = code[:code.rfind("}") + 1]
    if code.count("{") - 1 == code.count("}"):
        code += "\n}"
    return code


def program_with_tests(language: str, program: str, test: str) -> str:
    """The generation with the problem's tests after it: what the harness runs in one process."""
    return candidate_program(language, program) + "\n" + test


def candidate_program(language: str, program: str) -> str:
    """The candidate the sandbox runs: the generation (Python: after the harness's header)."""
    if language == "python":
        return (PYTHON_HEADER + "\n" + program).strip() + "\n"
    return program.replace(EMPTY_MAIN_CLASS, "").strip() + "\n"


def judge_tests(language: str, document: dict) -> str:
    """The tests that judge a candidate of `document`, run in their own process. Python: the
    harness's header, the prompt's imports and helpers, the test (see
    `astraios.tasks.execution`). Java: the test's `Main` with a `Solution` whose entry method
    calls the candidate's and whose other methods are the declaration's own (`java_solution_proxy`;
    a task file's problem without a `declaration` gives its prompt, which ends with the same header)."""
    if language == "python":
        return python_tests(document.get("prompt", "") + document.get("canonical_solution", ""),
                            document.get("entry_point", ""), document["test"], PYTHON_HEADER)
    return java_solution_proxy(document.get("declaration") or document["prompt"]) + "\n" + document["test"]


def java_solution_proxy(declaration: str) -> str:
    """The tests' `Solution`: the declaration's own code (its imports and helper methods, e.g.
    Java/32's `poly`, trusted), with the entry method's body calling the candidate's method of
    that name through `AstraiosRemote` (plain data across, see astraios.sandbox)."""
    lines = declaration.rstrip().split("\n")
    entry = JAVA_ENTRY.match(lines[-1])
    if entry is None:
        raise ValueError(f"HumanEvalPack Java declaration: its last line {lines[-1]!r} is not the entry method's header")
    names = [parameter.split()[-1] for parameter in _java_parameters(entry["params"])]
    target = '"Solution"' if entry["static"] else "this"
    call = f"AstraiosRemote.call({target}, \"{entry['name']}\", new Object[] {{{', '.join(names)}}})"
    body = f"{call};" if entry["type"] == "void" else f"return {call};"
    indent = entry["indent"]
    return f"{declaration.rstrip()}\n{indent}    {body}\n{indent}}}\n}}\n"


def _java_parameters(text: str) -> list[str]:
    """A parameter list split at its top-level commas (generic arguments hold commas too)."""
    parameters, depth, current = [], 0, ""
    for character in text:
        depth += {"<": 1, ">": -1}.get(character, 0)
        if character == "," and depth == 0:
            parameters.append(current.strip())
            current = ""
        else:
            current += character
    return [parameter for parameter in [*parameters, current.strip()] if parameter]


class HumanEvalPackTask(GenerationTask):
    """Shared by the four HumanEvalPack tasks: data, stop sequences, execution scoring."""
    executes_code = judged = True

    variant: str
    summary: str
    primary_metric = "pass@1"
    pass_at_k = PASS_AT_K  # the k of the pass@k reported (those no larger than the samples)

    def __init__(self, language: str, timeout_s: float = TIMEOUT_S, empty_samples: str = "error"):
        from astraios.sandbox.program import MAX_TIMEOUT_S

        if language not in LANGUAGE_NAMES:
            raise ValueError(f"HumanEvalPack language {language!r}: expected one of {', '.join(LANGUAGE_NAMES)}")
        if not 0 < timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"--timeout {timeout_s!r}: expected seconds above 0 and at most {MAX_TIMEOUT_S:g}. "
                             f"Fix: e.g. --timeout 10")
        if empty_samples not in EMPTY_SAMPLES:
            raise ValueError(f"--empty-samples {empty_samples!r}: expected one of {', '.join(EMPTY_SAMPLES)}")
        self.language = language
        self.timeout_s = timeout_s
        self.empty_samples = empty_samples
        self.name = f"humaneval{self.variant}-{language}"
        self.description = f"{LANGUAGE_NAMES[language]}: {self.summary}"
        self.stop_sequences = STOP_SEQUENCES[language]
        self.problems_loaded: int | None = None

    def documents(self, data_dir=None) -> list[dict]:
        records = load_jsonl_records(
            f"HumanEvalPack {LANGUAGE_NAMES[self.language]}",
            [f"humanevalpack/humanevalpack_{self.language}.jsonl"],
            HubFile("bigcode/humanevalpack", f"data/{self.language}/data/humanevalpack.jsonl"),
            data_dir, download=f"humanevalpack-{self.language}",
        )
        self.problems_loaded = len(records)
        return [{**record, "doc_id": record["task_id"], "index": index} for index, record in enumerate(records)]

    def settings(self) -> dict:
        settings = {"prompt": "octocoder", "timeout_s": self.timeout_s, "empty_samples": self.empty_samples}
        if self.problems_loaded is not None and self.problems_loaded < PROBLEMS:  # e.g. --data-dir astraios-sample
            settings["partial_data"] = (f"{self.problems_loaded} of the {PROBLEMS} problems: scores are not "
                                        f"comparable with the full benchmark's")
        return settings

    def from_file(self, lists, all_documents, documents, source):
        predictions = super().from_file(lists, all_documents, documents, source)
        self.check_samples(documents, predictions, source)
        return predictions

    def check_samples(self, documents, predictions, source: str | None = None) -> None:
        """Refuse documents without samples (unless they count as failed): pass@k would drop them."""
        empty = [document["doc_id"] for document, programs in zip(documents, predictions) if not programs]
        if empty and self.empty_samples == "error":
            shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
            where = f"{source}: " if source else ""
            raise ValueError(f"{where}{self.name}: {len(empty)} of {len(documents)} documents have no samples "
                             f"({shown}); pass@k would leave them out and overstate the score. Fix: give every "
                             f"document its samples, or pass --empty-samples failed to count them as failed.")

    def is_complete(self, document, completion):
        return function_is_complete(self.language, completion)

    def keep_function(self, code_prefix: str, completion: str) -> str:
        return code_prefix.rstrip() + keep_first_function(self.language, completion.rstrip(), self.stop_sequences)

    def score(self, documents, predictions, *, workers=None, progress=True) -> TaskScore:
        self.check_samples(documents, predictions)
        sources = [[candidate_program(self.language, program) for program in programs] for programs in predictions]
        tests = [judge_tests(self.language, document) for document in documents]
        execution = execute(self.language, documents, sources, tests, timeout_s=self.timeout_s,
                            description=f"executing {self.name}", workers=workers, progress=progress)
        per_document = execution.pass_counts()
        # A document without samples counts as the usual number of failed ones (`empty_samples="failed"`).
        usual = max((entry["n"] for entry in per_document), default=0) or 1
        for entry in per_document:
            if not entry["n"]:
                entry.update(n=usual, empty=True)
        metrics = pass_at_k_table(((entry["n"], entry["passed"]) for entry in per_document), self.pass_at_k)
        return TaskScore(metrics=metrics, per_document=per_document, details=execution.details, logs=execution.logs)


class Synthesize(HumanEvalPackTask):
    variant = "synthesize"
    summary = "write a function from its docstring, scored by its unit tests"

    def prompt(self, document, sample=0):
        return octocoder_prompt(document["instruction"].strip(), document["prompt"])

    def postprocess(self, document, completion):
        return self.keep_function(document["prompt"], completion)


class FixTests(HumanEvalPackTask):
    variant = "fixtests"
    summary = "repair a buggy function given its failing unit tests"

    def prompt(self, document, sample=0):
        context = document["declaration"] + document["buggy_solution"] + "\n" + document["test"]
        return octocoder_prompt(f"Fix bugs in {document['entry_point']}.", document["declaration"], context)

    def postprocess(self, document, completion):
        return self.keep_function(document["declaration"], completion)


class ExplainDescribe(HumanEvalPackTask):
    """Writes the explanations that explain-synthesize turns back into code; it has no score of
    its own (its summary reports how long and how often empty the explanations are)."""

    variant = "explaindescribe"
    summary = "explain a correct function in words (feeds explainsynthesize; no score of its own)"
    primary_metric = None

    def prompt(self, document, sample=0):
        instruction = ("Provide a concise natural language description of the code using at most "
                       f"{len(document['docstring'])} characters.")
        return octocoder_prompt(instruction, "", document["declaration"] + document["canonical_solution"])

    def is_complete(self, document, completion):
        return len(completion.strip()) >= len(document["docstring"])

    def postprocess(self, document, completion):
        text = cut_at_stop(completion.strip()[:len(document["docstring"])], self.stop_sequences).rstrip()
        for line in document["canonical_solution"].split("\n"):
            line = line.strip()
            if len(line) > DESCRIPTION_LEAK_CHARS and line in text:
                text = text.replace(line, "")
        return text

    def score(self, documents, predictions, *, workers=None, progress=True) -> TaskScore:
        lengths = [[len(text) for text in texts] for texts in predictions]
        flat = [length for row in lengths for length in row]
        per_document = [{"doc_id": document["doc_id"], "n": len(row),
                         "mean_characters": sum(row) / len(row) if row else 0.0}
                        for document, row in zip(documents, lengths)]
        metrics = {"mean_characters": sum(flat) / len(flat) if flat else 0.0,
                   "empty_rate": sum(length == 0 for length in flat) / len(flat) if flat else 0.0}
        return TaskScore(metrics=metrics, per_document=per_document)


class ExplainSynthesize(HumanEvalPackTask):
    variant = "explainsynthesize"
    summary = "rewrite a function from the model's own explanation of it, scored by its unit tests"

    def __init__(self, language: str, timeout_s: float = TIMEOUT_S, empty_samples: str = "error"):
        super().__init__(language, timeout_s, empty_samples)
        self.describe_task = f"humanevalexplaindescribe-{language}"
        self.requires = (self.describe_task,)
        self.explanations: dict[str, list[str]] | None = None

    def use_predictions(self, task, predictions):
        if task != self.describe_task:
            super().use_predictions(task, predictions)
        self.explanations = predictions

    def explanations_of(self, document) -> list[str]:
        if self.explanations is None:
            raise ValueError(f"{self.name} needs the explanations of {self.describe_task}: evaluate both tasks "
                             f"together, or pass --generations {self.describe_task}=FILE.")
        found = self.explanations.get(document["doc_id"])
        if not found:
            raise ValueError(f"{self.name}: no explanation of {document['doc_id']} from {self.describe_task}. Fix: "
                             f"evaluate {self.describe_task} on the same documents (same --limit).")
        return found

    def prompt(self, document, sample=0):
        explanations = self.explanations_of(document)
        instruction = f"Write functional code in {LANGUAGE_NAMES[self.language]} according to the description."
        return octocoder_prompt(instruction, document["declaration"], explanations[sample % len(explanations)])

    def postprocess(self, document, completion):
        return self.keep_function(document["declaration"], completion)

    def to_file(self, documents, predictions):
        """The harness's layout: one entry per (problem, explanation), problems in order, each
        holding the programs generated from that explanation."""
        entries = []
        for document, programs in zip(documents, predictions):
            count = len(self.explanations_of(document))
            entries.extend(programs[j::count] for j in range(count))
        return entries

    def from_file(self, lists, all_documents, documents, source):
        """Accepts the harness's layout (k consecutive entries per problem) as well as ours."""
        check_generations_file(lists, source)
        for pool in (all_documents, documents):
            if lists and len(lists) % len(pool) == 0:
                k = len(lists) // len(pool)
                grouped = [[item for entry in lists[i * k:(i + 1) * k] for item in entry] for i in range(len(pool))]
                return super().from_file(grouped, all_documents, documents, source)
        return super().from_file(lists, all_documents, documents, source)


FAMILY = {
    task.variant: task for task in (Synthesize, FixTests, ExplainDescribe, ExplainSynthesize)
}
TASKS = {f"humaneval{variant}-{language}": (task, (language,))
         for variant, task in FAMILY.items() for language in LANGUAGE_NAMES}
