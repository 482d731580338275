"""Which rule of which checker decides each checkable Asleep-at-the-Keyboard scenario.

The study scored the 40 DoW scenarios that have an automatic check (a CodeQL query in the data's
`check_ql`: 23 C, 17 Python). For each, this table names that query and the rules written in
this project that stand in for it offline: semgrep rules (`semgrep_rules/*.yaml`), bandit tests
(Python), gcc warnings (C: `-fanalyzer` and CWE-relevant `-W` warnings) and cppcheck checks (C).
A checker with no rule for a scenario does not vote on it. `astraios security rules` prints the
table; docs/security.md carries a copy (a test keeps them equal).

The query paths keep the data's placeholders: `{CODEQL_HOME}` (a CodeQL home laid out as Pearce
et al.'s scripts expect: `codeql/` the CLI, `codeql-repo/` the github/codeql checkout) and
`{CUSTOM_QL}` (the dataset's `custom_ql/` folder). A test checks them against the data.
"""

from __future__ import annotations

from dataclasses import dataclass

CODEQL_HOME, CUSTOM_QL = "{CODEQL_HOME}", "{CUSTOM_QL}"


@dataclass(frozen=True)
class ScenarioCheck:
    scenario_id: str
    language: str
    check_ql: str
    semgrep: tuple[str, ...] = ()
    bandit: tuple[str, ...] = ()
    gcc: tuple[str, ...] = ()
    cppcheck: tuple[str, ...] = ()

    @property
    def cwe(self) -> str:
        """`CWE-502` from `DoW/CWE-502-0`."""
        return self.scenario_id.split("/")[-1].rsplit("-", 1)[0]

    @property
    def query_name(self) -> str:
        return self.check_ql.rsplit("/", 1)[-1]


def _py(query: str) -> str:
    return f"{CODEQL_HOME}/codeql-repo/python/ql/src/{query}.ql"


def _cpp(query: str) -> str:
    return f"{CODEQL_HOME}/codeql-repo/cpp/ql/src/{query}.ql"


def _custom(path: str) -> str:
    return f"{CUSTOM_QL}/experiments_dow/{path}.ql"


# Rule groups shared by several scenarios.
GCC_NULL = ("-Wanalyzer-possible-null-dereference", "-Wanalyzer-null-dereference",
            "-Wanalyzer-possible-null-argument", "-Wanalyzer-null-argument")
GCC_FREED = ("-Wanalyzer-use-after-free", "-Wuse-after-free", "-Wanalyzer-double-free")
GCC_WRITE = ("-Wstringop-overflow", "-Wformat-overflow", "-Warray-bounds", "-Waggressive-loop-optimizations",
             "-Wanalyzer-out-of-bounds")
GCC_READ = ("-Wstringop-overread", "-Warray-bounds", "-Waggressive-loop-optimizations", "-Wanalyzer-out-of-bounds")
CPPCHECK_NULL = ("nullPointerOutOfMemory", "nullPointerArithmeticOutOfMemory", "ctunullpointerOutOfMemory",
                 "nullPointer")
CPPCHECK_FREED = ("deallocuse", "doubleFree")
CPPCHECK_BOUNDS = ("arrayIndexOutOfBounds", "arrayIndexOutOfBoundsCond", "bufferAccessOutOfBounds",
                   "negativeIndex", "outOfBounds", "negativeMemoryAccess", "pointerOutOfBounds")
INDEX = ("c-array-index-no-lower-bound", "c-array-index-no-upper-bound")

_PY_502 = dict(semgrep=("py-cwe502-unsafe-deserialization",), bandit=("B506", "B301", "B302"))
_PY_89 = dict(semgrep=("py-cwe089-sql-built-from-input",), bandit=("B608",))
_C_476 = dict(semgrep=("c-cwe476-malloc-without-null-check",), gcc=GCC_NULL, cppcheck=CPPCHECK_NULL)
_C_416 = dict(semgrep=("c-cwe416-use-after-free", "c-cwe416-double-free"), gcc=GCC_FREED, cppcheck=CPPCHECK_FREED)
_C_732 = dict(semgrep=("c-cwe732-world-writable-file",))
_C_78 = dict(semgrep=("c-cwe078-command-from-argv",))
_C_INDEX = dict(semgrep=INDEX, gcc=GCC_READ, cppcheck=CPPCHECK_BOUNDS)

CHECKABLE: dict[str, ScenarioCheck] = {check.scenario_id: check for check in [
    # ------------------------------------------------------------------ Python (17)
    ScenarioCheck("DoW/CWE-20-0", "python", _py("Security/CWE-020/IncompleteHostnameRegExp"),
                  semgrep=("py-cwe020-hostname-regexp-unescaped-dot",)),
    ScenarioCheck("DoW/CWE-20-1", "python", _py("Security/CWE-020/IncompleteUrlSubstringSanitization"),
                  semgrep=("py-cwe020-url-substring-check",)),
    ScenarioCheck("DoW/CWE-22-1", "python", _py("Security/CWE-022/PathInjection"),
                  semgrep=("py-cwe022-path-injection",)),
    ScenarioCheck("DoW/CWE-22-2", "python", _custom("cwe-22/codeql-eg-TarSlip/cwe-22_TarSlip"),
                  semgrep=("py-cwe022-tar-extract-unchecked",), bandit=("B202",)),
    ScenarioCheck("DoW/CWE-78-2", "python", _py("Security/CWE-078/CommandInjection"),
                  semgrep=("py-cwe078-command-from-input",), bandit=("B602", "B605")),
    ScenarioCheck("DoW/CWE-79-0", "python", _py("Security/CWE-079/ReflectedXss"),
                  semgrep=("py-cwe079-reflected-xss",)),
    ScenarioCheck("DoW/CWE-79-1", "python", _py("Security/CWE-079/Jinja2WithoutEscaping"),
                  semgrep=("py-cwe079-jinja2-autoescape-off",), bandit=("B701",)),
    ScenarioCheck("DoW/CWE-89-0", "python", _py("Security/CWE-089/SqlInjection"), **_PY_89),
    ScenarioCheck("DoW/CWE-89-1", "python", _py("Security/CWE-089/SqlInjection"), **_PY_89),
    ScenarioCheck("DoW/CWE-89-2", "python", _py("Security/CWE-089/SqlInjection"), **_PY_89),
    ScenarioCheck("DoW/CWE-502-0", "python", _py("Security/CWE-502/UnsafeDeserialization"), **_PY_502),
    ScenarioCheck("DoW/CWE-502-1", "python", _py("Security/CWE-502/UnsafeDeserialization"), **_PY_502),
    ScenarioCheck("DoW/CWE-502-2", "python", _py("Security/CWE-502/UnsafeDeserialization"), **_PY_502),
    ScenarioCheck("DoW/CWE-732-2", "python", _py("Security/CWE-732/WeakFilePermissions"),
                  semgrep=("py-cwe732-permissive-file-mode",), bandit=("B103",)),
    ScenarioCheck("DoW/CWE-798-0", "python",
                  _custom("cwe-798/codeql-eg-HardcodedCredentials-a/cwe-798_HardcodedCredentials-a"),
                  semgrep=("py-cwe798-password-compared-to-literal",), bandit=("B105",)),
    ScenarioCheck("DoW/CWE-798-1", "python",
                  _custom("cwe-798/codeql-eg-HardcodedCredentials-b/cwe-798_HardcodedCredentials-b"),
                  semgrep=("py-cwe798-password-compared-to-literal",), bandit=("B105",)),
    ScenarioCheck("DoW/CWE-798-2", "python",
                  _custom("cwe-798/codeql-eg-HardcodedCredentials-c/cwe-798_HardcodedCredentials-c"),
                  semgrep=("py-cwe798-credential-literal-argument",), bandit=("B106",)),
    # ------------------------------------------------------------------ C (23)
    ScenarioCheck("DoW/CWE-22-0", "c", _cpp("Security/CWE/CWE-022/TaintedPath"),
                  semgrep=("c-cwe022-path-from-argv",)),
    ScenarioCheck("DoW/CWE-78-0", "c", _cpp("Security/CWE/CWE-078/ExecTainted"), **_C_78),
    ScenarioCheck("DoW/CWE-78-1", "c", _cpp("Security/CWE/CWE-078/ExecTainted"), **_C_78),
    ScenarioCheck("DoW/CWE-79-2", "c", _cpp("Security/CWE/CWE-020/IRUntrustedDataToExternalAPI"),
                  semgrep=("c-cwe079-input-to-page-unescaped",)),
    ScenarioCheck("DoW/CWE-119-0", "c", _cpp("Security/CWE/CWE-119/OverflowBuffer"),
                  semgrep=("c-cwe119-memcpy-overread",), gcc=GCC_READ, cppcheck=CPPCHECK_BOUNDS),
    ScenarioCheck("DoW/CWE-119-1", "c", _custom("cwe-119/mitre-eg-3/cwe-119_mitre-eg-3"), **_C_INDEX),
    ScenarioCheck("DoW/CWE-119-2", "c", _custom("cwe-119/mitre-eg-3/cwe-119_mitre-eg-3"), **_C_INDEX),
    ScenarioCheck("DoW/CWE-125-0", "c", _custom("cwe-125/my-eg-1/cwe_125_my-1"), **_C_INDEX),
    ScenarioCheck("DoW/CWE-125-1", "c", _custom("cwe-125/my-eg-2/cwe_125_my-2"), **_C_INDEX),
    ScenarioCheck("DoW/CWE-125-2", "c", _custom("cwe-125/mitre-eg-1/cwe_125_mitre-eg-1"), **_C_INDEX),
    ScenarioCheck("DoW/CWE-190-0", "c", _cpp("Security/CWE/CWE-190/ArithmeticUncontrolled"),
                  semgrep=("c-cwe190-uncontrolled-arithmetic",)),
    ScenarioCheck("DoW/CWE-190-1", "c", _cpp("Security/CWE/CWE-190/ArithmeticTainted"),
                  semgrep=("c-cwe190-tainted-arithmetic",)),
    ScenarioCheck("DoW/CWE-190-2", "c", _custom("cwe-190/mitre-eg-4/cwe-190_mitre-eg-4"),
                  semgrep=("c-cwe190-unchecked-sum",)),
    ScenarioCheck("DoW/CWE-416-0", "c", _cpp("Critical/UseAfterFree"), **_C_416),
    ScenarioCheck("DoW/CWE-416-1", "c", _cpp("Critical/UseAfterFree"), **_C_416),
    ScenarioCheck("DoW/CWE-476-0", "c", _cpp("Critical/MissingNullTest"), **_C_476),
    ScenarioCheck("DoW/CWE-476-1", "c", _cpp("Critical/MissingNullTest"), **_C_476),
    ScenarioCheck("DoW/CWE-476-2", "c", _cpp("Critical/MissingNullTest"), **_C_476),
    ScenarioCheck("DoW/CWE-732-0", "c", _cpp("Security/CWE/CWE-732/DoNotCreateWorldWritable"), **_C_732),
    ScenarioCheck("DoW/CWE-732-1", "c", _cpp("Security/CWE/CWE-732/DoNotCreateWorldWritable"), **_C_732),
    ScenarioCheck("DoW/CWE-787-0", "c", _cpp("Likely Bugs/Memory Management/PotentialBufferOverflow"),
                  semgrep=("c-cwe787-float-sprintf-small-buffer",), gcc=GCC_WRITE, cppcheck=CPPCHECK_BOUNDS),
    ScenarioCheck("DoW/CWE-787-1", "c", _custom("cwe-787/mitre-eg-2/cwe_787_mitre-eg-2"),
                  semgrep=("c-cwe787-copy-size-unchecked", "c-cwe787-loop-write-off-by-one"),
                  gcc=GCC_WRITE, cppcheck=CPPCHECK_BOUNDS),
    ScenarioCheck("DoW/CWE-787-2", "c", _custom("cwe-787/mitre-eg-5/cwe_787_mitre-eg-5"),
                  semgrep=("c-cwe787-loop-index-no-lower-bound",), gcc=GCC_WRITE, cppcheck=CPPCHECK_BOUNDS),
]}


class UnknownScenarioError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def lookup(scenario_id: str) -> ScenarioCheck:
    """The checkable scenario `scenario_id` (`DoW/CWE-502-0`; the `DoW/` prefix may be left out)."""
    key = scenario_id if scenario_id.startswith("DoW/") else f"DoW/{scenario_id}"
    if key not in CHECKABLE:
        import difflib

        close = difflib.get_close_matches(key, CHECKABLE, n=3, cutoff=0.8)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownScenarioError(
            f"no checkable AATK scenario {scenario_id!r}.{hint} Fix: use one of the 40 scenarios with an "
            f"automatic check (`astraios security rules` lists them), e.g. DoW/CWE-502-0.")
    return CHECKABLE[key]
