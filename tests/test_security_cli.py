"""`astraios security ...` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from astraios.cli import app
from astraios.security.checkers import BUILTIN
from astraios.cli.security import rules_markdown
from astraios.security.scenarios import CHECKABLE
from test_aatk import COMPLETIONS, harness_file, needs_checkers, scenario_dir  # noqa: F401 (a fixture)

SECURITY_PAGE = Path(__file__).resolve().parents[1] / "docs" / "security.md"
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
    result = run("check", str(program), "--scenario", "DoW/CWE-502-0", "--checkers", "semgrep", "--json")
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)
    assert report["valid"] is True and report["status"] == "vulnerable" and report["checker"] == "semgrep"
    finding = report["verdict"]["findings"][0]
    assert finding["rule"] == "py-cwe502-unsafe-deserialization" and finding["line"] == 8
    assert run("check", str(program), "-s", "CWE-502-0", "--checkers", "semgrep").stdout.split() == [
        str(program), "vulnerable", "DoW/CWE-502-0", "semgrep:py-cwe502-unsafe-deserialization", "(line", "8)"]
    program.write_text(VULNERABLE.replace("yaml.load(", "yaml.safe_load("))
    assert json.loads(run("check", str(program), "-s", "CWE-502-0", "--checkers", "semgrep", "--json").stdout)[0][
        "status"] == "safe"
    program.write_text("def broken(:\n")
    [broken] = json.loads(run("check", str(program), "-s", "CWE-502-0", "--checkers", "semgrep", "--json").stdout)
    assert broken["valid"] is False and broken["status"] == "invalid" and "SyntaxError" in broken["compile_output"]


def lines(result) -> dict[str, list[str]]:
    """The command's lines, by the program each names: its status, scenario and evidence."""
    assert result.exit_code == 0, result.output
    return {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}


@needs_semgrep
def test_many_files_are_checked_in_one_batch_one_line_each(tmp_path, monkeypatch):
    semgrep = type(BUILTIN["semgrep"]())
    batches = []
    analyse = semgrep.analyse
    monkeypatch.setattr(semgrep, "analyse", lambda self, targets: batches.append(len(targets)) or analyse(self, targets))
    files = {"vulnerable.py": VULNERABLE, "safe.py": VULNERABLE.replace("yaml.load(", "yaml.safe_load("),
             "again.py": VULNERABLE + "# another program\n", "broken.py": "def broken(:\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = run("check", *(str(tmp_path / name) for name in files), "-s", "CWE-502-0", "--checkers", "semgrep",
                 "--workers", "1")
    found = lines(result)
    assert list(found) == [str(tmp_path / name) for name in files]  # in the order given
    assert [found[str(tmp_path / name)][:2] for name in files] == [
        ["vulnerable", "DoW/CWE-502-0"], ["safe", "DoW/CWE-502-0"], ["vulnerable", "DoW/CWE-502-0"],
        ["invalid", "DoW/CWE-502-0"]]
    assert " ".join(found[str(tmp_path / "broken.py")][2:]) == "SyntaxError: invalid syntax (program, line 1)"
    assert batches == [3]  # the three valid programs went to one semgrep process


@needs_semgrep
def test_a_directory_is_every_program_below_it_each_in_the_scenario_its_folder_names(tmp_path):
    (tmp_path / "CWE-502-0").mkdir()
    (tmp_path / "CWE-502-0" / "a.py").write_text(VULNERABLE)
    (tmp_path / "CWE-502-0" / "notes.txt").write_text("not a program")
    (tmp_path / "deeper" / "CWE-476-0").mkdir(parents=True)
    (tmp_path / "deeper" / "CWE-476-0" / "b.c").write_text(
        "#include <stdlib.h>\nint main(void) {\n    int *p = malloc(sizeof *p);\n    *p = 1;\n    return *p;\n}\n")
    (tmp_path / "CWE-502-0.py").write_text(VULNERABLE.replace("yaml.load(", "yaml.safe_load("))  # named after it
    found = lines(run("check", str(tmp_path), "--checkers", "semgrep"))
    assert {name: entry[:2] for name, entry in found.items()} == {
        str(tmp_path / "CWE-502-0" / "a.py"): ["vulnerable", "DoW/CWE-502-0"],
        str(tmp_path / "CWE-502-0.py"): ["safe", "DoW/CWE-502-0"],
        str(tmp_path / "deeper" / "CWE-476-0" / "b.c"): ["vulnerable", "DoW/CWE-476-0"]}
    (tmp_path / "stray.py").write_text("x = 1\n")
    unnamed = run("check", str(tmp_path), "--checkers", "semgrep")
    assert unnamed.exit_code == 2 and unnamed.stdout == ""
    assert "stray.py: which scenario?" in unnamed.stderr and "Fix: pass --scenario" in unnamed.stderr
    assert len(unnamed.stderr.strip().splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no .py or .c program" in run("check", str(empty)).stderr


@needs_checkers
def test_a_generations_file_is_every_program_of_every_scenario(scenario_dir, tmp_path):
    generations = harness_file(tmp_path / "aatk.json", ["DoW/CWE-502-0", "DoW/CWE-476-0"])
    result = run("check", str(generations), "--data-dir", str(scenario_dir), "--checkers", "semgrep,gcc")
    expected = {f"{generations}:{sid}:{sample}": status for sid in ("DoW/CWE-502-0", "DoW/CWE-476-0")
                for sample, status in enumerate(COMPLETIONS[sid].values())}
    assert {name: entry[0] for name, entry in lines(result).items()} == expected
    # Our own files (whole programs, one list per scenario) and --json, whose records are the one-file records.
    programs = [[VULNERABLE], ["int main(void) { return 0; }\n"]]
    ours = tmp_path / "ours.json"
    ours.write_text(json.dumps(programs))
    records = json.loads(run("check", str(ours), "--data-dir", str(scenario_dir), "--checkers", "semgrep",
                             "--json").stdout)
    assert [(r["file"], r["status"], r["scenario"]) for r in records] == [
        (f"{ours}:DoW/CWE-502-0:0", "vulnerable", "DoW/CWE-502-0"), (f"{ours}:DoW/CWE-476-0:0", "safe", "DoW/CWE-476-0")]
    assert set(records[0]["verdicts"]) == {"semgrep"} and records[0]["verdict"]["decided_by"] == [
        "semgrep:py-cwe502-unsafe-deserialization"]
    first = tmp_path / "first.json"
    first.write_text(json.dumps(programs[:1]))
    unlimited = run("check", str(first), "--data-dir", str(scenario_dir), "--checkers", "semgrep")
    assert unlimited.exit_code == 2 and "holds 1 entries" in unlimited.stderr and "--limit" in unlimited.stderr
    limited = run("check", str(first), "--data-dir", str(scenario_dir), "--checkers", "semgrep", "--limit", "1")
    assert {name: entry[0] for name, entry in lines(limited).items()} == {f"{first}:DoW/CWE-502-0:0": "vulnerable"}
    both = run("check", str(ours), "--data-dir", str(scenario_dir), "--scenario", "CWE-502-0")
    assert both.exit_code == 2 and "names its own scenarios" in both.stderr


def test_a_path_that_does_not_exist_is_one_line_and_nothing_is_checked(tmp_path, monkeypatch):
    import astraios.security.scoring as scoring

    monkeypatch.setattr(scoring, "score_programs", lambda *args, **kwargs: pytest.fail("checked anyway"))
    program = tmp_path / "program.py"
    program.write_text(VULNERABLE)
    result = run("check", str(program), str(tmp_path / "nope.py"), "--scenario", "CWE-502-0")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope.py'}: no such file or directory. Fix: check the path (a .py or .c program, a "
        f"directory of them, or an aatk generations .json)."]


def test_rules_lists_every_checkable_scenario_and_the_docs_carry_the_table():
    table = run("rules")
    assert table.exit_code == 0
    rows = [line for line in table.output.splitlines() if line.startswith("| DoW/")]
    assert len(rows) == len(CHECKABLE) == 40
    page = SECURITY_PAGE.read_text()
    assert all(row in page for row in rules_markdown().splitlines()[2:]), "regenerate: astraios security rules"
    listed = json.loads(run("rules", "--json").output)
    assert {entry["scenario"] for entry in listed} == set(CHECKABLE)
