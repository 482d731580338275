"""cppcheck (C), with the checks that stand in for each scenario's CodeQL query.

One cppcheck process checks a batch of programs, in the jail. Inline suppressions in generated
code are ignored (cppcheck honours them only with --inline-suppr, which is never passed). When
cppcheck is not installed the checker is `unavailable` (Debian/Ubuntu: apt-get install cppcheck;
`scripts/system-deps.sh` installs it) and the other checkers decide without it.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

from astraios.security.base import AnalysisError, Checker, Finding, Target, file_names, run_jailed
from astraios.security.scenarios import ScenarioCheck

INSTALL_HINT = "install cppcheck (Debian/Ubuntu: apt-get install cppcheck; scripts/system-deps.sh does it)"
BATCH_TIMEOUT_S, PER_PROGRAM_S = 60.0, 2.0


class Cppcheck(Checker):
    name = "cppcheck"
    languages = ("c",)

    def rules_for(self, scenario: ScenarioCheck) -> tuple[str, ...]:
        return scenario.cppcheck

    def unavailable(self) -> str | None:
        return None if shutil.which("cppcheck") else f"cppcheck is not installed: {INSTALL_HINT}"

    def analyse(self, targets: Sequence[Target]) -> list[list[Finding] | AnalysisError]:
        names = file_names(targets)
        argv = [shutil.which("cppcheck"), "--xml", "--output-file=results.xml", "--quiet", "--enable=warning",
                "--language=c", "--std=c11", "--max-configs=1", "--suppress=missingIncludeSystem", *names]
        run = run_jailed(argv, {name: target.program for name, target in zip(names, targets)},
                         outputs=["results.xml"], timeout_s=BATCH_TIMEOUT_S + PER_PROGRAM_S * len(targets))
        try:
            root = ElementTree.fromstring(run.outputs["results.xml"])
        except (KeyError, ElementTree.ParseError) as error:
            raise AnalysisError(f"cppcheck wrote no readable results (exit {run.exit_code}): "
                                f"{run.stderr[-300:].strip()}") from error
        index = {name: position for position, name in enumerate(names)}
        found: list[list[Finding] | AnalysisError] = [[] for _ in targets]
        for error in root.iter("error"):
            for location in error.iter("location"):
                position = index.get(Path(location.get("file", "")).name)
                if position is not None:
                    line = location.get("line")
                    found[position].append(Finding(self.name, error.get("id", ""), int(line) if line else None,
                                                   error.get("msg", "")))
                    break
        return found
