"""Wrong programs that try to pass their tests anyway, in Python, Java and C (issue 21).

Each forgery is a candidate with a wrong answer plus an attack on the harness; `judged(f)` is the
program as the sandbox now runs it (the tests in another process), `one_process(f)` the same
candidate and tests in one program, as the harness ran them before (the candidate's code first,
then the tests). tests/test_sandbox_judged.py checks every forgery fails judged; run on a tree
from before the redesign, `one_process` programs are the ones that passed there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Forgery:
    name: str
    language: str
    candidate: str
    tests: str  # what the judge runs (Java: with the Solution proxy)
    one_process_tests: str = ""  # the tests as one program ran them, when they differ (Java: no proxy)


# ------------------------------------------------------------------------------------ python
PY_TESTS = """
def check(candidate):
    assert candidate(2, 3) == 5
    assert candidate(10, -4) == 6
    return 'checked'

check(add)
"""
PY_WRONG = "def add(a, b):\n    return 0\n"
# Every 32-hex string of the process's readable memory, sprayed to every fd, then a fake exit 0.
PY_SPRAY = """
def _spray(found):
    import os
    for fd in range(3, 1100):
        for nonce in found:
            try:
                os.write(fd, nonce + b'\\n')
            except OSError:
                break
    os._exit(0)
"""
PY_PROC_MEM = PY_SPRAY + """
def _forge():
    import re
    found = set()
    with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            start, end = (int(x, 16) for x in span.split('-'))
            if 'r' not in perms or end - start > 1 << 28:
                continue
            try:
                mem.seek(start)
                found.update(re.findall(rb'(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])', mem.read(end - start)))
            except (OSError, ValueError, OverflowError):
                pass
    _spray(found)
"""
PY_CTYPES_MEM = PY_SPRAY + """
def _forge():
    import ctypes, re
    found = set()
    for line in open('/proc/self/maps'):
        span, perms = line.split()[:2]
        start, end = (int(x, 16) for x in span.split('-'))
        if perms.startswith('rw') and end - start < 1 << 28 and '[vvar' not in line:
            found.update(re.findall(rb'(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])', ctypes.string_at(start, end - start)))
    _spray(found)
"""
PY_TRACE = """
import linecache, sys
def _tracer(frame, event, arg):
    if frame.f_code.co_name == 'check':
        return _skip_asserts
def _skip_asserts(frame, event, arg):
    line = lambda number: linecache.getline(frame.f_code.co_filename, number).strip()
    if event == 'line' and line(frame.f_lineno).startswith('assert'):
        target = frame.f_lineno + 1
        while line(target).startswith('assert'):
            target += 1
        try:
            frame.f_lineno = target
        except ValueError:
            pass
    return _skip_asserts
sys.settrace(_tracer)
"""
PY_ANYTHING = """
class Anything:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __hash__(self):
        return 0
    def __bool__(self):
        return True
"""
PY_READ_TESTS = """
import re
_answers = {}
for _path in [__file__]:
    for _a, _b, _c in re.findall(r'candidate\\((-?\\d+), (-?\\d+)\\) == (-?\\d+)', open(_path).read()):
        _answers[int(_a), int(_b)] = int(_c)
def add(a, b):
    return _answers.get((a, b), 0)
"""
PYTHON = [
    Forgery("python /proc/self/mem scan and spray", "python", PY_PROC_MEM + PY_WRONG.replace("return 0", "_forge()"), PY_TESTS),
    Forgery("python ctypes memory scan and spray", "python", PY_CTYPES_MEM + PY_WRONG.replace("return 0", "_forge()"), PY_TESTS),
    Forgery("python guessed nonces sprayed to every fd", "python",
            PY_SPRAY + PY_WRONG.replace("return 0", "_spray({b'0' * 32, b'0123456789abcdef' * 2})"), PY_TESTS),
    Forgery("python trace hook jumps over asserts", "python", PY_TRACE + PY_WRONG, PY_TESTS),
    Forgery("python result equal to everything", "python", PY_ANYTHING + "def add(a, b):\n    return Anything()\n", PY_TESTS),
    Forgery("python int subclass with rigged __eq__", "python",
            "class R(int):\n    __eq__ = lambda self, other: True\n    __hash__ = int.__hash__\n"
            "def add(a, b):\n    return R(0)\n", PY_TESTS),
    Forgery("python exit 0 from a destructor after a memory scan", "python",
            PY_CTYPES_MEM + "class Bomb:\n    def __del__(self):\n        _forge()\n"
            "def add(a, b):\n    return Bomb()\n", PY_TESTS),
    Forgery("python exit 0 from an atexit hook after a memory scan", "python",
            PY_CTYPES_MEM + "import atexit\natexit.register(_forge)\n" + PY_WRONG, PY_TESTS),
    Forgery("python reads the tests and answers from them", "python", PY_READ_TESTS, PY_TESTS),
    Forgery("python shadows the builtins the tests use", "python",
            PY_WRONG + "def tuple(x):\n    return 1\n",
            "def check(candidate):\n    assert tuple(candidate(2, 3)) == tuple([5])\ncheck(add)\n"),
    Forgery("python launcher frame and proof keeper locks", "python",
            "import os, sys, time\n_locals = sys._getframe(1).f_locals\n"
            "for _lock in [v for v in _locals.values() if type(v).__name__ == 'lock']:\n"
            "    try:\n        _lock.release()\n    except RuntimeError:\n        pass\n" + PY_WRONG, PY_TESTS),
    Forgery("python protocol-like output and a killed parent", "python",
            "import os, signal, sys\nprint('[\"return\", 5, []]'); print('done'); sys.stdout.flush()\n"
            "os.write(2, b'\\x00\\x00\\x00\\x0b[\"done\",5]')\n" + PY_WRONG.replace(
                "return 0", "os.kill(os.getppid(), signal.SIGKILL)\n    return 0"), PY_TESTS),
]

# -------------------------------------------------------------------------------------- java
JAVA_CANDIDATE = """import java.util.*;
class Solution {
    public int add(int a, int b) {
        %s
    }
    public List<Integer> evens(List<Integer> xs) {
        %s
    }
}
"""
JAVA_ADD = "return a + b;"
JAVA_EVENS = "List<Integer> out = new ArrayList<>(); for (int x : xs) if (x % 2 == 0) out.add(x); return out;"
JAVA_MAIN = """
public class Main {
    public static void main(String[] args) {
        Solution s = new Solution();
        if (s.add(2, 3) != 5) { throw new AssertionError(); }
        if (!s.evens(new ArrayList<>(Arrays.asList(1, 2, 3, 4))).equals(Arrays.asList(2, 4))) { throw new AssertionError(); }
        if (!Objects.equals(s.add(10, -4), 6)) { throw new AssertionError(); }
    }
}
"""
JAVA_PROXY = """import java.util.*;
class Solution {
    public int add(int a, int b) {
        return AstraiosRemote.call(this, "add", new Object[] {a, b});
    }
    public List<Integer> evens(List<Integer> xs) {
        return AstraiosRemote.call(this, "evens", new Object[] {xs});
    }
}
"""
# Read every resident writable mapping of the JVM through /proc/self/mem (the launcher's nonce is a
# byte[] on its heap), spray the 32-hex strings to every fd, then halt(0).
JAVA_MEMORY_SCAN = """
        try {
            java.util.Set<String> found = new java.util.HashSet<>();
            try (java.io.RandomAccessFile mem = new java.io.RandomAccessFile("/proc/self/mem", "r")) {
                long start = 0, end = 0;
                boolean writable = false;
                for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/smaps"))) {
                    String[] parts = line.trim().split("\\s+");
                    if (parts[0].matches("[0-9a-f]+-[0-9a-f]+")) {
                        String[] span = parts[0].split("-");
                        start = Long.parseUnsignedLong(span[0], 16);
                        end = Long.parseUnsignedLong(span[1], 16);
                        writable = parts[1].startsWith("rw") && !line.contains("[vvar");
                    } else if (parts[0].equals("Rss:") && writable && Long.parseLong(parts[1]) > 0) {
                        for (long at = start; at < end; at += 1 << 22) {
                            try {
                                byte[] bytes = new byte[(int) Math.min(1 << 22, end - at)];
                                mem.seek(at);
                                mem.readFully(bytes);
                                int run = 0;
                                for (int i = 0; i < bytes.length; i++) {
                                    boolean hex = (bytes[i] >= '0' && bytes[i] <= '9') || (bytes[i] >= 'a' && bytes[i] <= 'f');
                                    run = hex ? run + 1 : 0;
                                    if (run == 32 && (i + 1 == bytes.length || !((bytes[i + 1] >= '0' && bytes[i + 1] <= '9')
                                            || (bytes[i + 1] >= 'a' && bytes[i + 1] <= 'f')))) {
                                        found.add(new String(bytes, i - 31, 32, java.nio.charset.StandardCharsets.ISO_8859_1));
                                    }
                                }
                            } catch (Exception e) { }
                        }
                    }
                }
            }
            for (int fd = 3; fd < 300; fd++) {
                try (java.io.FileOutputStream out = new java.io.FileOutputStream("/proc/self/fd/" + fd)) {
                    for (String nonce : found) out.write((nonce + "\\n").getBytes());
                } catch (Exception e) { }
            }
        } catch (Exception e) { }
        Runtime.getRuntime().halt(0);
"""
JAVA = [
    Forgery("java /proc/self/mem scan and spray, then halt(0)", "java",
            JAVA_CANDIDATE % (JAVA_MEMORY_SCAN + " return 0;", "return null;"), JAVA_PROXY + JAVA_MAIN, JAVA_MAIN),
    Forgery("java scan and spray from a shutdown hook after System.exit(0)", "java",
            JAVA_CANDIDATE % ("Runtime.getRuntime().addShutdownHook(new Thread(() -> {" + JAVA_MEMORY_SCAN + "}));"
                              " System.exit(0); return 0;", "return null;"), JAVA_PROXY + JAVA_MAIN, JAVA_MAIN),
    Forgery("java list whose equals is always true", "java",
            JAVA_CANDIDATE % (JAVA_ADD, "return new ArrayList<Integer>() { public boolean equals(Object o) { return true; }"
                                        " public int hashCode() { return 0; } };"),
            JAVA_PROXY + JAVA_MAIN, JAVA_MAIN),
    Forgery("java shadows java.util.Objects used by the tests", "java",
            JAVA_CANDIDATE % ("return a == 10 ? 0 : a + b;", JAVA_EVENS)
            + "class Objects {\n    static boolean equals(Object a, Object b) { return true; }\n}\n",
            JAVA_PROXY + JAVA_MAIN, JAVA_MAIN),
    Forgery("java static initialiser halts with status 0", "java",
            (JAVA_CANDIDATE % ("return 0;", "return null;")).replace(
                "class Solution {", "class Solution {\n    static { Runtime.getRuntime().halt(0); }"),
            JAVA_PROXY + JAVA_MAIN, JAVA_MAIN),
]

# ----------------------------------------------------------------------------------------- c
C_TESTS = """#include <string.h>
int main(void) {
    int failures = 0;
    failures += add(2, 3) != 5;
    failures += strcmp(greet("ada"), "hello ada") != 0;
    return failures != 0;
}
"""
C_PROTOTYPES = "int add(int a, int b);\nconst char *greet(const char *name);\n"
C_WRONG = 'int add(int a, int b) { %s return 0; }\nconst char *greet(const char *name) { return "bye"; }\n'
# Every readable-writable mapping of the process (its .bss holds the launcher's nonce) scanned for
# 32-hex strings, sprayed to every fd, then a fake exit 0.
C_SCAN = """#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void forge(void) {
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    while (maps && fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 || strncmp(perms, "rw", 2) || strstr(line, "[vvar")) continue;
        for (const char *p = (const char *)start; p + 32 <= (const char *)end; p++) {
            int n = 0;
            while (n < 32 && (isdigit((unsigned char)p[n]) || (p[n] >= 'a' && p[n] <= 'f'))) n++;
            if (n != 32) continue;
            char nonce[33];
            memcpy(nonce, p, 32);
            nonce[32] = '\\n';
            for (int fd = 3; fd < 1100; fd++) (void)!write(fd, nonce, 33);
        }
    }
    _exit(0);
}
"""
C = [
    Forgery("c memory (.bss) scan and spray, then _exit(0)", "c", C_SCAN + C_WRONG % "forge();", C_TESTS),
    Forgery("c re-enters the launcher's __wrap_main from its own main", "c",
            "#include <unistd.h>\n#include <assert.h>\nint __wrap_main(int, char **, char **);\n" + C_WRONG % ""
            + "int main(int argc, char **argv, char **envp) {\n    static int entered;\n"
            "    if (entered++) return 0;  /* the launcher's second call: \"completed\" */\n"
            "    __wrap_main(argc, argv, envp);\n    _exit(0);\n    assert(add(2, 3) == 5);\n}\n", C_TESTS),
    Forgery("c constructor copies the memory, a destructor sprays it and exits 0", "c",
            C_SCAN.replace("for (int fd = 3; fd < 1100; fd++) (void)!write(fd, nonce, 33);",
                           "if (saved_count < 64) memcpy(saved[saved_count++], nonce, 33);").replace(
                "    _exit(0);\n}", "}").replace("static void forge", "static char saved[64][33];\nstatic int saved_count;\n"
                                                  "__attribute__((constructor)) static void forge")
            + "__attribute__((destructor)) static void spray(void) {\n"
            "    for (int fd = 3; fd < 1100; fd++) for (int i = 0; i < saved_count; i++) (void)!write(fd, saved[i], 33);\n"
            "    _exit(0);\n}\n" + C_WRONG % "", C_TESTS),
    Forgery("c shadows the strcmp the tests use", "c",
            "int strcmp(const char *a, const char *b) { (void)a, (void)b; return 0; }\n"
            + C_WRONG.replace("return 0;", "return a + b;") % "", C_TESTS),
    Forgery("c defines libgcc's __popcountdi2, which the tests' own __builtin_popcountl calls", "c",
            "int add(int a, int b) { (void)a, (void)b; return 0; }\nint __popcountdi2(long int a) { (void)a; return 0; }\n",
            "int main(void) {\n    volatile unsigned long bits = 31;  /* five ones, counted at run time */\n"
            "    return add(2, 3) != __builtin_popcountl(bits);\n}\n"),
    Forgery("c kills every process it may signal", "c",
            "#include <signal.h>\n" + C_WRONG % "kill(-1, SIGKILL); kill(getppid(), SIGKILL);", C_TESTS),
]

ALL = PYTHON + JAVA + C


def judged(forgery: Forgery):
    from astraios.sandbox import Program

    return Program(forgery.language, forgery.candidate, tests=forgery.tests, timeout_s=20.0)


def one_process(forgery: Forgery) -> str:
    """The candidate and its tests as one program (C: with the prototypes first; a candidate with
    its own main, which runs its own checks, is the whole program)."""
    if forgery.language == "c" and "int main(" in forgery.candidate:
        return forgery.candidate
    if forgery.language == "c":
        return C_PROTOTYPES + forgery.candidate + forgery.tests
    return forgery.candidate + "\n" + (forgery.one_process_tests or forgery.tests)
