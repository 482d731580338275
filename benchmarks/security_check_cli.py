"""`astraios security check` on many files: one command for all of them vs one command per file.

The same distinct programs (the labelled set shipped with astraios, each made unique with a
trailing comment, Python and C alternating; see security_checker_throughput.py) are written to a
directory in the labelled layout (`CWE-502-0/p3.py`) and checked with the built-in analysers twice:
  baseline: one `astraios security check FILE --scenario S` process per file, one after another,
            as a shell loop over files had to before the command took many;
  batched:  one `astraios security check DIR` (every analyser once per batch, in parallel).
Both must reach the same verdicts; the ratio of wall-clock times is printed.

    python benchmarks/security_check_cli.py [--files 12] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from security_checker_throughput import programs, report, timed

from astraios.sandbox.program import SUFFIXES

COMMAND = [sys.executable, "-m", "astraios", "security", "check", "--checkers", "builtin", "--json"]


def write_programs(directory: Path, count: int) -> list[tuple[Path, str]]:
    """The programs as files named by scenario folder; (path, scenario id) each."""
    written = []
    for index, (program, scenario) in enumerate(programs(count)):
        path = directory / scenario.scenario_id.removeprefix("DoW/") / f"p{index}{SUFFIXES[scenario.language]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(program)
        written.append((path, scenario.scenario_id))
    return written


def statuses(stdout: str) -> dict[str, str]:
    return {record["file"]: record["status"] for record in json.loads(stdout)}


def check(arguments: list[str], workers: int) -> str:
    return subprocess.run([*COMMAND, "--workers", str(workers), *arguments], check=True, capture_output=True,
                          text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        files = write_programs(directory, args.files)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
        print(f"{len(files)} files ({sum(path.suffix == '.c' for path, _ in files)} C), analysers: builtin, "
              f"{args.workers} workers")
        check([str(files[0][0]), "--scenario", files[0][1]], args.workers)  # warm up: first imports, isolation probe
        per_file, baseline_s = timed(lambda: [check([str(path), "--scenario", scenario], args.workers)
                                              for path, scenario in files])
        batched, batched_s = timed(lambda: check([str(directory)], args.workers))
    baseline = {file: status for stdout in per_file for file, status in statuses(stdout).items()}
    report(len(files), "files", ("one `security check FILE` per file", baseline_s),
           ("one `security check DIR` for all", batched_s), baseline == statuses(batched))


if __name__ == "__main__":
    main()
