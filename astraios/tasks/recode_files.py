"""Saved ReCode generations (`--generations FILE`), read and written for the `recode-*` tasks.

Two layouts:
- ours: one record per prompt, `{"task_id", "perturbation_name", "seed", "generations": [...]}`
  (nominal records have `perturbation_name: "nominal"`, `seed: null`), which `astraios eval` writes;
- the harness's output of its `perturbed-humaneval-{category}-num_seeds_{s}` task: a list of lists
  of programs in the Hub dataset's order after the seed filter (bigcode-evaluation-harness, branch
  `astraios`, `bigcode_eval/tasks/recode.py`). That order is ReCode's release read file by file in
  file-name order; `recode_data` reads it in (transformation, seed) order, the same but for natgen,
  whose `DeadCodeInserterLast` files sort before `DeadCodeInserter` by name. Where the orders agree
  a harness file for the whole category aligns by position; harness programs begin with their
  stripped prompt, so elsewhere (or for a file covering a subset) each entry is matched to the
  records by that prompt. A harness file has no nominal generations.
"""

from __future__ import annotations

import re
from collections import defaultdict

from astraios.tasks.recode_data import NOMINAL

FIRST_DEF = re.compile(r"def\s+(\w+)")


def keyed_records(documents: list[dict], predictions: list[list[str]]) -> list[dict]:
    """Our layout: one record per prompt."""
    return [{"task_id": document["task_id"], "perturbation_name": document["perturbation_name"],
             "seed": document["seed"], "generations": programs}
            for document, programs in zip(documents, predictions)]


def read_generations(task, lists, all_documents: list[dict], documents: list[dict], source: str) -> list[list[str]]:
    """The programs of each of `documents` from a file in either layout (`task`: the RecodeTask)."""
    if not isinstance(lists, list) or not lists:
        raise ValueError(f"{source}: expected a non-empty JSON list: keyed records ({{task_id, perturbation_name, "
                         f"seed, generations}}) or the harness's list of lists of programs.")
    if all(isinstance(entry, dict) for entry in lists):
        return _from_keyed(task, lists, all_documents, documents, source)
    if all(isinstance(entry, list) and entry and all(isinstance(item, str) for item in entry) for entry in lists):
        return _from_harness(task, lists, all_documents, documents, source)
    raise ValueError(f"{source}: expected either keyed records ({{task_id, perturbation_name, seed, generations}}) "
                     f"or the harness's list of non-empty lists of program strings, not a mixture.")


def _from_keyed(task, records, all_documents, documents, source):
    given: dict[tuple, list[str]] = {}
    for position, record in enumerate(records):
        generations = record.get("generations")
        if not {"task_id", "perturbation_name", "seed"} <= set(record) or not (
                isinstance(generations, list) and all(isinstance(item, str) for item in generations)):
            raise ValueError(f"{source}: record {position} needs task_id, perturbation_name, seed and generations "
                             f"(a list of program strings); found keys {', '.join(sorted(record))}.")
        given[(record["task_id"], record["perturbation_name"], record["seed"])] = generations
    known = {document_key(document) for document in all_documents}
    unknown = [key for key in given if key not in known]
    if unknown:
        raise ValueError(f"{source}: {len(unknown)} records match no {task.name} prompt with --num-seeds "
                         f"{task.num_seeds} (e.g. {_describe(unknown[0])}). Fix: pass the file written for "
                         f"{task.name} with the same --num-seeds and --transformations.")
    nominal_given = any(key[1] == NOMINAL for key in given)
    missing = [document for document in documents if document_key(document) not in given
               and (nominal_given or document["perturbation_name"] != NOMINAL)]
    if missing:
        raise ValueError(f"{source}: no generations for {len(missing)} of the {len(documents)} selected {task.name} "
                         f"prompts (e.g. {_describe(document_key(missing[0]))}); expected one record per prompt. Fix: "
                         f"pass the file written for {task.name} with the same --limit, --num-seeds and "
                         f"--transformations.")
    return [list(given.get(document_key(document), [])) for document in documents]


def _from_harness(task, lists, all_documents, documents, source):
    variants = [document for document in all_documents if document["perturbation_name"] != NOMINAL]

    def starts(entry, document) -> bool:
        return all(program.startswith(document["prompt"].strip()) for program in entry)

    if len(lists) == len(variants) and all(starts(entry, doc) for entry, doc in zip(lists, variants)):
        by_id = {document["doc_id"]: entry for document, entry in zip(variants, lists)}
    else:
        by_id = _align_by_prompt(lists, variants, task.filtered_prompts, source)
    missing = [document for document in documents
               if document["perturbation_name"] != NOMINAL and document["doc_id"] not in by_id]
    if missing:
        raise ValueError(f"{source}: {len(lists)} entries, but no generations for {len(missing)} of the selected "
                         f"{task.name} variants (e.g. {missing[0]['doc_id']}). Fix: pass the harness's output of "
                         f"perturbed-humaneval-{task.recode_dir}-num_seeds_{task.num_seeds} for the whole dataset.")
    return [list(by_id.get(document["doc_id"], [])) for document in documents]


def document_key(document: dict) -> tuple:
    return (document["task_id"], document["perturbation_name"], document["seed"])


def _describe(key: tuple) -> str:
    task_id, name, seed = key
    return f"{task_id} {name}" + ("" if seed is None else f" seed {seed}")


def _align_by_prompt(lists: list[list[str]], variants: list[dict], filtered: set[str],
                     source: str) -> dict[str, list[str]]:
    """Harness entries matched to variant documents by the prompt their programs begin with.

    Prompts are bucketed by their first `def` name (a program begins with its prompt, so it has
    the same first `def`); the longest prompt a program begins with wins, and entries whose prompt
    is one of the `filtered` (left out by --num-seeds or --transformations) are passed over.
    Documents that share a prompt take that prompt's entries in file order (an entry is reused if
    the file has fewer)."""
    buckets: dict[str, set[str]] = defaultdict(set)
    documents_of: dict[str, list[dict]] = defaultdict(list)
    for document in variants:
        prompt = document["prompt"].strip()
        buckets[_first_def(prompt)].add(prompt)
        documents_of[prompt].append(document)
    for prompt in filtered:
        buckets[_first_def(prompt)].add(prompt)
    entries_of: dict[str, list[list[str]]] = defaultdict(list)
    for position, entry in enumerate(lists):
        program = entry[0]
        matches = [prompt for prompt in buckets.get(_first_def(program), ()) if program.startswith(prompt)]
        if not matches:
            raise ValueError(f"{source}: entry {position} begins with no ReCode prompt of this task (it starts "
                             f"{program[:60]!r}). Fix: pass the harness's output for the same category, or our "
                             f"keyed file.")
        best = max(matches, key=len)
        if best in documents_of:
            entries_of[best].append(entry)
    aligned = {}
    for prompt, entries in entries_of.items():
        for rank, document in enumerate(documents_of[prompt]):
            aligned[document["doc_id"]] = entries[rank % len(entries)]
    return aligned


def _first_def(text: str) -> str:
    match = FIRST_DEF.search(text)
    return match[1] if match else ""
