"""An independent re-implementation of what the study's harness fork computed, for the tests that
check astraios against it on the study's own files. Nothing here imports astraios.

- ReCode: bigcode-evaluation-harness, branch `astraios`, `bigcode_eval/tasks/recode.py`
  (`GeneralPerturbedHumanEval.get_reference` and `process_results`) with
  `bigcode_eval/tasks/custom_metrics/code_eval.py` (`compute_code_eval`: program = candidate +
  "\\n" + test code, 3 s) and `execute.py` (`check_correctness`: `exec` in a fresh process under a
  3 s timer, passed = no exception); and ReCode's own category rule, amazon-science/recode
  `run_robust.py` (`report_results_coarse`, greedy) over the transformations of its `config.json`.
- AATK: moyix/AsleepKeyboardDataset `mark.py` (`check_completion`: source = prompt + completion +
  suffix) and `mark_common.py` (`validate_c`: `gcc -g -O -c`; `validate_python`:
  `python -m py_compile`).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import multiprocessing
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TIMEOUT_S = 3.0  # compute_code_eval's default, which the fork's process_results does not change
SEEDS = 5  # perturbed-humaneval-*-num_seeds_5
VARIANT_FILE = re.compile(r"^humaneval_(?P<name>.+)_s(?P<seed>\d+)\.jsonl(?:\.gz)?$")


def read_json(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def fork_references(category_dir: Path) -> list[dict]:
    """The fork's dataset after its `seed < 5` filter, in `RaymondLi/perturbed_humaneval`'s order,
    which is ReCode's release read file by file in file-name order (so `DeadCodeInserterLast`
    comes before `DeadCodeInserter`); each with the reference `get_reference` builds (task_id,
    seed, perturbation_name, test_code)."""
    files = []
    for path in category_dir.iterdir():
        match = VARIANT_FILE.match(path.name)
        if match and int(match["seed"]) < SEEDS:
            files.append((path.name, match["name"], int(match["seed"]), path))
    references = []
    for _, name, seed, path in sorted(files):
        for doc in read_jsonl(path):
            references.append({"task_id": doc["task_id"], "seed": seed, "perturbation_name": name,
                               "prompt": doc["prompt"],
                               "test_code": "\n" + doc["test"] + "\n" + f"check({doc['entry_point']})"})
    return references


def _run_program(program: str, timeout: float, connection) -> None:
    """`unsafe_execute`, minus what only protects the harness's host: exec under a timer, IO swallowed."""
    os.chdir(tempfile.mkdtemp())
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # protects this machine; the harness had none

    def expire(signum, frame):
        raise TimeoutError("timed out")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    outcome = "passed"
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(program, {})
    except TimeoutError:
        outcome = "timed out"
    except BaseException as error:  # noqa: BLE001 - the harness counts every exception as a failure
        outcome = f"failed: {type(error).__name__}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    connection.send(outcome)
    connection.close()


def check_correctness(program: str, timeout: float = TIMEOUT_S) -> bool:
    """`check_correctness`: a fresh process, joined for timeout + 1 s, killed if still alive."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_run_program, args=(program, timeout, sender))
    process.start()
    sender.close()
    outcome = receiver.recv() if receiver.poll(timeout + 1) else "timed out"
    process.join(1)
    if process.is_alive():
        process.kill()
        process.join()
    return outcome == "passed"


def run_programs(generations: list[list[str]], references: list[dict], workers: int = 2) -> list[list[bool]]:
    """`compute_code_eval`'s verdicts: each candidate + "\\n" + its reference's test code, run.
    Identical programs are run once (their verdicts are the same)."""
    programs = [[candidate + "\n" + reference["test_code"] for candidate in candidates]
                for candidates, reference in zip(generations, references)]
    distinct = sorted({program for candidates in programs for program in candidates})
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdict = dict(zip(distinct, pool.map(check_correctness, distinct)))
    return [[verdict[program] for program in candidates] for candidates in programs]


def robust_pass_at_1(verdicts: list[list[bool]], references: list[dict]) -> dict[str, float]:
    """The fork's `process_results`: `robust-pass-at-1` per transformation (each problem's share of
    generation seeds that pass under every one of its perturbed prompts, averaged over problems)."""
    results: dict[str, dict[str, dict[int, list[bool]]]] = defaultdict(lambda: defaultdict(dict))
    for outcomes, reference in zip(verdicts, references):
        seeds = results[reference["perturbation_name"]][reference["task_id"]]
        assert reference["seed"] not in seeds
        seeds[reference["seed"]] = outcomes
    scores = {}
    for transformation, problems in results.items():
        total = 0.0
        for seeds in problems.values():
            n = len(next(iter(seeds.values())))
            total += sum(all(outcomes) for outcomes in zip(*seeds.values())) / n
        scores[transformation] = total / len(problems)
    return scores


# amazon-science/recode `config.json` (humaneval): the transformations `report_coarse` counts per category.
RECIPES = {
    "natgen": ["DeadCodeInserter", "ForWhileTransformer", "OperandSwap", "VarRenamerCB", "VarRenamerNaive",
               "VarRenamerRN"],
    "func_name": ["FuncRenameCamelCase", "FuncRenameButterFinger", "FuncRenameSwapChar", "FuncRenameChangeChar",
                  "FuncRenameInflectionalVariation", "FuncRenameSynonymSub"],
    "format": ["tab_indent", "split_lines", "doc2comments", "new_lines", "new_line_aftercode", "new_line_afterdoc"],
}


def report_coarse(verdicts: list[list[bool]], references: list[dict], category: str) -> float:
    """ReCode's `run_robust.py report_coarse`, greedy: the share of problems whose completion
    passes under every seed of every transformation its config lists for the category (the
    worst-case dicts of the transformations, and-ed)."""
    solved: dict[str, bool] = {}
    for outcomes, reference in zip(verdicts, references):
        if reference["perturbation_name"] in RECIPES[category]:
            solved[reference["task_id"]] = solved.get(reference["task_id"], True) and all(outcomes)
    return sum(solved.values()) / len(solved)


def mark_valid(source: str, language: str) -> bool:
    """`validate_completion` of mark_common.py: does the assembled program build?"""
    with tempfile.TemporaryDirectory() as directory:
        if language == "c":
            path = os.path.join(directory, "scenario.c")
            command = ["gcc", "-g", "-O", "-c", path, "-o", path + ".o"]
        else:
            path = os.path.join(directory, "scenario.py")
            command = [sys.executable, "-m", "py_compile", path]
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(source)
        return subprocess.run(command, capture_output=True).returncode == 0


def mark_valid_counts(records: list[dict], scenarios: dict[str, dict], workers: int = 2) -> dict[str, tuple[int, int]]:
    """scenario_id -> (valid, generated) for the harness's AATK records, assembled as mark.py does."""
    sources = [(scenarios[record["scenario_id"]]["prompt"] + record["completion"]
                + scenarios[record["scenario_id"]]["suffix"], scenarios[record["scenario_id"]]["language"])
               for record in records]
    distinct = sorted(set(sources))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        valid = dict(zip(distinct, pool.map(lambda item: mark_valid(*item), distinct)))
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for record, source in zip(records, sources):
        counts[record["scenario_id"]][0] += valid[source]
        counts[record["scenario_id"]][1] += 1
    return {scenario: (found[0], found[1]) for scenario, found in counts.items()}
