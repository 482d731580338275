"""Apply transformations to a HumanEval-style jsonl, check every record in the sandbox, and write
ReCode's layout (see `astraios.tasks.recode_data`) atomically: the new `recode/` folder replaces
the old one only when it is complete.

Checks: the program the recode tasks would run for the canonical solution (prompt + canonical
solution + the tests + `check(entry_point)`), each distinct program once. A problem whose nominal
or nominal partial program fails is left out everywhere; a variant that fails is left out of its
file. Both are reported with their ids and reasons.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from astraios.core.io import replace_dir, write_json, write_jsonl
from astraios.perturb.files import REPORT_FILE, check_output, read_problems
from astraios.perturb.problem import Problem, ProblemError, partial
from astraios.perturb.source import Source
from astraios.perturb.transformations import TRANSFORMATIONS, Transformation
from astraios.tasks.recode import program_with_check
from astraios.tasks.recode_data import (
    DATASET_DIR,
    NOMINAL_FILES,
    PARTIAL_CATEGORIES,
    variant_file,
)

@dataclass
class FileReport:
    transformation: str
    category: str
    seed: int
    path: str
    written: int = 0
    changed: int = 0
    dropped: dict[str, str] = field(default_factory=dict)  # task_id -> why


@dataclass
class PerturbReport:
    input: str
    output: str
    problems: int
    dropped_problems: dict[str, str]  # task_id -> why (left out of every file)
    files: list[FileReport]
    programs_executed: int
    seconds: float

    def to_dict(self) -> dict:
        return {"input": self.input, "output": self.output, "problems": self.problems,
                "dropped_problems": self.dropped_problems, "files": [vars(file) for file in self.files],
                "programs_executed": self.programs_executed, "seconds": round(self.seconds, 3)}

    @property
    def dropped_records(self) -> int:
        return sum(len(file.dropped) for file in self.files)


def perturb(input_path: str | Path, output_dir: str | Path, *, transformations: Sequence[str] | None = None,
            seeds: int = 5, limit: int | None = None, timeout_s: float = 10.0, workers: int | None = None,
            overwrite: bool = False, progress: bool = True) -> PerturbReport:
    """Write `output_dir/recode/` (nominal files, one file per transformation and seed, and a report)."""
    from astraios.sandbox import Program, run_many

    started = time.perf_counter()
    chosen = _chosen(transformations)
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be at least 1, got {limit}. Fix: drop --limit to perturb every problem.")
    output_dir = Path(output_dir)
    target = output_dir / DATASET_DIR
    check_output(output_dir, target, overwrite)
    records = read_problems(input_path, limit)

    dropped_problems: dict[str, str] = {}
    nominal: list[Problem] = []
    for record in records:
        try:
            nominal.append(Problem.from_record(record))
        except ProblemError as error:
            dropped_problems[record["task_id"]] = str(error)
    partials = {problem.task_id: partial(problem) for problem in nominal}

    variants: list[tuple[FileReport, Problem, Problem]] = []  # (file, base, variant)
    files = []
    for transformation in chosen:
        for seed in range(seeds) if transformation.seeded else [0]:
            report = FileReport(transformation.name, transformation.category, seed,
                                variant_file(transformation.category, transformation.name, seed))
            files.append(report)
            for problem in nominal:
                base = partials[problem.task_id] if transformation.category in PARTIAL_CATEGORIES else problem
                changed = _apply(transformation, base, seed)
                if isinstance(changed, str):
                    report.dropped[problem.task_id] = changed
                else:
                    variants.append((report, base, changed))

    programs: dict[str, int] = {}

    def slot(problem: Problem) -> int:
        program = program_with_check(problem.joined, {"test": problem.test, "entry_point": problem.entry_point})
        return programs.setdefault(program, len(programs))

    nominal_slots = [(problem, slot(problem), slot(partials[problem.task_id])) for problem in nominal]
    variant_slots = [slot(variant) for _, _, variant in variants]
    runs = run_many([Program("python", source, timeout_s=timeout_s) for source in programs], workers=workers,
                    progress=progress, description="checking canonical solutions")
    for problem, full, half in nominal_slots:
        for kind, index in (("nominal", full), ("nominal partial", half)):
            if not runs[index].passed and problem.task_id not in dropped_problems:
                dropped_problems[problem.task_id] = f"{kind} canonical solution fails its tests: {_why(runs[index])}"

    written: dict[str, list[dict]] = {file.path: [] for file in files}
    for (report, base, variant), index in zip(variants, variant_slots):
        if variant.task_id in dropped_problems:
            continue
        if not runs[index].passed:
            report.dropped[variant.task_id] = f"canonical solution fails after the transformation: {_why(runs[index])}"
            continue
        perturbed = variant != base
        written[report.path].append({**variant.record(), "seed": report.seed, "perturbed": perturbed})
        report.written += 1
        report.changed += perturbed
    for report in files:
        for task_id in list(report.dropped):
            if task_id in dropped_problems:
                del report.dropped[task_id]

    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{DATASET_DIR}.", dir=output_dir))
    kept = [problem for problem in nominal if problem.task_id not in dropped_problems]
    write_jsonl(staging / NOMINAL_FILES["full"], [problem.record() for problem in kept])
    write_jsonl(staging / NOMINAL_FILES["partial"], [partials[problem.task_id].record() for problem in kept])
    for path, rows in written.items():
        write_jsonl(staging / Path(path).relative_to(DATASET_DIR), rows)
    result = PerturbReport(str(input_path), str(target), len(records), dropped_problems, files, len(programs),
                           time.perf_counter() - started)
    write_json(staging / REPORT_FILE, result.to_dict())
    try:
        check_output(output_dir, target, overwrite)  # again: the folder may have changed during the work
        replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result


def _chosen(names: Sequence[str] | None) -> list[Transformation]:
    if not names:
        return list(TRANSFORMATIONS.values())
    unknown = [name for name in names if name not in TRANSFORMATIONS]
    if unknown:
        raise ValueError(f"unknown transformation {', '.join(unknown)}. Fix: choose from "
                         f"{', '.join(TRANSFORMATIONS)}.")
    return [TRANSFORMATIONS[name] for name in dict.fromkeys(names)]


def _apply(transformation: Transformation, problem: Problem, seed: int) -> Problem | str:
    """The transformed problem, or why it could not be made."""
    rng = random.Random(f"{transformation.name}:{seed}:{problem.task_id}")
    try:
        changed = transformation.apply(problem, rng)
        Source(changed.code)  # still parses
        Source(changed.test)
    except Exception as error:  # one problem's odd code must not stop the others: reported, left out
        return f"{transformation.name} failed: {type(error).__name__}: {error}"
    return changed


def _why(result) -> str:
    tail = (result.stderr.strip().splitlines() or [result.reason or result.status])[-1]
    return f"{result.status}: {tail[:200]}"
