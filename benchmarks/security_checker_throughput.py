"""Security checking throughput: batched analysers vs one analyser process per program.

The same distinct programs (the labelled set shipped with astraios, each made unique with a
trailing comment, Python and C mixed) are checked by every built-in analyser (semgrep, bandit,
gcc, cppcheck) in the sandbox's jail, with the same worker threads, twice:
  baseline: one analyser process per program (batch size 1), as Pearce et al.'s mark.py runs
            CodeQL and as a naive loop would run semgrep;
  batched:  astraios.security.engine.check_many (one analyser process per batch of programs).
Both must reach the same verdicts; the ratio of programs/s is printed.

    python benchmarks/security_checker_throughput.py [--programs 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from astraios.security.accuracy import labelled_programs
from astraios.security.engine import check_many, select_checkers


def programs(count: int) -> list:
    by_language = {language: [item for item in labelled_programs() if item.scenario.language == language]
                   for language in ("python", "c")}
    base = [item for pair in zip(*by_language.values()) for item in pair]  # Python and C alternate
    items = []
    for index in range(count):
        item = base[index % len(base)]
        comment = "#" if item.scenario.language == "python" else "//"
        items.append((item.program + f"\n{comment} variant {index}\n", item.scenario))
    return items


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    items = programs(args.programs)
    selection = select_checkers("builtin")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"{len(items)} programs ({sum(s.language == 'c' for _, s in items)} C), analysers: "
          f"{', '.join(name for name in selection.analysers if name not in selection.unavailable())}, "
          f"{args.workers} workers")
    check_many(items[:2], selection, workers=args.workers)  # warm up: isolation probe, first imports
    baseline, baseline_s = timed(lambda: check_many(items, selection, workers=args.workers, batch_size=1))
    batched, batched_s = timed(lambda: check_many(items, selection, workers=args.workers))
    same = all(a["builtin"].status == b["builtin"].status for a, b in zip(baseline, batched))
    print(f"  one analyser process per program  {baseline_s:7.2f} s  {len(items) / baseline_s:6.2f} programs/s")
    print(f"  batched (check_many)              {batched_s:7.2f} s  {len(items) / batched_s:6.2f} programs/s")
    print(f"  ratio: {baseline_s / batched_s:.1f}x; same verdicts: {same}")
    if not same:
        raise SystemExit("the batched and the per-program verdicts differ")


if __name__ == "__main__":
    main()
