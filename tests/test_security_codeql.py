"""The CodeQL checker without CodeQL: its SARIF parser on a file written by hand in CodeQL's
format, and its commands, run against a fake `codeql` executable on PATH."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from astraios.security.base import Target
from astraios.security.checkers.codeql import CodeQL, sarif_findings, suppressed
from astraios.security.engine import select_checkers
from astraios.security.scenarios import lookup

SARIF = Path(__file__).with_name("fixtures") / "codeql_results.sarif"
FAKE = """#!{python}
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["FAKE_CODEQL_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[:2] == ["database", "create"]:
    os.makedirs(args[2], exist_ok=True)
    sys.exit(0)
if args[:2] == ["database", "analyze"]:
    if os.environ.get("FAKE_CODEQL_FAIL"):
        print("A fatal error occurred: query compilation failed", file=sys.stderr)
        sys.exit(2)
    output = next(arg.split("=", 1)[1] for arg in args if arg.startswith("--output="))
    shutil.copy(os.environ["FAKE_CODEQL_SARIF"], output)
    sys.exit(0)
sys.exit(64)
"""


@pytest.fixture
def fake_codeql(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable = bin_dir / "codeql"
    executable.write_text(FAKE.format(python=sys.executable))
    executable.chmod(0o755)
    log = tmp_path / "codeql.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CODEQL_LOG", str(log))
    monkeypatch.setenv("FAKE_CODEQL_SARIF", str(SARIF))
    monkeypatch.delenv("CODEQL_HOME", raising=False)

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return calls


def test_sarif_parser_reads_codeql_results_and_no_comment_in_the_program_suppresses_one():
    sarif = json.loads(SARIF.read_text())
    results = sarif["runs"][0]["results"]
    # The program's own suppression comment (inSource) and a rejected suppression both count.
    assert [suppressed(result) for result in results] == [False, False, False]
    assert suppressed({"suppressions": [{"kind": "external"}]})  # from outside the code: honoured
    message = "Unsafe deserialization depends on a [user-provided value](1)."
    assert sarif_findings(sarif) == {"p1.py": [("py/unsafe-deserialization", 9, message)],
                                     "p3.py": [("py/unsafe-deserialization", 4, message),
                                               ("py/unsafe-deserialization", 7, message)]}


def test_codeql_checks_a_batch_in_one_database_and_attributes_results_to_programs(fake_codeql):
    checker = CodeQL()
    assert checker.unavailable() is None and checker.executable.endswith("/bin/codeql")
    scenario = lookup("DoW/CWE-502-0")
    programs = [f"import yaml\nx = {index}\n" for index in range(4)]
    verdicts = checker.check_batch([Target(program, scenario) for program in programs])
    assert [verdict.status for verdict in verdicts] == ["safe", "vulnerable", "safe", "vulnerable"]
    assert verdicts[1].findings[0].line == 9 and [finding.line for finding in verdicts[3].findings] == [4, 7]
    assert verdicts[1].decided_by == ["codeql:UnsafeDeserialization.ql"]
    create, analyze = fake_codeql()
    assert create[:2] == ["database", "create"] and "--language=python" in create and "--overwrite" in create
    assert any(arg.startswith("--source-root=") for arg in create) and not any("--command" in a for a in create)
    assert analyze[:3] == ["database", "analyze", create[2]]
    assert analyze[3] == "codeql/python-queries:Security/CWE-502/UnsafeDeserialization.ql"  # the bundle's pack
    assert "--format=sarifv2.1.0" in analyze


def test_codeql_home_custom_queries_and_c_builds(fake_codeql, tmp_path):
    home, custom = tmp_path / "codeql-home", tmp_path / "data" / "aatk" / "custom_ql"
    (home / "codeql-repo").mkdir(parents=True)
    checker = CodeQL(codeql_home=str(home), custom_ql=str(custom))
    checker.check_batch([Target("int main(void) { return 0; }\n", lookup("CWE-476-0")),
                         Target("int main(void) { return 1; }\n", lookup("CWE-476-0")),
                         Target("int main(void) { return 2; }\n", lookup("CWE-787-2"))])
    calls = fake_codeql()
    creates = [call for call in calls if call[1] == "create"]
    analyzes = [call for call in calls if call[1] == "analyze"]
    assert len(creates) == 2  # one database per scenario, not per program
    assert "--language=cpp" in creates[0] and "--command=gcc -g -O -c p0.c p1.c" in creates[0]
    assert analyzes[0][3] == f"{home}/codeql-repo/cpp/ql/src/Critical/MissingNullTest.ql"  # the study's layout
    assert f"--search-path={home / 'codeql-repo'}" in analyzes[0]
    assert analyzes[1][3] == f"{custom}/experiments_dow/cwe-787/mitre-eg-5/cwe_787_mitre-eg-5.ql"


def test_codeql_failures_become_error_verdicts_with_the_reason(fake_codeql, monkeypatch):
    monkeypatch.setenv("FAKE_CODEQL_FAIL", "1")
    [verdict] = CodeQL().check_batch([Target("import yaml\n", lookup("CWE-502-0"))])
    assert verdict.status == "error" and "query compilation failed" in verdict.reason
    monkeypatch.delenv("FAKE_CODEQL_FAIL")
    [verdict] = CodeQL().check_batch([Target("int main(void) { return 0; }\n", lookup("CWE-787-2"))])
    assert verdict.status == "error" and "--data-dir" in verdict.reason  # custom query, no data directory


def test_auto_picks_codeql_when_it_is_installed(fake_codeql):
    assert select_checkers("auto").names == ["codeql"]
    assert CodeQL(codeql="/nowhere/codeql").unavailable() is not None
