"""gcc as a C checker: its static analyser (`-fanalyzer`) and its CWE-relevant warnings.

Two passes per batch, because each kind of diagnostic needs its own optimisation level: the
analyser (`-fanalyzer`: NULL dereference, use after free, double free) at -O0, where it sees the
program as written, and the middle-end warnings (`-Warray-bounds`, `-Wstringop-overflow`,
`-Wstringop-overread`, `-Wformat-overflow=2`) at -O2, where the value ranges they rely on exist.
One gcc driver compiles the whole batch (`-c` into the jail's work directory). `#pragma GCC
diagnostic` lines are blanked first (line numbers kept), so generated code cannot silence a
warning. A finding's rule is the warning option, e.g. `-Wanalyzer-use-after-free`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence

from astraios.security.base import AnalysisError, Checker, Finding, Target, file_names, run_jailed
from astraios.security.scenarios import ScenarioCheck

PASSES = (
    ["-O0", "-fanalyzer", "-Wall"],
    ["-O2", "-Wall", "-Wformat-overflow=2", "-Wstringop-overflow=2"],
)
PRAGMA = re.compile(r"^[ \t]*#[ \t]*pragma[ \t]+GCC[ \t]+diagnostic\b.*$|_Pragma\s*\(\s*\"GCC diagnostic[^)]*\)",
                    re.MULTILINE)
INSTALL_HINT = "install gcc (Debian/Ubuntu: apt-get install gcc)"
BATCH_TIMEOUT_S, PER_PROGRAM_S = 60.0, 3.0


def without_diagnostic_pragmas(source: str) -> str:
    return PRAGMA.sub("", source)


class Gcc(Checker):
    name = "gcc"
    languages = ("c",)

    def rules_for(self, scenario: ScenarioCheck) -> tuple[str, ...]:
        return scenario.gcc

    def unavailable(self) -> str | None:
        return None if shutil.which("gcc") else f"gcc is not installed: {INSTALL_HINT}"

    def analyse(self, targets: Sequence[Target]) -> list[list[Finding] | AnalysisError]:
        names = file_names(targets)
        files = {name: without_diagnostic_pragmas(target.program) for name, target in zip(names, targets)}
        index = {name: position for position, name in enumerate(names)}
        found: list[list[Finding] | AnalysisError] = [[] for _ in targets]
        seen: set[tuple[int, str, int | None]] = set()
        for flags in PASSES:
            argv = [shutil.which("gcc"), *flags, "-fdiagnostics-format=json", "-c", *names]
            run = run_jailed(argv, files, timeout_s=BATCH_TIMEOUT_S + PER_PROGRAM_S * len(targets))
            for diagnostic in _diagnostics(run.stderr):
                location = _location(diagnostic, index)
                if location is None:
                    continue
                position, line = location
                if diagnostic.get("kind") == "error":
                    found[position] = AnalysisError(f"gcc could not compile this program: {diagnostic.get('message')}")
                    continue
                rule = str(diagnostic.get("option") or "").split("=", 1)[0]
                if rule and isinstance(found[position], list) and (position, rule, line) not in seen:
                    seen.add((position, rule, line))
                    cwe = diagnostic.get("metadata", {}).get("cwe")
                    message = diagnostic.get("message", "") + (f" [CWE-{cwe}]" if cwe else "")
                    found[position].append(Finding(self.name, rule, line, message))
        return found


def _diagnostics(stderr: str) -> list[dict]:
    """gcc writes one JSON array per compiled file; anything else on stderr is ignored."""
    decoder, position, found = json.JSONDecoder(), 0, []
    while (start := stderr.find("[", position)) != -1:
        try:
            value, position = decoder.raw_decode(stderr, start)
        except ValueError:
            position = start + 1
            continue
        if isinstance(value, list):
            found += [item for item in value if isinstance(item, dict)]
    return found


def _location(diagnostic: dict, index: dict[str, int]) -> tuple[int, int | None] | None:
    """(program, line) of a diagnostic: its first location in one of the batch's files."""
    for location in diagnostic.get("locations", []):
        caret = location.get("caret", {})
        position = index.get(str(caret.get("file", "")).rsplit("/", 1)[-1])
        if position is not None:
            return position, caret.get("line")
    return None
