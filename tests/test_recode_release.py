"""ReCode's real release (../shared/data/recode): record counts, and the canonical solution of every
shipped transformation passing its tests in the sandbox once fitted to its prompt, except exactly the records
listed as the release's own defects (`recode_defects.json`). The fast test takes seed 0 of every
transformation for the first problems; the slow one every record (several minutes)."""

from __future__ import annotations

import pytest

from astraios import tasks
from astraios.sandbox import Program, run_many
from astraios.tasks.recode import canonical_program, record_tests
from astraios.tasks.recode_data import NOMINAL, release_defects

# Variant files per category with num_seeds = 5 (random transformations contribute 5 seeds).
FILES_AT_5_SEEDS = {"docstring": 1 + 7 * 5 + 2, "funcname": 1 + 5 * 5, "syntax": 5 + 2 * 5, "format": 5 + 5}
TRANSFORMATIONS = {"docstring": 10, "funcname": 6, "syntax": 7, "format": 6}


@pytest.mark.parametrize("category", list(FILES_AT_5_SEEDS))
def test_release_record_counts(data_dir, category):
    documents = tasks.get(f"recode-{category}").documents(data_dir)
    assert len(documents) == 164 * (1 + FILES_AT_5_SEEDS[category])
    assert len({d["perturbation_name"] for d in documents}) == TRANSFORMATIONS[category] + 1
    assert len({d["doc_id"] for d in documents}) == len(documents)


def canonical_failures(documents: list[dict]) -> set[tuple]:
    """The records whose canonical program fails, judged by the record's tests as the tasks judge."""
    programs: dict[tuple[str, str], list[dict]] = {}
    for document in documents:
        if document["perturbation_name"] != NOMINAL:
            programs.setdefault((canonical_program(document), record_tests(document)), []).append(document)
    runs = run_many([Program("python", source, tests=tests, timeout_s=20) for source, tests in programs], progress=False)
    return {(d["task_id"], d["perturbation_name"], d["seed"]) for group, run in zip(programs.values(), runs)
            if not run.passed for d in group}


def test_canonical_solutions_pass_except_the_listed_defects_seed_0(data_dir):
    defects = release_defects()
    documents = []
    for category in FILES_AT_5_SEEDS:
        task = tasks.get(f"recode-{category}", num_seeds=1)
        documents += task.select(task.documents(data_dir), 12)
    expected = {(d["task_id"], d["perturbation_name"], d["seed"]) for d in documents} & set(defects)
    assert expected, "the first problems include some of the release's defects (a check that can fail both ways)"
    assert canonical_failures(documents) == expected


@pytest.mark.slow
def test_canonical_solutions_pass_except_the_listed_defects_everywhere(data_dir):
    documents = [d for category in FILES_AT_5_SEEDS
                 for d in tasks.get(f"recode-{category}", num_seeds=10).documents(data_dir)]
    assert canonical_failures(documents) == set(release_defects())
