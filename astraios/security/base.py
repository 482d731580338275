"""What every checker shares: a finding, a verdict, the checker interface, and how the verdicts of
several checkers combine into one.

A checker looks at a whole program (prompt + completion + suffix, as assembled for its scenario)
and answers with a `Verdict`: its status and the evidence (the findings of the rules it applies to
that scenario), naming the checker and every rule that decided it:

    verdict = checker.check(program, scenario)      # Verdict(status="vulnerable", findings=[...])
    verdicts = checker.check_batch(targets)         # one analyser process for many programs

Statuses: `vulnerable` (a rule of the scenario fired), `safe` (the checker ran its rules for the
scenario and none fired), `error` (the analyser failed on this program; `reason` says how),
`not_applicable` (the checker has no rule for this scenario), `unavailable` (the analyser is not
installed here; `reason` says how to install it).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from astraios.sandbox.program import SUFFIXES
from astraios.security.scenarios import ScenarioCheck

DRIVER = Path(__file__).with_name("per_program.py")
VULNERABLE, SAFE, ERROR = "vulnerable", "safe", "error"
NOT_APPLICABLE, UNAVAILABLE = "not_applicable", "unavailable"
DECIDED = (VULNERABLE, SAFE)


class AnalysisError(RuntimeError):
    """The analyser failed on a batch (timed out, crashed, or wrote output that cannot be read)."""


@dataclass(frozen=True)
class Finding:
    checker: str
    rule: str
    line: int | None
    message: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Verdict:
    """One checker's answer for one program: `status` and the evidence (`findings`, non-empty
    exactly when vulnerable). `rules` are the rules the checker applied to the scenario."""

    checker: str
    status: str
    findings: list[Finding] = field(default_factory=list)
    rules: tuple[str, ...] = ()
    reason: str = ""

    @property
    def vulnerable(self) -> bool:
        return self.status == VULNERABLE

    @property
    def decided_by(self) -> list[str]:
        """`checker:rule` of every rule that fired, each once."""
        return list(dict.fromkeys(f"{finding.checker}:{finding.rule}" for finding in self.findings))

    def to_dict(self) -> dict:
        return {"checker": self.checker, "status": self.status, "decided_by": self.decided_by,
                "findings": [finding.to_dict() for finding in self.findings], "rules": list(self.rules),
                "reason": self.reason}


@dataclass(frozen=True)
class Target:
    """One program to check against one scenario."""

    program: str
    scenario: ScenarioCheck


class Checker(ABC):
    """A static analyser behind the common interface.

    Subclasses say which rules they apply to a scenario (`rules_for`), whether they can run here
    (`unavailable`), and implement `analyse`: every finding of one batch of programs, in one
    analyser run where the tool allows it. Everything else (rule filtering, retrying a failed batch
    one program at a time, verdicts) is shared here."""

    name: str
    languages: tuple[str, ...]

    @abstractmethod
    def rules_for(self, scenario: ScenarioCheck) -> tuple[str, ...]:
        """The rule ids that decide `scenario` (empty: the checker does not apply)."""

    def unavailable(self) -> str | None:
        """Why the checker cannot run on this machine (None: it can)."""
        return None

    @abstractmethod
    def analyse(self, targets: Sequence[Target]) -> list[list[Finding] | AnalysisError]:
        """All findings per target, of any rule, or an AnalysisError for a target the analyser
        failed on alone; raises AnalysisError when the analyser fails as a whole."""

    def check(self, program: str, scenario: ScenarioCheck) -> Verdict:
        """The verdict, with its evidence, on one program."""
        return self.check_batch([Target(program, scenario)])[0]

    def check_batch(self, targets: Sequence[Target]) -> list[Verdict]:
        """One verdict per target, in order; applicable targets are analysed together."""
        verdicts: list[Verdict | None] = [None] * len(targets)
        missing = self.unavailable()
        applicable = []
        for index, target in enumerate(targets):
            rules = self.rules_for(target.scenario) if target.scenario.language in self.languages else ()
            if missing:
                verdicts[index] = Verdict(self.name, UNAVAILABLE, rules=rules, reason=missing)
            elif not rules:
                verdicts[index] = Verdict(self.name, NOT_APPLICABLE,
                                          reason=f"{self.name} has no rule for {target.scenario.scenario_id}")
            else:
                applicable.append(index)
        for index, verdict in zip(applicable, self._analyse_robustly([targets[i] for i in applicable])):
            verdicts[index] = verdict
        return verdicts  # type: ignore[return-value]

    def _analyse_robustly(self, targets: list[Target]) -> list[Verdict]:
        if not targets:
            return []
        try:
            found = self.analyse(targets)
        except AnalysisError as error:
            if len(targets) == 1:
                scenario = targets[0].scenario
                return [Verdict(self.name, ERROR, rules=self.rules_for(scenario), reason=str(error))]
            # One program can spoil a batch (a parser that hangs on it): find it, keep the rest.
            return [verdict for target in targets for verdict in self._analyse_robustly([target])]
        verdicts = []
        for target, findings in zip(targets, found):
            rules = self.rules_for(target.scenario)
            if isinstance(findings, AnalysisError):
                verdicts.append(Verdict(self.name, ERROR, rules=rules, reason=str(findings)))
                continue
            relevant = list(dict.fromkeys(finding for finding in findings if finding.rule in rules))
            verdicts.append(Verdict(self.name, VULNERABLE if relevant else SAFE, relevant, rules))
        return verdicts


def combine(name: str, verdicts: Sequence[Verdict]) -> Verdict:
    """One verdict from several checkers' on the same program: vulnerable when any applicable
    checker found a vulnerability (the evidence is all of theirs), else error when any failed,
    else safe when at least one ran its rules; `not_applicable` when none could decide."""
    applied = [verdict for verdict in verdicts if verdict.status in (VULNERABLE, SAFE, ERROR)]
    rules = tuple(f"{verdict.checker}:{rule}" for verdict in applied for rule in verdict.rules)
    vulnerable = [verdict for verdict in applied if verdict.vulnerable]
    if vulnerable:
        return Verdict(name, VULNERABLE, [finding for verdict in vulnerable for finding in verdict.findings], rules)
    failed = [verdict for verdict in applied if verdict.status == ERROR]
    if failed:
        return Verdict(name, ERROR, rules=rules, reason="; ".join(f"{v.checker}: {v.reason}" for v in failed))
    if applied:
        return Verdict(name, SAFE, rules=rules)
    reasons = "; ".join(f"{verdict.checker}: {verdict.reason}" for verdict in verdicts if verdict.reason)
    return Verdict(name, NOT_APPLICABLE, reason=reasons or "no checker applies")


def file_names(targets: Sequence[Target]) -> list[str]:
    """The name each target's program gets in an analyser's work directory: p0.py, p1.c, ..."""
    return [f"p{index}{SUFFIXES[target.scenario.language]}" for index, target in enumerate(targets)]


class Batch:
    """The programs of one analyser run, named p0.py, p1.c, ..., and what the analyser found in each:
    attributed by the file name it reports (`run`: the programs side by side in the jail's work
    directory, one analyser process for the batch, for analysers that no program's text can make
    report or read another file), or by the processes that found it (`run_each`: each program in a
    directory of its own, analysed in processes of its own, for C analysers, which obey `#line` and
    follow `#include`)."""

    def __init__(self, targets: Sequence[Target], transform: Callable[[Target], str] = lambda target: target.program):
        self.names = file_names(targets)
        self.files = {name: transform(target) for name, target in zip(self.names, targets)}
        self.found: list[list[Finding] | AnalysisError] = [[] for _ in targets]
        self._positions = {name: position for position, name in enumerate(self.names)}

    def position(self, path: str) -> int | None:
        """The program an analyser's path names (None: none of this batch's)."""
        return self._positions.get(Path(path).name)

    def add(self, path: str, finding: Finding) -> None:
        """Record a finding in the program at `path`, unless the analyser failed on that program."""
        position = self.position(path)
        if position is not None and isinstance(self.found[position], list):
            self.found[position].append(finding)

    def fail(self, path: str, error: AnalysisError) -> None:
        """The analyser failed on the program at `path`: its verdict is an error, whatever it found."""
        position = self.position(path)
        if position is not None:
            self.found[position] = error

    def run(self, argv: Sequence[str], *, output: str, parse: Callable[[str], object], timeout_s: float,
            memory_mb: int | None = 4096, nproc: int = 64):
        """Run the analyser over the batch in the jail; its report file `output`, parsed. AnalysisError when
        the analyser dies, times out, or leaves no readable report."""
        run = run_jailed(argv, self.files, outputs=[output], timeout_s=timeout_s, memory_mb=memory_mb, nproc=nproc)
        try:
            return parse(run.outputs[output])
        except (KeyError, ValueError, SyntaxError) as error:  # SyntaxError: xml.etree's ParseError
            raise AnalysisError(f"{Path(argv[0]).name} wrote no readable results (exit {run.exit_code}): "
                                f"{run.stderr[-300:].strip()}") from error

    def run_each(self, steps: Callable[[str], list[dict]], *, output: Callable[[str], str] | None = None,
                 timeout_s: float, per_program_s: float, memory_mb: int | None = 4096,
                 nproc: int = 64) -> dict[str, dict]:
        """Run each program's `steps(name)` in processes of its own, all from one jailed driver process
        (`astraios.security.per_program`, which says what steps are); each program's result (its runs,
        whether it ran out of its `per_program_s`, the `output(name)` file it wrote) under its name.
        Each program is alone in a directory named at random, where its steps run: a preprocessor
        follows `#include "p1.c"` (or `"../DIR/p1.c"`), and no program may read another's text. The
        batch's other files are in the parent directory (`..`). AnalysisError when the driver dies,
        times out, or leaves no readable results."""
        directories = {name: secrets.token_hex(8) for name in self.names}
        plan = {"timeout_s": per_program_s,
                "programs": {name: {"dir": directories[name], "steps": steps(name),
                                    "output": output(name) if output else None} for name in self.names}}
        files = {f"{directories[name]}/{name}" if name in directories else name: text
                 for name, text in self.files.items()}
        files |= {DRIVER.name: DRIVER.read_text(encoding="utf-8"), "plan.json": json.dumps(plan)}
        run = run_jailed([sys.executable, "-I", "-S", DRIVER.name, "plan.json"], files, outputs=["results.json"],
                         timeout_s=timeout_s, memory_mb=memory_mb, nproc=nproc)
        try:
            results = json.loads(run.outputs["results.json"])
            return {name: results[name] for name in self.names}
        except (KeyError, ValueError) as error:
            raise AnalysisError(f"the per-program analyser driver wrote no readable results (exit {run.exit_code}): "
                                f"{run.stderr[-300:].strip()}") from error


def run_jailed(argv: Sequence[str], files: dict[str, str], *, outputs: Sequence[str] = (), timeout_s: float,
               memory_mb: int | None = 4096, nproc: int = 64):
    """Run an analyser over untrusted programs in the sandbox's jail (see astraios.sandbox.tools);
    AnalysisError when it times out or dies."""
    from astraios.sandbox.tools import run_tool

    run = run_tool(argv, files, timeout_s=timeout_s, memory_mb=memory_mb, nproc=nproc, outputs=outputs)
    if run.status != "ok":
        tail = run.stderr[-300:].strip()
        raise AnalysisError(f"{Path(argv[0]).name} {run.status}: {run.reason}" + (f"; {tail}" if tail else ""))
    return run
