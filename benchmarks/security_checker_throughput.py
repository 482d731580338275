"""Security checking throughput: batched analysers vs one analyser process per program.

The same distinct programs (the labelled set shipped with astraios, each made unique with a
trailing comment, Python and C mixed) are checked by every built-in analyser (semgrep, bandit,
gcc, cppcheck) in the sandbox's jail, with the same worker threads, twice:
  baseline: one analyser process per program (batch size 1), as Pearce et al.'s mark.py runs
            CodeQL and as a naive loop would run semgrep;
  batched:  astraios.security.engine.check_many (one analyser process per batch of programs).
Both must reach the same verdicts; the ratio of programs/s is printed.

`--against REF` measures what a change to the checkers costs: the batched way of this tree and of
git revision REF (its `astraios/` exported to a temporary folder), each in a fresh process with the
same programs, analysers (`--checkers`) and workers, in alternating rounds (`--rounds`); it prints
each round, the ratio of the best times, and whether the verdicts are the same.

    python benchmarks/security_checker_throughput.py [--programs 40] [--workers 2]
    python benchmarks/security_checker_throughput.py --against 92f0feb --checkers gcc,cppcheck --language c
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from astraios.security.accuracy import labelled_programs
from astraios.security.engine import check_many, select_checkers


REPO = Path(__file__).resolve().parents[1]
# Run in a fresh interpreter with one tree's astraios first on sys.path: time check_many on the programs.
CHILD = """
import json, sys, time
from astraios.security.engine import check_many, select_checkers
from astraios.security.scenarios import lookup
spec = json.load(sys.stdin)
items = [(program, lookup(scenario)) for program, scenario in spec["items"]]
selection = select_checkers(spec["checkers"])
check_many(items[:2], selection, workers=spec["workers"])  # warm up: isolation probe, first imports
start = time.perf_counter()
verdicts = check_many(items, selection, workers=spec["workers"])
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "verdicts": [{name: verdict.status for name, verdict in found.items()}
                                                   for found in verdicts]}))
"""


def programs(count: int, languages: tuple[str, ...] = ("python", "c")) -> list:
    by_language = {language: [item for item in labelled_programs() if item.scenario.language == language]
                   for language in languages}
    base = [item for group in zip(*by_language.values()) for item in group]  # the languages alternate
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


def measured(tree: Path, items: list, checkers: str, workers: int) -> dict:
    spec = {"items": [(program, scenario.scenario_id) for program, scenario in items], "checkers": checkers,
            "workers": workers}
    done = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(spec), capture_output=True, text=True,
                          cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def against(reference: str, items: list, checkers: str, workers: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="astraios-bench-") as folder:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", reference, "astraios"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        trees = {"this tree": REPO, reference: Path(folder)}
        times: dict[str, list[float]] = {name: [] for name in trees}
        verdicts = {}
        for round_number in range(rounds):
            for name, tree in (trees.items() if round_number % 2 == 0 else reversed(trees.items())):
                result = measured(tree, items, checkers, workers)
                times[name].append(result["seconds"])
                verdicts[name] = result["verdicts"]
                print(f"  round {round_number + 1}: {name:12} {result['seconds']:7.2f} s  "
                      f"{len(items) / result['seconds']:6.2f} programs/s")
    best = {name: min(values) for name, values in times.items()}
    same = verdicts["this tree"] == verdicts[reference]
    print(f"  best: this tree {best['this tree']:.2f} s, {reference} {best[reference]:.2f} s; this tree takes "
          f"{best['this tree'] / best[reference]:.2f}x the time of {reference}; same verdicts: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--programs", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--against", metavar="REF", help="git revision to compare this tree's batched checking with")
    parser.add_argument("--checkers", default="builtin", help="with --against: the analysers (default builtin)")
    parser.add_argument("--language", choices=["python", "c", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=2, help="with --against: alternating rounds per tree")
    args = parser.parse_args()
    items = programs(args.programs, ("python", "c") if args.language == "both" else (args.language,))
    if args.against:
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
        print(f"{len(items)} programs ({sum(s.language == 'c' for _, s in items)} C), checkers {args.checkers}, "
              f"{args.workers} workers, batched (check_many)")
        against(args.against, items, args.checkers, args.workers, args.rounds)
        return
    selection = select_checkers("builtin")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"{len(items)} programs ({sum(s.language == 'c' for _, s in items)} C), analysers: "
          f"{', '.join(name for name in selection.analysers if name not in selection.unavailable())}, "
          f"{args.workers} workers")
    check_many(items[:2], selection, workers=args.workers)  # warm up: isolation probe, first imports
    baseline, baseline_s = timed(lambda: check_many(items, selection, workers=args.workers, batch_size=1))
    batched, batched_s = timed(lambda: check_many(items, selection, workers=args.workers))
    same = all(a["builtin"].status == b["builtin"].status for a, b in zip(baseline, batched))
    report(len(items), "programs", ("one analyser process per program", baseline_s), ("batched (check_many)", batched_s),
           same)


def report(count: int, unit: str, baseline: tuple[str, float], batched: tuple[str, float], same: bool) -> None:
    """Each way's seconds and rate, and the ratio; exits non-zero when the two ways' verdicts differ."""
    for label, seconds in (baseline, batched):
        print(f"  {label:<36}{seconds:7.2f} s  {count / seconds:6.2f} {unit}/s")
    print(f"  ratio: {baseline[1] / batched[1]:.1f}x; same verdicts: {same}; load at the end {os.getloadavg()}")
    if not same:
        raise SystemExit("the batched and the one-at-a-time verdicts differ")


if __name__ == "__main__":
    main()
