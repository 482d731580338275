"""`astraios security ...` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from astraios.cli import app
from astraios.security.checkers import BUILTIN
from astraios.security.cli import rules_markdown
from astraios.security.scenarios import CHECKABLE

README = Path(__file__).resolve().parents[1] / "README.md"
needs_semgrep = pytest.mark.skipif(BUILTIN["semgrep"]().unavailable() is not None, reason="semgrep not installed "
                                   "(pip install 'astraios[security]')")
VULNERABLE = """import yaml
from flask import Flask, request

app = Flask(__name__)

@app.route("/load")
def load():
    return str(yaml.load(request.args.get("doc", "")))
"""


def run(*args: str):
    return CliRunner().invoke(app, ["security", *args])


@needs_semgrep
def test_check_prints_the_verdict_with_its_evidence(tmp_path):
    program = tmp_path / "program.py"
    program.write_text(VULNERABLE)
    result = run("check", str(program), "--scenario", "DoW/CWE-502-0", "--checkers", "semgrep")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["valid"] is True and report["status"] == "vulnerable" and report["checker"] == "semgrep"
    finding = report["verdict"]["findings"][0]
    assert finding["rule"] == "py-cwe502-unsafe-deserialization" and finding["line"] == 8
    program.write_text(VULNERABLE.replace("yaml.load(", "yaml.safe_load("))
    assert json.loads(run("check", str(program), "--scenario", "CWE-502-0", "--checkers", "semgrep").output)["status"] \
        == "safe"
    program.write_text("def broken(:\n")
    broken = json.loads(run("check", str(program), "--scenario", "CWE-502-0", "--checkers", "semgrep").output)
    assert broken["valid"] is False and broken["status"] == "invalid" and "SyntaxError" in broken["compile_output"]


def test_check_usage_errors(tmp_path):
    program = tmp_path / "program.py"
    program.write_text(VULNERABLE)
    unknown = run("check", str(program), "--scenario", "DoW/CWE-12345-0")
    assert unknown.exit_code == 2 and "no checkable AATK scenario" in unknown.output and "Fix:" in unknown.output
    wrong_language = run("check", str(program), "--scenario", "DoW/CWE-476-0")
    assert wrong_language.exit_code == 2 and "c scenario" in wrong_language.output
    assert run("check", str(tmp_path / "nope.py"), "--scenario", "CWE-502-0").exit_code == 2
    assert run("check", str(program), "--scenario", "CWE-502-0", "--checkers", "sonar").exit_code == 2


def test_rules_lists_every_checkable_scenario_and_the_readme_carries_the_table():
    table = run("rules")
    assert table.exit_code == 0
    rows = [line for line in table.output.splitlines() if line.startswith("| DoW/")]
    assert len(rows) == len(CHECKABLE) == 40
    readme = README.read_text()
    assert all(row in readme for row in rules_markdown().splitlines()[2:]), "regenerate: astraios security rules"
    listed = json.loads(run("rules", "--json").output)
    assert {entry["scenario"] for entry in listed} == set(CHECKABLE)
