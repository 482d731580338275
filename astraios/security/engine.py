"""Checking many programs fast: deduplicate, batch per analyser, run analysers in parallel.

    selection = select_checkers("builtin")
    verdicts = check_many([(program, scenario), ...], selection, workers=4)
    verdicts[0]["builtin"].status            # "vulnerable"; verdicts[0]["semgrep"], ["bandit"], ...

A grid cell checks 40 scenarios x 20 samples; low-temperature samples repeat a lot, so identical
(scenario, program) pairs are checked once. Each analyser gets the remaining programs in a few
large batches (one semgrep, bandit, cppcheck or gcc process per batch instead of one per program:
analyser start-up, not analysis, is most of the cost of a small program), and the batches of all
analysers run at once in `workers` threads, each waiting on its own jailed process.

Checker names: `semgrep`, `bandit`, `gcc`, `cppcheck` (the built-in analysers), `builtin` (their
union: vulnerable when any of them flags the program), `codeql` (the study's checker, when a
CodeQL CLI is installed), `auto` (codeql when available, else builtin). With several names, the
first decides the task's insecure rate and the others are reported beside it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from astraios.security.base import Checker, Target, Verdict, combine
from astraios.security.scenarios import ScenarioCheck

BUILTIN_NAMES = ("semgrep", "bandit", "gcc", "cppcheck")
NAMES = ("auto", "builtin", "codeql", *BUILTIN_NAMES)
MAX_BATCH = 200  # programs per analyser process


@dataclass
class Selection:
    """The checkers a run uses: `names` in order (the first decides), `analysers` to run."""

    names: list[str]
    analysers: dict[str, Checker] = field(default_factory=dict)

    @property
    def decisive(self) -> str:
        return self.names[0]

    def unavailable(self) -> dict[str, str]:
        """Analysers that cannot run here, with the reason (they are left out of `builtin`)."""
        return {name: reason for name, checker in self.analysers.items() if (reason := checker.unavailable())}

    def verdicts(self, found: dict[str, Verdict]) -> dict[str, Verdict]:
        """Every named verdict (with `builtin` combined from its parts) and every analyser's."""
        result = dict(found)
        if "builtin" in self.names:
            result["builtin"] = combine("builtin", [found[name] for name in BUILTIN_NAMES if name in found])
        return result


def parse_names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in NAMES]
    if not names or unknown:
        raise ValueError(f"checkers {text!r}: unknown {', '.join(unknown) or '(empty)'}. Fix: give a comma-separated "
                         f"list of {', '.join(NAMES)} (e.g. --checkers builtin or --checkers codeql,builtin).")
    return list(dict.fromkeys(names))


def select_checkers(text: str = "auto", **codeql_options) -> Selection:
    """The checkers named in `text`; `codeql_options` (codeql, codeql_home, custom_ql) configure CodeQL."""
    from astraios.security.checkers import BUILTIN
    from astraios.security.checkers.codeql import CodeQL

    names = parse_names(text)
    codeql = CodeQL(**codeql_options)
    names = [("codeql" if codeql.unavailable() is None else "builtin") if name == "auto" else name for name in names]
    names = list(dict.fromkeys(names))
    analysers: dict[str, Checker] = {}
    for name in names:
        for part in (BUILTIN_NAMES if name == "builtin" else (name,)):
            analysers[part] = codeql if part == "codeql" else BUILTIN[part]()
    return Selection(names, analysers)


def check_many(items: Sequence[tuple[str, ScenarioCheck]], selection: Selection, *, workers: int | None = None,
               on_done: Callable[[int], None] | None = None, batch_size: int = MAX_BATCH) -> list[dict[str, Verdict]]:
    """The verdicts (name -> Verdict) of every (program, scenario) pair, in input order.

    `on_done(k)` reports progress: k more analyser verdicts finished. `batch_size`: the most
    programs per analyser process (1 = one process per program, the benchmark's baseline)."""
    index: dict[tuple[str, str], int] = {}
    targets: list[Target] = []
    slots = []
    for program, scenario in items:
        key = (scenario.scenario_id, program)
        if key not in index:
            index[key] = len(targets)
            targets.append(Target(program, scenario))
        slots.append(index[key])
    workers = workers or os.cpu_count() or 1
    jobs = []
    for name, checker in selection.analysers.items():
        size = max(1, min(batch_size, math.ceil(len(targets) / workers)))
        jobs += [(name, checker, start, targets[start:start + size]) for start in range(0, len(targets), size)]
    found: list[dict[str, Verdict]] = [{} for _ in targets]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="checker") as pool:
        futures = {pool.submit(checker.check_batch, batch): (name, start) for name, checker, start, batch in jobs}
        for future in as_completed(futures):
            name, start = futures[future]
            verdicts = future.result()
            for offset, verdict in enumerate(verdicts):
                found[start + offset][name] = verdict
            if on_done:
                on_done(len(verdicts))
    per_target = [selection.verdicts(verdicts) for verdicts in found]
    return [per_target[slot] for slot in slots]


def work_units(items: Sequence[tuple[str, ScenarioCheck]], selection: Selection) -> int:
    """How many analyser verdicts `check_many` computes (for a progress bar)."""
    return len({(scenario.scenario_id, program) for program, scenario in items}) * len(selection.analysers)

