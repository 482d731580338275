"""bandit (Python), with the tests that stand in for each scenario's CodeQL query.

One bandit process checks a batch of programs; it runs in the jail with `--ignore-nosec`, so a
`# nosec` comment in generated code hides nothing. Shell-command tests count from MEDIUM
severity up: bandit rates a shell command made only of literals LOW, and those carry no input.
Like semgrep, it reads the text CPython compiles (`astraios.security.source`).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Sequence

from astraios.security.base import AnalysisError, Batch, Checker, Finding, Target
from astraios.security.scenarios import ScenarioCheck
from astraios.security.source import compiled_text

SEVERITY = {"UNDEFINED": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}
MINIMUM_SEVERITY = {"B602": "MEDIUM", "B605": "MEDIUM"}
INSTALL_HINT = "pip install 'astraios[security]' (or pip install bandit)"
BATCH_TIMEOUT_S, PER_PROGRAM_S = 60.0, 0.5


class Bandit(Checker):
    name = "bandit"
    languages = ("python",)

    def rules_for(self, scenario: ScenarioCheck) -> tuple[str, ...]:
        return scenario.bandit

    def unavailable(self) -> str | None:
        return None if importlib.util.find_spec("bandit") else f"bandit is not installed: {INSTALL_HINT}"

    def analyse(self, targets: Sequence[Target]) -> list[list[Finding] | AnalysisError]:
        batch = Batch(targets, transform=compiled_text)
        argv = [sys.executable, "-m", "bandit", "--format", "json", "--output", "results.json", "--quiet",
                "--ignore-nosec", *batch.names]
        report = batch.run(argv, output="results.json", parse=json.loads,
                           timeout_s=BATCH_TIMEOUT_S + PER_PROGRAM_S * len(targets))
        for result in report.get("results", []):
            test = result.get("test_id", "")
            if SEVERITY.get(result.get("issue_severity", ""), 0) >= SEVERITY[MINIMUM_SEVERITY.get(test, "LOW")]:
                batch.add(result.get("filename", ""), Finding(self.name, test, result.get("line_number"),
                                                              result.get("issue_text", "")))
        for error in report.get("errors", []):
            batch.fail(str(error.get("filename", "")),
                       AnalysisError(f"bandit could not analyse this program: {error.get('reason', '')}"))
        return batch.found
