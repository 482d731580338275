"""`astraios sandbox run`: one JSON verdict, exit 0 whatever it is, 2 on usage errors."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from astraios.cli import app

runner = CliRunner()


def sandbox_run(*args: str):
    return runner.invoke(app, ["sandbox", "run", *args])


def test_run_prints_one_json_verdict(tmp_path):
    program = tmp_path / "ok.py"
    program.write_text("print('hi')\n")
    result = sandbox_run(str(program))
    assert result.exit_code == 0
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "passed" and verdict["exit_code"] == 0 and verdict["stdout"] == "hi\n"
    assert {"status", "exit_code", "duration_s", "isolation", "phase", "reason"} <= set(verdict)


def test_failing_program_still_exits_zero_and_options_apply(tmp_path):
    program = tmp_path / "loop.txt"
    program.write_text("while True:\n    pass\n")
    result = sandbox_run(str(program), "--language", "python", "--timeout", "0.5", "--memory-mb", "256")
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "timeout"
    early = tmp_path / "early.py"
    early.write_text("import sys\nsys.exit(0)\nassert False\n")
    assert json.loads(sandbox_run(str(early)).stdout)["status"] == "failed"


def test_tests_judge_the_file_from_their_own_process(tmp_path):
    candidate = tmp_path / "solution.py"
    candidate.write_text("import os\ndef add(a, b):\n    os._exit(0)\n")  # a fake exit 0 mid-test
    tests = tmp_path / "test_solution.py"
    tests.write_text("assert add(2, 3) == 5\n")
    verdict = json.loads(sandbox_run(str(candidate), "--tests", str(tests)).stdout)
    assert verdict["status"] == "failed" and "ended before answering" in verdict["reason"]
    candidate.write_text("def add(a, b):\n    return a + b\n")
    assert json.loads(sandbox_run(str(candidate), "--tests", str(tests)).stdout)["status"] == "passed"


def test_usage_errors_exit_2_with_a_clear_message(tmp_path):
    missing = sandbox_run(str(tmp_path / "missing.py"))
    assert missing.exit_code == 2 and "not found" in missing.output
    unknown = tmp_path / "prog.rb"
    unknown.write_text("puts 1")
    guessed = sandbox_run(str(unknown))
    assert guessed.exit_code == 2 and "--language" in guessed.output
    bad_language = sandbox_run(str(unknown), "--language", "ruby")
    assert bad_language.exit_code == 2 and "unknown language" in bad_language.output


def test_help_has_examples():
    result = runner.invoke(app, ["sandbox", "run", "--help"])
    assert result.exit_code == 0 and "astraios sandbox run Main.java" in result.stdout


def test_the_command_survives_a_program_that_kills_its_parents(tmp_path):
    program = tmp_path / "killer.py"
    program.write_text(
        "import os, signal\n"
        "for pid in (os.getppid(), 1):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError:\n        pass\n"
        "print('done')\n"
    )
    command = [sys.executable, "-c", "from astraios.cli import app; app()", "sandbox", "run", str(program)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0
    assert json.loads(completed.stdout)["stdout"] == "done\n"
