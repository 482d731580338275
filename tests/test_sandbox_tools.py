"""Compile-only checks and trusted tools over untrusted files, in the sandbox's jail."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from astraios.sandbox import Program
from astraios.sandbox.isolation import Isolation
from astraios.sandbox.tools import compile_many, run_tool

needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc not found (Debian: apt-get install gcc)")

C_OK = "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n"
# A macro whose expansion has 10**12 tokens: the preprocessor never finishes.
C_BOMB = ("#define A(x) x x x x x x x x x x\n#define B(x) A(A(A(A(x))))\n#define C(x) B(B(B(x)))\n"
          "int main(void) { C(;) return 0; }\n")


def test_python_programs_must_parse_and_byte_compile():
    results = compile_many([
        Program("python", "def f(x):\n    return x + 1\n"),
        Program("python", "def f(:\n    pass\n"),
        Program("python", "return 5\n"),  # parses (ast.parse accepts it) but does not byte-compile
        Program("python", "x = 1\n\ty = 2\n"),
        Program("python", "print('ok')\n"),
    ])
    assert [result.status for result in results] == ["passed", "failed", "failed", "failed", "passed"]
    assert "SyntaxError" in results[1].stderr and "'return' outside function" in results[2].stderr
    assert all(result.phase == "compile" for result in results)


@needs_gcc
def test_c_programs_must_pass_gcc_syntax_checks_and_each_gets_its_own_verdict():
    results = compile_many([
        Program("c", C_OK),
        Program("c", "int main(void) { return 0 }\n"),
        Program("c", C_OK.replace("hi", "there")),
        Program("c", "int main(void) { undeclared_variable = 1; return 0; }\n"),
        Program("python", "x = 1\n"),
    ])
    assert [result.status for result in results] == ["passed", "failed", "passed", "failed", "passed"]
    assert "error" in results[1].stderr and "undeclared" in results[3].stderr


@needs_gcc
def test_a_line_directive_moves_no_compile_error_to_another_program_of_the_batch():
    """Programs of a batch are p0.c, p1.c, ...: the second claims to be the first, and the error is
    still its own (issue 21, item 2)."""
    forged = '#line 1 "p0.c"\nint main(void) { return 0 }\n'
    results = compile_many([Program("c", C_OK), Program("c", forged), Program("c", C_OK + "\n")])
    assert [result.status for result in results] == ["passed", "failed", "passed"]
    assert "expected" in results[1].stderr


@needs_gcc
def test_a_compiler_that_never_finishes_is_stopped_and_spoils_no_other_verdict():
    results = compile_many([Program("c", C_OK), Program("c", C_BOMB), Program("c", C_OK + "\n")], timeout_s=2)
    assert results[0].status == "passed" and results[2].status == "passed"
    assert results[1].status in ("timeout", "failed", "error") and results[1].status != "passed"


def test_run_tool_reads_back_the_files_the_tool_writes():
    run = run_tool(["/bin/sh", "-c", "cat in.txt in.txt > out.txt; echo done"], {"in.txt": "ab"},
                   outputs=["out.txt", "missing.txt"], timeout_s=20)
    assert run.status == "ok" and run.exit_code == 0 and run.stdout == "done\n"
    assert run.outputs == {"out.txt": "abab"}


def test_run_tool_reports_a_timeout():
    run = run_tool(["/bin/sleep", "30"], {}, timeout_s=1)
    assert run.status == "timeout"


@needs_gcc
def test_the_preprocessor_cannot_read_hidden_host_files():
    if Isolation.tier() != "namespaces":
        pytest.skip("hidden directories need the namespaces isolation tier")
    with tempfile.TemporaryDirectory() as directory:
        secret = Path(directory) / "secret.h"
        secret.write_text("int leaked = 42;\n")
        [result] = compile_many([Program("c", f'#include "{secret}"\nint main(void) {{ return leaked; }}\n')])
    assert result.status == "failed" and "No such file" in result.stderr and "42" not in result.stderr
