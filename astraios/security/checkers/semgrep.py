"""semgrep, offline, with the rules written for this project (`astraios/security/semgrep_rules/`).

One semgrep process checks a whole batch of programs (Python and C together) against every rule;
each finding then counts only for the scenario whose rules include it. semgrep runs in the jail
(no network at all, so no registry, metrics or version check can be reached even by mistake; the
flags say the same) with `--disable-nosem`, so a `# nosemgrep` comment in generated code hides
nothing. It reads the text the compiler reads (`astraios.security.source`: Python decoded as its
coding declaration says, C with its lines spliced and its digraphs spelt out).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from astraios.security.base import AnalysisError, Batch, Checker, Finding, Target
from astraios.security.scenarios import ScenarioCheck
from astraios.security.source import compiled_text

RULES_DIR = Path(__file__).resolve().parents[1] / "semgrep_rules"
RULE_FILES = {"python": "python.yaml", "c": "c.yaml"}
INSTALL_HINT = "pip install 'astraios[security]' (or pip install semgrep)"
PER_FILE_TIMEOUT_S = 10  # semgrep's own per-rule, per-file limit
BATCH_TIMEOUT_S, PER_PROGRAM_S = 60.0, 1.0


def semgrep_executable() -> str | None:
    """`semgrep` beside this interpreter (a virtual environment's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "semgrep"
    return str(beside) if beside.is_file() else shutil.which("semgrep")


class Semgrep(Checker):
    name = "semgrep"
    languages = ("python", "c")

    def rules_for(self, scenario: ScenarioCheck) -> tuple[str, ...]:
        return scenario.semgrep

    def unavailable(self) -> str | None:
        return None if semgrep_executable() else f"semgrep is not installed: {INSTALL_HINT}"

    def analyse(self, targets: Sequence[Target]) -> list[list[Finding] | AnalysisError]:
        batch = Batch(targets, transform=compiled_text)
        configs = []
        for language in sorted({target.scenario.language for target in targets}):
            rule_file = f"rules-{RULE_FILES[language]}"
            batch.files[rule_file] = (RULES_DIR / RULE_FILES[language]).read_text()
            configs += ["--config", rule_file]
        argv = [semgrep_executable(), "scan", "--metrics=off", "--disable-version-check", "--disable-nosem",
                "--json", "--output", "results.json", "--quiet", "--jobs", "1", "--timeout", str(PER_FILE_TIMEOUT_S),
                "--max-target-bytes", "0", *configs, *batch.names]
        report = batch.run(argv, output="results.json", parse=json.loads, memory_mb=None, nproc=256,
                           timeout_s=BATCH_TIMEOUT_S + PER_PROGRAM_S * len(targets))
        for result in report.get("results", []):
            batch.add(result.get("path", ""), Finding(self.name, result["check_id"].rsplit(".", 1)[-1],
                                                      result.get("start", {}).get("line"),
                                                      result.get("extra", {}).get("message", "")))
        for error in report.get("errors", []):
            # A timeout or crash on one file voids that file's verdict; parse errors do not
            # (semgrep still matches what it parsed, and the program compiled).
            kind = str(error.get("type", ""))
            if "Timeout" in kind or "OutOfMemory" in kind or "Fatal" in kind:
                batch.fail(str(error.get("path", "")), AnalysisError(f"semgrep {kind} on this program"))
        return batch.found
