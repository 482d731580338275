"""Scoring by execution, shared by every task whose predictions are programs run against tests
(HumanEvalPack, ReCode, toy): each sample's program is a candidate judged by its document's tests
in another process (`astraios.sandbox`: only plain data crosses, so nothing the program does
decides its verdict); each distinct (program, tests) pair runs once, its verdict is shared by
every sample that produced it, and one log record is kept per sample.

Python tests are the problem's test code preceded by the reference program's other top-level
code (`python_tests`): the imports and helper functions of the prompt. Three HumanEval problems'
tests call such a helper besides the candidate (HumanEval/32 `poly`, /38 `encode_cyclic`, /50
`encode_shift`); in one process they would call the program's copy, which a program can redefine
(`global poly; poly = lambda *a: 0` inside its function passes HumanEval/32), so the judge runs
its own trusted copy. Every other name the tests use that they do not define (the entry point)
is the candidate's, reached through a call.

Identical programs are common: greedy or low-temperature samples repeat, and a perturbation that
leaves a prompt unchanged (or changes only what post-processing removes) yields the same program
for many variants of a problem. The tests are deterministic, so sharing a verdict changes nothing.

A program that is not valid Unicode text (a lone surrogate from a JSON escape) cannot be saved as a
source file: it fails with the reason (`details.invalid_programs` counts them), the rest are run.
"""

from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass, field

from astraios.core.io import not_unicode


@dataclass
class Execution:
    """verdicts: per document, per sample, whether its program passed. logs: one record per
    sample. details: status counts, programs executed (distinct) out of all, isolation tiers."""

    doc_ids: list[str]
    verdicts: list[list[bool]]
    logs: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    def pass_counts(self) -> list[dict]:
        """Per document: `doc_id`, samples `passed` and `n` (what pass@k is computed from)."""
        return [{"doc_id": doc_id, "passed": sum(verdicts), "n": len(verdicts)}
                for doc_id, verdicts in zip(self.doc_ids, self.verdicts)]


def execute(language: str, documents: list[dict], sources: list[list[str]], tests: list[str], *, timeout_s: float,
            description: str, workers: int | None = None, progress: bool = True) -> Execution:
    """Judge `sources[d][s]` (the program of sample s of document d) by `tests[d]`."""
    doc_ids = [document["doc_id"] for document in documents]
    from astraios.sandbox import Program, Result, run_many

    distinct: dict[tuple[str, str], int] = {}
    slots = [[distinct.setdefault((source, test), len(distinct)) for source in programs]
             for programs, test in zip(sources, tests)]
    programs = list(distinct)
    invalid = {index: f"the program is {reason}" for index, (source, _) in enumerate(programs)
               if (reason := not_unicode(source))}
    runnable = [index for index in range(len(programs)) if index not in invalid]
    executed = run_many([Program(language, programs[index][0], tests=programs[index][1], timeout_s=timeout_s)
                         for index in runnable], workers=workers, progress=progress, description=description)
    runs = dict(zip(runnable, executed))
    for index, reason in invalid.items():
        runs[index] = Result(status="failed", phase="prepare", exit_code=None, duration_s=0.0, stdout="",
                             stderr="", isolation="none", reason=reason, language=language)
    verdicts, logs, statuses = [], [], Counter()
    for doc_id, indices in zip(doc_ids, slots):
        verdicts.append([runs[i].passed for i in indices])
        for sample, i in enumerate(indices):
            run = runs[i]
            statuses[run.status] += 1
            logs.append({"doc_id": doc_id, "sample": sample, "status": run.status, "phase": run.phase,
                         "reason": run.reason, "duration_s": round(run.duration_s, 3),
                         "stderr_tail": run.stderr[-1000:]})
    details = {"statuses": dict(statuses), "programs_executed": len(runnable),
               "programs_total": sum(len(indices) for indices in slots),
               "isolation": sorted({run.isolation for run in executed})}
    if invalid:
        details["invalid_programs"] = len(invalid)
    return Execution(doc_ids, verdicts, logs, details)


def python_tests(reference: str, entry_point: str, test: str, header: str = "") -> str:
    """The tests a judge runs for a Python problem: `header`, the top-level code of the trusted
    `reference` program other than the entry point's definition (its imports and helpers), then
    `test`. A reference that does not parse (some perturbed prompts) gives no helpers: the tests
    then call the candidate's, as in one process."""
    try:
        tree = ast.parse(reference)
    except (SyntaxError, ValueError):
        helpers = []
    else:
        helpers = [ast.get_source_segment(reference, node, padded=True) for node in tree.body
                   if not (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point)]
    return "\n".join(part for part in [header, *helpers, test] if part) + "\n"
