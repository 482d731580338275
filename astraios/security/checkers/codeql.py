"""CodeQL, the study's checker, when a CodeQL CLI is installed: each scenario's own `check_ql` query.

Per scenario (its query) and batch of programs: `codeql database create` over a source folder
holding every program of the batch (C: built by one `gcc -g -O -c` over all of them, the flags of
Pearce et al.'s Makefile), then `codeql database analyze DB QUERY --format=sarifv2.1.0`; each
SARIF result counts for the program whose file it is in. Results that SARIF marks as suppressed
from outside the code (a `suppressions` entry that is not `rejected` and not `inSource`) do not
count; a suppression comment in the program itself (`inSource`: `// codeql[...]`, `# lgtm`) is
generated text like the rest and silences nothing. One database per batch instead of
one per program, as Pearce et al.'s `mark.py` does, is what makes thousands of programs feasible.

Where the query comes from:
  * `{CODEQL_HOME}/...` with a CodeQL home given (`--codeql-home`, or $CODEQL_HOME) laid out as the
    study's scripts expect (`codeql/codeql` the CLI, `codeql-repo/` a github/codeql checkout):
    exactly that file, with `codeql-repo` on the search path (the study's setup);
  * without one, the same query from the CLI bundle's standard packs
    (`codeql/python-queries:Security/CWE-502/UnsafeDeserialization.ql`);
  * `{CUSTOM_QL}/...`: the dataset's custom queries (`aatk/custom_ql` in the data directory).
The CLI: `--codeql PATH`, else `{CODEQL_HOME}/codeql/codeql`, else `codeql` on PATH.

CodeQL runs outside the sandbox's jail: it needs its own installation (often under a home
directory, which the jail hides), a JVM and large writable database directories. Only programs
that passed the jailed validity check reach it, so a program that includes host files or hangs the
preprocessor never does, and every CodeQL command runs under a time limit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from astraios.security.base import AnalysisError, Checker, Finding, Target, file_names
from astraios.security.scenarios import CODEQL_HOME, CUSTOM_QL, ScenarioCheck

LANGUAGES = {"python": "python", "c": "cpp"}
PACKS = {"python": "codeql/python-queries", "c": "codeql/cpp-queries"}
C_BUILD = "gcc -g -O -c"  # Pearce et al.'s Makefile
INSTALL_HINT = ("install the CodeQL CLI bundle (https://github.com/github/codeql-action/releases) and put `codeql` "
                "on PATH, or pass --codeql PATH / --codeql-home DIR")
TIMEOUT_S, PER_PROGRAM_S = 600.0, 5.0


def suppressed(result: dict) -> bool:
    """Whether SARIF marks a result as suppressed from outside the checked code (an accepted or pending
    suppression that is not one of the code's own comments)."""
    return any(entry.get("status", "accepted") != "rejected" and entry.get("kind") != "inSource"
               for entry in result.get("suppressions") or [])


def sarif_findings(sarif: dict) -> dict[str, list[tuple[str, int | None, str]]]:
    """File name -> (rule id, start line, message) of every result that is not suppressed."""
    found: dict[str, list[tuple[str, int | None, str]]] = defaultdict(list)
    for run in sarif.get("runs", []):
        for result in run.get("results", []):
            if suppressed(result):
                continue
            rule = result.get("ruleId") or result.get("rule", {}).get("id", "")
            message = result.get("message", {}).get("text", "")
            for location in result.get("locations", [])[:1]:
                physical = location.get("physicalLocation", {})
                uri = physical.get("artifactLocation", {}).get("uri", "")
                found[Path(uri).name].append((rule, physical.get("region", {}).get("startLine"), message))
    return dict(found)


class CodeQL(Checker):
    name = "codeql"
    languages = ("python", "c")

    def __init__(self, codeql: str | None = None, codeql_home: str | None = None, custom_ql: str | None = None):
        home = codeql_home or os.environ.get("CODEQL_HOME")
        self.codeql_home = Path(home) if home else None
        self.custom_ql = Path(custom_ql) if custom_ql else None
        self.executable = self._find(codeql)

    def _find(self, given: str | None) -> str | None:
        if given:
            path = shutil.which(given) or (given if Path(given).is_file() else None)
            return str(Path(path).resolve()) if path else None
        if self.codeql_home and (self.codeql_home / "codeql" / "codeql").is_file():
            return str(self.codeql_home / "codeql" / "codeql")
        return shutil.which("codeql")

    def rules_for(self, scenario: ScenarioCheck) -> tuple[str, ...]:
        return (scenario.query_name,)

    def unavailable(self) -> str | None:
        return None if self.executable else f"no CodeQL CLI found: {INSTALL_HINT}"

    def query(self, scenario: ScenarioCheck) -> str:
        """The query to run for `scenario`: a file path or a pack reference."""
        check = scenario.check_ql
        if check.startswith(CUSTOM_QL):
            if self.custom_ql is None:
                raise AnalysisError(f"{scenario.scenario_id} uses a custom query of the dataset; pass --data-dir (or "
                                    f"custom_ql) so that aatk/custom_ql can be found")
            return str(self.custom_ql) + check[len(CUSTOM_QL):]
        if self.codeql_home is not None:
            return str(self.codeql_home) + check[len(CODEQL_HOME):]
        return f"{PACKS[scenario.language]}:{check.split('/ql/src/', 1)[1]}"

    def commands(self, scenario: ScenarioCheck, names: list[str], database: Path, source: Path,
                 output: Path) -> list[list[str]]:
        """The two CodeQL commands for one batch of one scenario."""
        create = [self.executable, "database", "create", str(database), f"--language={LANGUAGES[scenario.language]}",
                  f"--source-root={source}", "--overwrite"]
        if scenario.language == "c":
            create.append(f"--command={C_BUILD} {' '.join(names)}")
        analyze = [self.executable, "database", "analyze", str(database), self.query(scenario),
                   "--format=sarifv2.1.0", f"--output={output}", "--threads=0"]
        if self.codeql_home is not None and (self.codeql_home / "codeql-repo").is_dir():
            analyze.append(f"--search-path={self.codeql_home / 'codeql-repo'}")
        return [create, analyze]

    def analyse(self, targets: Sequence[Target]) -> list[list[Finding] | AnalysisError]:
        found: list[list[Finding] | AnalysisError] = [[] for _ in targets]
        groups: dict[str, list[int]] = defaultdict(list)
        for position, target in enumerate(targets):
            groups[target.scenario.scenario_id].append(position)
        for positions in groups.values():
            batch = [targets[position] for position in positions]
            try:
                results = self._run(batch)
            except AnalysisError as error:
                if len(targets) == len(batch):
                    raise  # the whole call failed: the caller retries program by program
                results = [error] * len(batch)
            for position, result in zip(positions, results):
                found[position] = result
        return found

    def _run(self, batch: list[Target]) -> list[list[Finding]]:
        scenario = batch[0].scenario
        names = file_names(batch)
        with tempfile.TemporaryDirectory(prefix="astraios-codeql-") as work:
            source, database, output = Path(work) / "src", Path(work) / "db", Path(work) / "results.sarif"
            source.mkdir()
            for name, target in zip(names, batch):
                (source / name).write_text(target.program)
            for command in self.commands(scenario, names, database, source, output):
                try:
                    subprocess.run(command, cwd=source, capture_output=True, text=True, check=True,
                                   timeout=TIMEOUT_S + PER_PROGRAM_S * len(batch))
                except subprocess.TimeoutExpired as error:
                    raise AnalysisError(f"codeql {command[1]} {command[2]} timed out after "
                                        f"{error.timeout:.0f} s") from None
                except subprocess.CalledProcessError as error:
                    raise AnalysisError(f"codeql {command[1]} {command[2]} failed (exit {error.returncode}): "
                                        f"{(error.stderr or error.stdout or '')[-500:].strip()}") from None
            try:
                by_file = sarif_findings(json.loads(output.read_text()))
            except (OSError, ValueError) as error:
                raise AnalysisError(f"codeql wrote no readable SARIF: {error}") from None
        return [[Finding(self.name, scenario.query_name, line, f"{rule}: {message}")
                 for rule, line, message in by_file.get(name, [])] for name in names]
