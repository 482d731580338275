"""Scoring by execution, shared by every task whose predictions are programs run against tests
(HumanEvalPack, ReCode): each distinct program runs once in the sandbox, its verdict is shared by
every sample that produced it, and one log record is kept per sample.

Identical programs are common: greedy or low-temperature samples repeat, and a perturbation that
leaves a prompt unchanged (or changes only what post-processing removes) yields the same program
for many variants of a problem. The tests are deterministic, so sharing a verdict changes nothing.

A program that is not valid Unicode text (a lone surrogate from a JSON escape) cannot be saved as a
source file: it fails with the reason (`details.invalid_programs` counts them), the rest are run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


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


def execute(language: str, documents: list[dict], sources: list[list[str]], *, timeout_s: float,
            description: str, workers: int | None = None, progress: bool = True) -> Execution:
    """Run `sources[d][s]` (the whole program of sample s of document d, tests included)."""
    doc_ids = [document["doc_id"] for document in documents]
    from astraios.sandbox import Program, Result, run_many

    distinct: dict[str, int] = {}
    slots = [[distinct.setdefault(source, len(distinct)) for source in programs] for programs in sources]
    programs = list(distinct)
    invalid = {index: reason for index, source in enumerate(programs) if (reason := not_unicode(source))}
    runnable = [index for index in range(len(programs)) if index not in invalid]
    executed = run_many([Program(language, programs[index], timeout_s=timeout_s) for index in runnable],
                        workers=workers, progress=progress, description=description)
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


def not_unicode(source: str) -> str | None:
    """Why `source` cannot be written as a UTF-8 file (a lone surrogate), or None."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError as error:
        return (f"the program is not valid Unicode text (lone surrogate U+{ord(source[error.start]):04X} at "
                f"character {error.start}), so it cannot be saved as a source file")
    return None
