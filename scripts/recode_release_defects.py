"""Regenerate astraios/tasks/recode_defects.json: the records of ReCode's released perturbed
HumanEval (all four categories, all seeds) whose canonical solution fails its tests even when
fitted to the prompt by `astraios.tasks.recode.canonical_program`.

    python scripts/recode_release_defects.py [--data-dir ../shared/data] [--workers N]

About 27,500 records, about 11,000 distinct programs: several minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from astraios import tasks
from astraios.core.io import write_json
from astraios.sandbox import Program, run_many
from astraios.tasks.recode import canonical_program, record_tests
from astraios.tasks.recode_data import CATEGORIES, DEFECTS_FILE, NOMINAL

SOURCE = "amazon-science/recode@66885222dc277384b0641a621683ee5bcf4eaf5c dataset-release/perturbed_finalized/humaneval/full"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.environ.get("ASTRAIOS_DATA_DIR",
                                                             Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    defects: dict[str, dict[str, dict]] = {}
    for category, recode_dir in CATEGORIES.items():
        documents = [d for d in tasks.get(f"recode-{category}", num_seeds=10).documents(args.data_dir)
                     if d["perturbation_name"] != NOMINAL]
        programs: dict[tuple[str, str], list[dict]] = {}
        for document in documents:  # judged by its tests, as the tasks judge
            programs.setdefault((canonical_program(document), record_tests(document)), []).append(document)
        runs = run_many([Program("python", source, tests=tests, timeout_s=20) for source, tests in programs],
                        workers=args.workers, description=f"checking {category}")
        found = defects.setdefault(recode_dir, {})
        for group, run in zip(programs.values(), runs):
            if run.passed:
                continue
            reason = (run.stderr.strip().splitlines() or [run.reason or run.status])[-1][:120]
            for document in group:
                entry = found.setdefault(document["perturbation_name"], {}).setdefault(
                    document["task_id"], {"reason": reason, "seeds": []})
                entry["seeds"] = sorted({*entry["seeds"], document["seed"]})
        print(f"{category}: {len(documents)} records, {len(programs)} distinct programs, "
              f"{sum(len(e['seeds']) for t in found.values() for e in t.values())} fail")
    write_json(DEFECTS_FILE, {"source": SOURCE, "checked_with": "astraios.tasks.recode.canonical_program",
                              "defects": defects})


if __name__ == "__main__":
    main()
