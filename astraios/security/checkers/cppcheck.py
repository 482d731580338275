"""cppcheck (C), with the checks that stand in for each scenario's CodeQL query.

Each program is checked by a cppcheck process of its own (all of a batch's from one jailed
driver, `Batch.run_each`), and every error that process reports is that program's: cppcheck
reports the file a `#line` directive names, and its whole-program (CTU) errors name no checked
file at all, so neither could say which program of a shared run an error belongs to, and one
program's `#line 1 "p3.c"` would move its errors to another. Inline suppressions in generated code
are ignored (cppcheck honours them only with --inline-suppr, which is never passed), and
`__CPPCHECK__` is left undefined, so `#ifdef __CPPCHECK__` cannot hide code from it; gcc's own
predefined macros are defined, so `#if __GNUC__ >= 4` cannot hide from it code that gcc compiles.
When cppcheck is not installed the checker is `unavailable` (Debian/Ubuntu: apt-get install
cppcheck; `scripts/system-deps.sh` installs it) and the other checkers decide without it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence

from astraios.security.base import AnalysisError, Batch, Checker, Finding, Target
from astraios.security.checkers.gcc import PREPROCESS
from astraios.security.scenarios import ScenarioCheck

INSTALL_HINT = "install cppcheck (Debian/Ubuntu: apt-get install cppcheck; scripts/system-deps.sh does it)"
BATCH_TIMEOUT_S, PER_PROGRAM_S, PROGRAM_LIMIT_S = 60.0, 2.0, 60.0
MACROS = "gcc-predefined.h"  # gcc's predefined macros, included before each program


class Cppcheck(Checker):
    name = "cppcheck"
    languages = ("c",)

    def rules_for(self, scenario: ScenarioCheck) -> tuple[str, ...]:
        return scenario.cppcheck

    def unavailable(self) -> str | None:
        return None if shutil.which("cppcheck") else f"cppcheck is not installed: {INSTALL_HINT}"

    def analyse(self, targets: Sequence[Target]) -> list[list[Finding] | AnalysisError]:
        cppcheck = shutil.which("cppcheck")
        batch = Batch(targets)
        batch.files[MACROS] = gcc_predefined_macros()

        def steps(name: str) -> list[dict]:
            return [{"argv": [cppcheck, "--xml", f"--output-file={report(name)}", "--quiet", "--enable=warning",
                              "--language=c", "--std=c11", "--max-configs=1", "-U__CPPCHECK__",
                              f"--include=../{MACROS}", "--suppress=missingIncludeSystem", name]}]

        results = batch.run_each(steps, output=report, per_program_s=PROGRAM_LIMIT_S,
                                 timeout_s=BATCH_TIMEOUT_S + PER_PROGRAM_S * len(targets))
        return [self.findings(results[name]) for name in batch.names]

    def findings(self, result: dict) -> list[Finding] | AnalysisError:
        """Every error of one program's own cppcheck run."""
        if result["timeout"]:
            return AnalysisError(f"cppcheck took more than {PROGRAM_LIMIT_S:.0f} s on this program")
        try:
            root = ElementTree.fromstring(result["output"] or "")
        except ElementTree.ParseError:
            run = result["runs"][-1] if result["runs"] else {"exit": None, "stderr": ""}
            return AnalysisError(f"cppcheck wrote no readable results (exit {run['exit']}): {run['stderr'][-300:].strip()}")
        found = []
        for error in root.iter("error"):
            line = next((location.get("line") for location in error.iter("location")), None)
            found.append(Finding(self.name, error.get("id", ""), int(line) if line else None, error.get("msg", "")))
        return found


def report(name: str) -> str:
    """The XML report of program `name`'s own cppcheck run."""
    return name.rsplit(".", 1)[0] + ".xml"


@functools.cache
def gcc_predefined_macros() -> str:
    """The macros gcc predefines when the gcc checker preprocesses (`__GNUC__`, `__linux__`,
    `__OPTIMIZE__`, ...), as `#define` lines. cppcheck defines none of them and checks one
    configuration, so without them `#if __GNUC__ >= 4` would hide from it code that gcc compiles."""
    gcc = shutil.which("gcc")
    if gcc is None:  # then no C program compiles, and none is checked
        return ""
    run = subprocess.run([gcc, "-dM", *PREPROCESS, "-"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=60)
    if run.returncode != 0:
        raise AnalysisError(f"gcc could not list its predefined macros: {run.stderr[-300:].strip()}")
    return run.stdout
