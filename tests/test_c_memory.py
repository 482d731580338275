"""A C program that runs out of memory is an `error` (a resource limit), as in Python and Java, not a
`failed` program: an allocation the limit refuses, and a compiler that runs out of memory on it
(issue 21, item 10)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from astraios.sandbox import Program, run_many
from astraios.sandbox import languages

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed (apt-get install gcc)")

HANDLES_IT = ("#include <stdio.h>\n#include <stdlib.h>\nint main(void) {\n    char *p = malloc((size_t)64 << 30);\n"
              "    if (!p) { fputs(\"no memory\\n\", stderr); return 1; }\n    p[0] = 1;\n    return 0;\n}\n")
CRASHES = ("#include <stdlib.h>\nint main(void) {\n    volatile char *p = calloc((size_t)1 << 20, (size_t)1 << 16);\n"
           "    p[0] = 1;\n    return 0;\n}\n")
SMALL = "#include <stdlib.h>\nint main(void) {\n    char *p = malloc(64);\n    p[0] = 1;\n    free(p);\n    return 1;\n}\n"
COMPILER_BOMB = '#include "/dev/zero"\nint main(void) { return 0; }\n'  # the preprocessor reads until it has no memory


def test_a_refused_allocation_is_an_error_whatever_the_program_does_then():
    results = run_many([Program("c", HANDLES_IT), Program("c", CRASHES), Program("c", SMALL)], progress=False)
    assert [(result.status, result.reason) for result in results[:2]] == [("error", "memory limit exceeded")] * 2
    assert (results[2].status, results[2].reason) == ("failed", "exit code 1")  # an ordinary failure stays one


def test_a_compiler_out_of_memory_is_an_error(monkeypatch):
    from astraios.sandbox.tools import compile_many

    # A lower limit for the compile than the default 4 GiB, so that it is reached in a second.
    monkeypatch.setattr(languages, "COMPILE_LIMITS", dataclasses.replace(languages.COMPILE_LIMITS,
                                                                         address_space_mb=768))
    (result,) = run_many([Program("c", COMPILER_BOMB)], progress=False)
    assert (result.status, result.phase) == ("error", "compile"), result
    assert result.reason == "memory limit exceeded (the compiler ran out of memory)"
    checked = compile_many([Program("c", COMPILER_BOMB), Program("c", SMALL)])
    assert [(result.status, result.reason) for result in checked] == [
        ("error", "memory limit exceeded (the compiler ran out of memory)"), ("passed", "")]
