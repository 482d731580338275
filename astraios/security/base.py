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
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from astraios.security.scenarios import ScenarioCheck

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


SUFFIXES = {"python": ".py", "c": ".c"}


def file_names(targets: Sequence[Target]) -> list[str]:
    """The name each target's program gets in an analyser's work directory: p0.py, p1.c, ..."""
    return [f"p{index}{SUFFIXES[target.scenario.language]}" for index, target in enumerate(targets)]


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
