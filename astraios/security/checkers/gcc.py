"""gcc as a C checker: its static analyser (`-fanalyzer`) and its CWE-relevant warnings.

Each program is preprocessed once (`gcc -E -O2`: the macros of the study's build, `gcc -g -O -c`,
which defines `__OPTIMIZE__` as -O2 does), then compiled twice from that output, because each kind
of diagnostic needs its own optimisation level: the analyser (`-fanalyzer`: NULL dereference, use
after free, double free) at -O0, where it sees the program as written, and the middle-end warnings
(`-Warray-bounds`, `-Wstringop-overflow`, `-Wstringop-overread`, `-Wformat-overflow=2`) at -O2,
where the value ranges they rely on exist. A finding's rule is the warning option, e.g.
`-Wanalyzer-use-after-free`.

Generated code cannot silence a warning or move it to another program:
  * between preprocessing and compiling, every pragma is blanked and every line marker loses its
    flags (`astraios.security.per_program.neutralise`). Preprocessing is what turns `_Pragma`,
    macro-built pragmas, continued lines, `#/**/pragma` and odd spacing into plain `#pragma` lines,
    so no spelling of `#pragma GCC diagnostic`, `GCC system_header` or `GCC optimize` survives, nor
    a `# 1 "/usr/include/stdio.h" 3` marker that would make the program's code a system header,
    nor an `optimize` attribute (renamed: however a macro spells it, it is plain text by then);
  * each program is preprocessed and compiled in processes of its own (`Batch.run_each`), and every
    diagnostic of those processes is that program's, whatever file a `#line` makes it name;
  * diagnostics gcc writes beyond the driver's limit, or that cannot be read, make the verdict an
    error, never `safe`.
Code from system headers is compiled as ordinary code too (it cannot be told apart from code
that claims to be a header); only diagnostics of the scenario's rules count, and the labelled set
measures that this changes no verdict.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence

from astraios.security.base import AnalysisError, Batch, Checker, Finding, Target
from astraios.security.per_program import STDERR_LIMIT
from astraios.security.scenarios import ScenarioCheck

PREPROCESS = ["-E", "-O2"]
PASSES = (
    ["-O0", "-fanalyzer", "-Wall"],
    ["-O2", "-Wall", "-Wformat-overflow=2", "-Wstringop-overflow=2"],
)
INSTALL_HINT = "install gcc (Debian/Ubuntu: apt-get install gcc)"
BATCH_TIMEOUT_S, PER_PROGRAM_S, PROGRAM_LIMIT_S = 60.0, 3.0, 60.0
ARRAY_START = re.compile(r"^[ \t]*\[", re.MULTILINE)


class Gcc(Checker):
    name = "gcc"
    languages = ("c",)

    def rules_for(self, scenario: ScenarioCheck) -> tuple[str, ...]:
        return scenario.gcc

    def unavailable(self) -> str | None:
        return None if shutil.which("gcc") else f"gcc is not installed: {INSTALL_HINT}"

    def analyse(self, targets: Sequence[Target]) -> list[list[Finding] | AnalysisError]:
        gcc = shutil.which("gcc")
        batch = Batch(targets)

        def steps(name: str) -> list[dict]:
            preprocessed = name.rsplit(".", 1)[0] + ".i"
            return [{"argv": [gcc, *PREPROCESS, "-fdiagnostics-format=json", name, "-o", preprocessed]},
                    {"neutralise": preprocessed},
                    *({"argv": [gcc, *flags, "-fdiagnostics-format=json", "-S", preprocessed, "-o", "/dev/null"]}
                      for flags in PASSES)]

        results = batch.run_each(steps, per_program_s=PROGRAM_LIMIT_S,
                                 timeout_s=BATCH_TIMEOUT_S + PER_PROGRAM_S * len(targets))
        return [findings(self.name, results[name]) for name in batch.names]


def findings(checker: str, result: dict) -> list[Finding] | AnalysisError:
    """One program's findings from its preprocessing and compile runs (every diagnostic is its own)."""
    if result["timeout"]:
        return AnalysisError(f"gcc took more than {PROGRAM_LIMIT_S:.0f} s on this program")
    found, seen = [], set()
    for step, run in enumerate(result["runs"]):
        if run.get("truncated"):  # the cut-off part may hold any diagnostic: no verdict without it
            return AnalysisError(f"gcc wrote more than {STDERR_LIMIT:,} characters of diagnostics on this program")
        try:
            diagnostics = _diagnostics(run["stderr"])
        except ValueError as error:
            return AnalysisError(f"gcc wrote unreadable diagnostics on this program: {error}")
        errors = [diagnostic.get("message", "") for diagnostic in diagnostics if "error" in str(diagnostic.get("kind"))]
        if errors or run["exit"] != 0:
            doing = "preprocess" if step == 0 else "compile"
            detail = errors[0] if errors else f"exit {run['exit']}: {run['stderr'][-300:].strip()}"
            return AnalysisError(f"gcc could not {doing} this program: {detail}")
        for diagnostic in diagnostics:
            rule = str(diagnostic.get("option") or "").split("=", 1)[0]
            line = next((location.get("caret", {}).get("line") for location in diagnostic.get("locations", [])), None)
            if rule and (rule, line) not in seen:
                seen.add((rule, line))
                cwe = diagnostic.get("metadata", {}).get("cwe")
                found.append(Finding(checker, rule, line, diagnostic.get("message", "") + (f" [CWE-{cwe}]" if cwe else "")))
    return found


def _diagnostics(stderr: str) -> list[dict]:
    """gcc writes one JSON array per compiled file, each starting a line; other lines (the driver's
    plain-text messages) are ignored. ValueError when an array cannot be read: a diagnostic lost
    would silently turn into a safe verdict."""
    decoder, position, found = json.JSONDecoder(), 0, []
    while match := ARRAY_START.search(stderr, position):
        value, position = decoder.raw_decode(stderr, match.end() - 1)
        if not isinstance(value, list):
            raise ValueError(f"a JSON {type(value).__name__} where gcc writes an array")
        found += [item for item in value if isinstance(item, dict)]
    return found
