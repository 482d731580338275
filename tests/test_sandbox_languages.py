"""Java and C through the sandbox: compile and run phases, completion proof, limits."""

from __future__ import annotations

import shutil

import pytest

from astraios.core.io import read_jsonl
from astraios.sandbox import Program, run_many, run_program

needs_jdk = pytest.mark.skipif(
    not (shutil.which("javac") and shutil.which("java")),
    reason="javac/java not found: install a JDK 17+ (Debian: apt-get install default-jdk-headless)",
)
needs_gcc = pytest.mark.skipif(not shutil.which("gcc"), reason="gcc not found (Debian: apt-get install gcc)")

JAVA_OK = """import java.util.*;
class Solution {
    public int add(int a, int b) { return a + b; }
}
public class Main {
    public static void main(String[] args) {
        Solution s = new Solution();
        if (s.add(2, 3) != 5) { throw new AssertionError(); }
        System.out.println("sum ok");
    }
}
"""

def java(source: str, **kwargs):
    return run_program(Program("java", source, **kwargs))


def c(source: str, **kwargs):
    return run_program(Program("c", source, **kwargs))


@needs_jdk
def test_java_pass_fail_and_compile_error():
    passed = java(JAVA_OK)
    assert passed.status == "passed" and passed.stdout == "sum ok\n" and passed.compile_duration_s is not None
    wrong = java(JAVA_OK.replace("a + b", "a - b"))
    assert wrong.status == "failed" and wrong.phase == "run" and "AssertionError" in wrong.stderr
    assert "AstraiosLauncher" not in wrong.stderr  # the trace shows the program's frames only
    broken = java(JAVA_OK.replace("return a + b;", "return a + ;"))
    assert broken.status == "failed" and broken.phase == "compile" and "error" in broken.stderr


@needs_jdk
@pytest.mark.parametrize("early_exit", ["System.exit(0);", "Runtime.getRuntime().halt(0);"])
def test_java_premature_exit_is_not_success(early_exit):
    result = java(JAVA_OK.replace("Solution s = new Solution();", early_exit + " Solution s = new Solution();")
                  .replace("a + b", "a - b"))
    assert result.status == "failed" and result.exit_code == 0 and "before the end" in result.reason


@needs_jdk
def test_java_program_cannot_replace_the_launcher():
    forged = JAVA_OK.replace("a + b", "a - b") + """
class AstraiosLauncher {
    public static void main(String[] args) throws Exception {
        byte[] nonce = java.nio.file.Files.readAllBytes(java.nio.file.Path.of("/proc/self/fd/3"));
        java.io.FileOutputStream proof = new java.io.FileOutputStream("/proc/self/fd/4");
        proof.write(nonce);
        proof.write('\\n');
        proof.close();
    }
}
"""
    assert java(forged).status == "failed"


@needs_jdk
def test_java_limits():
    loop = java("public class Main { public static void main(String[] a) { while (true) {} } }", timeout_s=1.0)
    assert loop.status == "timeout"
    hog = "public class Main { public static void main(String[] a) { long[][] x = new long[1 << 20][]; " \
          "for (int i = 0; i < x.length; i++) x[i] = new long[1 << 16]; } }"
    oom = java(hog, memory_mb=256)
    assert oom.status == "error" and "memory" in oom.reason
    big_file = java("import java.io.*; public class Main { public static void main(String[] a) throws Exception { "
                    "FileOutputStream f = new FileOutputStream(\"big.bin\"); byte[] b = new byte[1 << 20]; "
                    "for (int i = 0; i < 100; i++) f.write(b); } }")
    assert big_file.status == "error" and big_file.reason == "file size limit exceeded"
    stdin = java("import java.util.*; public class Main { public static void main(String[] a) { "
                 "System.out.println(new Scanner(System.in).nextInt() * 2); } }", stdin="21\n")
    assert stdin.status == "passed" and stdin.stdout == "42\n"


@needs_jdk
def test_java_humanevalpack_canonical_pass_and_buggy_fail(data_dir):
    path = data_dir / "humanevalpack" / "humanevalpack_java.jsonl"
    if not path.exists():
        pytest.skip(f"HumanEvalPack data not found at {path} (set ASTRAIOS_DATA_DIR)")
    records = read_jsonl(path)[:6]
    programs = [Program("java", r["declaration"] + r["canonical_solution"] + "\n" + r["test"]) for r in records]
    programs += [Program("java", r["declaration"] + r["buggy_solution"] + "\n" + r["test"]) for r in records]
    statuses = [r.status for r in run_many(programs, workers=2, progress=False)]
    assert statuses == ["passed"] * 6 + ["failed"] * 6


@needs_gcc
def test_c_pass_fail_and_compile_error():
    ok = c('#include <stdio.h>\n#include <assert.h>\nint add(int a, int b) { return a + b; }\n'
           'int main(void) { assert(add(2, 3) == 5); printf("ok\\n"); }\n')  # implicit return 0
    assert ok.status == "passed" and ok.stdout == "ok\n" and ok.compile_duration_s is not None
    wrong = c('#include <assert.h>\nint main(void) { assert(1 + 1 == 3); return 0; }\n')
    assert wrong.status == "failed" and wrong.phase == "run"
    code = c("int main(void) { return 3; }\n")
    assert code.status == "failed" and code.exit_code == 3
    broken = c("int main(void) { return 0 }\n")
    assert broken.status == "failed" and broken.phase == "compile" and "error" in broken.stderr


@needs_gcc
@pytest.mark.parametrize("early_exit", ["exit(0);", "_exit(0);", "quick_exit(0);"])
def test_c_premature_exit_is_not_success(early_exit):
    result = c(f"#include <stdlib.h>\n#include <unistd.h>\n#include <assert.h>\nint main(void) {{ {early_exit} assert(0); }}\n")
    assert result.status == "failed" and result.exit_code == 0 and "before the end" in result.reason


@needs_gcc
def test_c_constructor_cannot_steal_the_nonce():
    thief = (
        "#include <assert.h>\n#include <unistd.h>\n"
        "__attribute__((constructor)) static void steal(void) {\n"
        "    char buffer[256];\n    ssize_t n = read(3, buffer, sizeof buffer - 1);\n"
        "    if (n > 0) { buffer[n] = '\\n'; (void)!write(4, buffer, (size_t)n + 1); }\n}\n"
        "int main(void) { _exit(0); assert(0); }\n"
    )
    assert c(thief).status == "failed"


@needs_gcc
def test_c_file_size_limit_is_an_error():
    source = ('#include <stdio.h>\nint main(void) { FILE *f = fopen("big.bin", "wb"); static char b[1 << 20];\n'
              '  for (int i = 0; i < 100; i++) fwrite(b, 1, sizeof b, f);\n  fclose(f);\n  return 0;\n}\n')
    result = c(source)
    assert result.status == "error" and result.reason == "file size limit exceeded" and result.signal == "SIGXFSZ"


@needs_gcc
def test_c_crash_timeout_and_stdin():
    crash = c("int main(void) { volatile int *p = 0; return *p; }\n")
    assert crash.status == "failed" and crash.signal == "SIGSEGV"
    assert c("int main(void) { for (;;) {} }\n", timeout_s=1.0).status == "timeout"
    echo = c('#include <stdio.h>\nint main(void) { int x; scanf("%d", &x); printf("%d\\n", x + 1); }\n', stdin="41")
    assert echo.status == "passed" and echo.stdout == "42\n"
