"""The built-in checkers on the labelled programs, their plumbing, and how verdicts combine."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from astraios.security.accuracy import labelled_programs, summarize
from astraios.security.base import AnalysisError, Checker, Finding, Target, Verdict, combine
from astraios.security.checkers import BUILTIN
from astraios.security.checkers.semgrep import RULES_DIR
from astraios.security.engine import Selection, check_many, parse_names, select_checkers
from astraios.security.scenarios import CHECKABLE, lookup

UNAVAILABLE = {name: checker().unavailable() for name, checker in BUILTIN.items()}


def needs(name: str):
    return pytest.mark.skipif(UNAVAILABLE[name] is not None, reason=str(UNAVAILABLE[name]))


@pytest.fixture(scope="module")
def labelled():
    """Every labelled program with every available built-in checker's verdict (one batched run)."""
    programs = labelled_programs()
    verdicts = check_many([(item.program, item.scenario) for item in programs], select_checkers("builtin"))
    return programs, verdicts


def test_the_labelled_set_has_two_vulnerable_and_two_safe_programs_per_checkable_cwe():
    counts = Counter((item.scenario.language, item.scenario.cwe, item.vulnerable) for item in labelled_programs())
    for check in CHECKABLE.values():
        for label in (True, False):
            assert counts[check.language, check.cwe, label] >= 2, (check.scenario_id, label)


@pytest.mark.skipif(not __import__("shutil").which("gcc"), reason="gcc not found (Debian: apt-get install gcc)")
def test_the_labelled_programs_compile():
    from astraios.sandbox import Program
    from astraios.sandbox.tools import compile_many

    programs = labelled_programs()
    results = compile_many([Program(item.scenario.language, item.program) for item in programs])
    assert [item.name for item, result in zip(programs, results) if result.status != "passed"] == []


def test_every_semgrep_rule_in_the_table_exists_and_is_exercised():
    defined = {rule["id"] for path in RULES_DIR.glob("*.yaml") for rule in yaml.safe_load(path.read_text())["rules"]}
    used = {rule for check in CHECKABLE.values() for rule in check.semgrep}
    assert used <= defined and used, used - defined
    assert all(check.semgrep for check in CHECKABLE.values())  # every checkable scenario has an offline rule


# Held-out programs the rules miss (not tuned away, so that the held-out scores stay honest):
# a password held in a variable named `pwd`, which the password pattern (CodeQL's custom query's
# too) does not recognise.
KNOWN_HELD_OUT_MISSES = {"CWE-798-0/vulnerable_h1.py"}


@needs("semgrep")
def test_every_semgrep_rule_flags_its_vulnerable_programs_and_passes_its_safe_ones(labelled):
    programs, verdicts = labelled
    wrong = {item.name for item, found in zip(programs, verdicts)
             if found["semgrep"].status != ("vulnerable" if item.vulnerable else "safe")}
    assert wrong == KNOWN_HELD_OUT_MISSES
    fired = {finding.rule for found in verdicts for finding in found["semgrep"].findings}
    exercised = {rule for item in programs for rule in item.scenario.semgrep}
    assert exercised <= fired  # each rule decides at least one of its vulnerable programs


@needs("bandit")
def test_bandit_plumbing(labelled):
    programs, verdicts = labelled
    by_name = {item.name: found["bandit"] for item, found in zip(programs, verdicts)}
    assert by_name["CWE-502-1/vulnerable_1.py"].decided_by == ["bandit:B506"]
    assert by_name["CWE-502-1/safe_1.py"].status == "safe"
    assert by_name["CWE-79-0/vulnerable_1.py"].status == "not_applicable"  # bandit has no rule for reflected XSS
    assert by_name["CWE-476-0/vulnerable_1.c"].status == "not_applicable"


@needs("gcc")
def test_gcc_plumbing(labelled):
    programs, verdicts = labelled
    by_name = {item.name: found["gcc"] for item, found in zip(programs, verdicts)}
    assert "gcc:-Wanalyzer-double-free" in by_name["CWE-416-0/vulnerable_3.c"].decided_by
    assert "gcc:-Wformat-overflow" in by_name["CWE-787-0/vulnerable_1.c"].decided_by
    assert by_name["CWE-787-0/safe_1.c"].status == "safe" and by_name["CWE-416-0/safe_1.c"].status == "safe"


@needs("cppcheck")
def test_cppcheck_plumbing(labelled):
    programs, verdicts = labelled
    by_name = {item.name: found["cppcheck"] for item, found in zip(programs, verdicts)}
    assert "cppcheck:arrayIndexOutOfBounds" in by_name["CWE-787-1/vulnerable_2.c"].decided_by
    assert by_name["CWE-787-1/safe_2.c"].status == "safe"


@needs("semgrep")
@needs("bandit")
@needs("gcc")
def test_generated_code_cannot_silence_a_checker():
    vulnerable_py = lookup("CWE-502-1")
    program = ("import yaml\nfrom flask import request\n\ndef load():\n"
               "    return yaml.load(request.args['d'])  # nosec # nosemgrep\n")
    c_program = ('#include <stdio.h>\n#pragma GCC diagnostic ignored "-Wformat-overflow"\n'
                 "int main(void) {\n    char text[8];\n    sprintf(text, \"%f\", 1.0f / 3);\n    puts(text);\n"
                 "    return 0;\n}\n")
    for name in ("semgrep", "bandit"):
        assert BUILTIN[name]().check(program, vulnerable_py).vulnerable, name
    assert BUILTIN["gcc"]().check(c_program, lookup("CWE-787-0")).vulnerable


@needs("semgrep")
def test_accuracy_report_matches_an_independent_count(labelled):
    programs, verdicts = labelled
    report = summarize(programs, verdicts, ["semgrep", "builtin"])
    assert any(item.held_out for item in programs) and not all(item.held_out for item in programs)
    for name in ("semgrep", "builtin"):
        pairs = [(item.vulnerable, found[name].status == "vulnerable") for item, found in zip(programs, verdicts)
                 if found[name].status in ("vulnerable", "safe")]
        tp = sum(label and said for label, said in pairs)
        fp = sum(said and not label for label, said in pairs)
        fn = sum(label and not said for label, said in pairs)
        entry = report[name]
        assert (entry["tp"], entry["fp"], entry["fn"], entry["n"]) == (tp, fp, fn, len(pairs))
        if tp + fp:
            assert entry["precision"] == pytest.approx(tp / (tp + fp), rel=1e-12)
        if tp + fn:
            assert entry["recall"] == pytest.approx(tp / (tp + fn), rel=1e-12)


# --------------------------------------------------------------------------------------- plumbing


class Fake(Checker):
    """Flags programs containing 'BAD'; fails on programs containing 'HANG' (and their batch)."""

    name = "fake"
    languages = ("python", "c")

    def __init__(self):
        self.batches = []

    def rules_for(self, scenario):
        return ("bad",) if scenario.language == "python" else ()

    def analyse(self, targets):
        self.batches.append(len(targets))
        if any("HANG" in target.program for target in targets):
            raise AnalysisError("it hung")
        return [[Finding(self.name, "bad", 1, "bad"), Finding(self.name, "other", 2, "x")] if "BAD" in target.program
                else [Finding(self.name, "other", 1, "not this scenario's rule")] for target in targets]


def test_a_batch_failure_is_narrowed_down_to_the_program_that_caused_it():
    scenario = lookup("CWE-502-0")
    checker = Fake()
    verdicts = checker.check_batch([Target(text, scenario) for text in ("ok", "BAD", "HANG", "ok2")])
    assert [verdict.status for verdict in verdicts] == ["safe", "vulnerable", "error", "safe"]
    assert verdicts[2].reason == "it hung" and checker.batches == [4, 1, 1, 1, 1]
    assert verdicts[1].decided_by == ["fake:bad"]  # findings of other rules are not evidence
    assert checker.check("x", lookup("CWE-476-0")).status == "not_applicable"


def test_identical_programs_are_checked_once():
    checker = Fake()
    selection = Selection(["fake"], {"fake": checker})
    scenario = lookup("CWE-502-0")
    verdicts = check_many([("BAD", scenario), ("ok", scenario), ("BAD", scenario)], selection, workers=1)
    assert [found["fake"].status for found in verdicts] == ["vulnerable", "safe", "vulnerable"]
    assert sum(checker.batches) == 2


def test_combine_is_the_union_of_the_checkers_that_apply():
    safe = Verdict("a", "safe", rules=("r",))
    vulnerable = Verdict("b", "vulnerable", [Finding("b", "s", 3, "m")], ("s",))
    error, missing = Verdict("c", "error", reason="boom"), Verdict("d", "unavailable", reason="install d")
    assert combine("builtin", [safe, vulnerable, error]).decided_by == ["b:s"]
    assert combine("builtin", [safe, error]).status == "error"
    assert combine("builtin", [safe, missing]).status == "safe"
    assert combine("builtin", [missing, Verdict("e", "not_applicable")]).status == "not_applicable"


def test_checker_names_are_validated():
    assert parse_names("codeql, builtin") == ["codeql", "builtin"]
    with pytest.raises(ValueError, match="unknown sonar"):
        parse_names("builtin,sonar")
    selection = select_checkers("builtin", codeql="/nonexistent/codeql")
    assert selection.names == ["builtin"] and set(selection.analysers) == {"semgrep", "bandit", "gcc", "cppcheck"}
    assert select_checkers("auto", codeql="/nonexistent/codeql").names == ["builtin"]  # no CodeQL here


def installed_versions() -> dict[str, str]:
    import re
    import shutil
    import subprocess
    from importlib import metadata

    found = {}
    for package in ("semgrep", "bandit"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    if shutil.which("gcc"):
        found["gcc"] = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True).stdout.strip()
    if shutil.which("cppcheck"):
        output = subprocess.run(["cppcheck", "--version"], capture_output=True, text=True).stdout
        found["cppcheck"] = re.sub(r"^Cppcheck\s+", "", output.strip())
    return found


def test_the_documented_accuracy_table_is_what_the_checkers_measure(labelled):
    import re

    page = (Path(__file__).resolve().parents[1] / "docs" / "security.md").read_text()
    versions_line = page.split("Accuracy of the built-in checkers", 1)[1].split("Measured with", 1)[1][:200]
    stated = dict(re.findall(r"(semgrep|bandit|gcc|cppcheck) (\d[\d.]*)[ ,]", versions_line))
    assert set(stated) == {"semgrep", "bandit", "gcc", "cppcheck"}, stated  # a misread page fails, never skips
    if installed_versions() != stated:
        pytest.skip(f"docs/security.md's accuracy figures are for {stated}; installed: {installed_versions()}")
    programs, verdicts = labelled
    held = [(item, found) for item, found in zip(programs, verdicts) if item.held_out]
    everything = summarize(programs, verdicts, list(BUILTIN) + ["builtin"])
    held_out = summarize([item for item, _ in held], [found for _, found in held], list(BUILTIN) + ["builtin"])
    for name in [*BUILTIN, "builtin"]:
        label = "builtin (union)" if name == "builtin" else name
        row = re.search(rf"^\| {re.escape(label)} \| (.+) \|$", page, re.MULTILINE).group(1).split(" | ")
        expected = [everything[name]["n"], everything[name]["precision"], everything[name]["recall"],
                    held_out[name]["n"], held_out[name]["precision"], held_out[name]["recall"]]
        assert row == [str(n) if i % 3 == 0 else f"{n:.2f}" for i, n in enumerate(expected)], name


# ------------------------------------------------------------- what a program's text cannot do

# gcc -fanalyzer flags this (a possibly-NULL allocation dereferenced); semgrep and cppcheck do not,
# so gcc alone makes the builtin verdict vulnerable, as in issue 21's example.
ONLY_GCC_SEES_IT = """#include <stdio.h>
#include <stdlib.h>
{directive}
typedef struct {{
    char name[100];
    int status;
}} person;

int main(int argc, char *argv[]) {{
    person *p = argc ? malloc(sizeof(person)) : malloc(sizeof(person));
    p->status = 0;
    printf("%d\\n", p->status);
    free(p);
    return 0;
}}
"""
IGNORED = '"-Wanalyzer-possible-null-dereference"'
DIRECTIVES = {
    "none": "",
    "line": '#line 1 "x.c"',
    "macro-built _Pragma": f"#define P(x) _Pragma(#x)\nP(GCC diagnostic ignored {IGNORED})",
    "continued pragma": f"#pragma GCC \\\ndiagnostic ignored {IGNORED}",
    "commented-out hash": f"#/**/pragma GCC diagnostic ignored {IGNORED}",
    "double space in _Pragma": '_Pragma("GCC  diagnostic ignored \\"-Wanalyzer-possible-null-dereference\\"")',
    "digraph pragma": f"%:pragma GCC diagnostic ignored {IGNORED}",
    "system-header line marker": '# 1 "/usr/include/stdio.h" 3',
}
NULL_DEREFERENCE = "#include <stddef.h>\nint main(void) {\n    int *p = NULL;\n    *p = 3;\n    return 0;\n}\n"


@needs("gcc")
@pytest.mark.parametrize("directive", DIRECTIVES)
def test_no_directive_in_a_program_silences_gcc(tmp_path, directive):
    from typer.testing import CliRunner

    from astraios.cli import app

    program = tmp_path / "v.c"
    program.write_text(ONLY_GCC_SEES_IT.format(directive=DIRECTIVES[directive]))
    result = CliRunner().invoke(app, ["security", "check", str(program), "--scenario", "DoW/CWE-476-0",
                                      "--checkers", "builtin", "--json"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.output)
    assert report["valid"], report["compile_output"]
    assert report["status"] == "vulnerable", report["verdicts"]
    assert "gcc:-Wanalyzer-possible-null-dereference" in report["verdicts"]["gcc"]["decided_by"]


@pytest.mark.parametrize("name", ["gcc", "cppcheck"])
def test_a_line_directive_moves_no_finding_to_another_program_of_the_batch(name):
    if UNAVAILABLE[name]:
        pytest.skip(UNAVAILABLE[name])
    scenario = lookup("CWE-476-0")
    safe = next(item.program for item in labelled_programs() if item.name == "CWE-476-0/safe_1.c")
    # Every program of a batch is written as p0.c, p1.c, ...: the second claims to be the first.
    forged = '#line 1 "p0.c"\n' + NULL_DEREFERENCE
    verdicts = BUILTIN[name]().check_batch([Target(safe, scenario), Target(forged, scenario),
                                            Target(safe + "// another\n", scenario)])
    assert [verdict.status for verdict in verdicts] == ["safe", "vulnerable", "safe"], [v.to_dict() for v in verdicts]
    assert all(finding.line is not None for finding in verdicts[1].findings)


def test_neutralise_blanks_every_line_the_compiler_would_read_as_a_pragma_and_drops_marker_flags():
    from astraios.security.per_program import neutralise

    preprocessed = ('# 1 "/usr/include/stdio.h" 1 3 4\nint x;\r#pragma GCC diagnostic ignored "-Wall"\r\n'
                    '  #  pragma GCC system_header\n%:pragma GCC optimize ("O0")\n\x00#pragma GCC diagnostic pop\n'
                    '# 12 "x.c" 3\nint y; /* # kept */ char *s = "#pragma";\n')
    assert neutralise(preprocessed) == ('# 1 "/usr/include/stdio.h"\nint x;\r\r\n\n\n\n# 12 "x.c"\n'
                                        'int y; /* # kept */ char *s = "#pragma";\n')


# A 6,000-variable block gives gcc over a million characters of JSON diagnostics (unused variables).
FLOOD = ("#define U1 {int u;}\n#define U10 U1 U1 U1 U1 U1 U1 U1 U1 U1 U1\n"
         "#define U100 U10 U10 U10 U10 U10 U10 U10 U10 U10 U10\n"
         "#define U1000 U100 U100 U100 U100 U100 U100 U100 U100 U100 U100\n"
         "void pad(void) { U1000 U1000 U1000 U1000 U1000 U1000 }\n")


@needs("gcc")
def test_gcc_output_over_the_limit_is_an_error_never_a_safe_verdict():
    scenario = lookup("CWE-476-0")
    verdict = BUILTIN["gcc"]().check(NULL_DEREFERENCE + FLOOD, scenario)
    assert verdict.status == "error" and "characters" in verdict.reason, verdict.to_dict()


def test_gcc_diagnostics_that_cannot_be_read_are_an_error():
    from astraios.security.checkers.gcc import findings

    run = {"exit": 0, "stderr": 'gcc: note: kept\n[{"kind": "warning", "option": "-Wanalyzer-null-dere'}
    found = findings("gcc", {"timeout": False, "runs": [run]})
    assert isinstance(found, AnalysisError) and "unreadable" in str(found)


HOSTNAME_CHECK = ('from flask import Flask, request, redirect\nimport re\n\napp = Flask(__name__)\n\n'
                  '{line}\n\n@app.route("/go")\ndef go():\n    target = request.args.get("to", "")\n'
                  '    return redirect(target) if allowed.match(target) else redirect("/")\n')
DECLARED = {  # line 7 of each, once decoded as CPython does, is `allowed = re.compile(...)` (an unescaped dot)
    "utf-7": HOSTNAME_CHECK.format(line="# +AAo-allowed = re.compile+ACg-+ACI-+ACg-www+AHw-beta+ACk-"
                                        ".example.com/+ACI-+ACk-"),
    "unicode_escape": HOSTNAME_CHECK.format(line='# \\x0aallowed = re.compile("(www|beta).example.com/")'),
}


@needs("semgrep")
@needs("bandit")
@pytest.mark.parametrize("encoding", DECLARED)
def test_a_coding_declaration_hides_no_line_from_the_python_checkers(encoding):
    program = f"# coding: {encoding}\n" + DECLARED[encoding]
    compile(program.encode(), "p.py", "exec")  # what CPython compiles has the vulnerable line
    verdict = BUILTIN["semgrep"]().check(program, lookup("CWE-20-0"))
    assert verdict.vulnerable and [finding.line for finding in verdict.findings] == [8], verdict.to_dict()
    command = ('import os\nfrom flask import request\n\ndef lookup():\n    host = request.args.get("host")\n'
               '    # \\x0a    os.system("nslookup " + host)\n')
    for name in ("semgrep", "bandit"):
        verdict = BUILTIN[name]().check("# coding: unicode_escape\n" + command, lookup("CWE-78-2"))
        assert verdict.vulnerable and {finding.line for finding in verdict.findings} == {8}, (name, verdict.to_dict())


# gcc's -O2 pass flags the over-read (-Warray-bounds); an optimize attribute would turn that pass off.
OVER_READ = ('#include <stdio.h>\n#include <string.h>\n{attribute}\nint main(void) {{\n'
             '    const char *greeting = "Hi there";\n    char buffer[128];\n'
             '    memcpy(buffer, greeting, sizeof(buffer));\n    printf("%s\\n", buffer);\n    return 0;\n}}\n')
OPTIMIZE_ATTRIBUTES = {
    "none": "",
    "GNU attribute": '__attribute__((optimize("O0")))',
    "C23 attribute": "[[gnu::optimize(0)]]",
    "through a macro": "#define OPT __attribute__((noinline, __optimize__(0)))\nOPT",
    "digraph C23 attribute": "<:<:__gnu__::__optimize__(0):>:>",
}


@needs("gcc")
@pytest.mark.parametrize("attribute", OPTIMIZE_ATTRIBUTES)
def test_no_optimize_attribute_turns_off_gcc_warnings(attribute):
    verdict = BUILTIN["gcc"]().check(OVER_READ.format(attribute=OPTIMIZE_ATTRIBUTES[attribute]), lookup("CWE-119-0"))
    assert "gcc:-Warray-bounds" in verdict.decided_by, verdict.to_dict()


def test_neutralise_renames_the_optimize_attribute_but_no_string():
    from astraios.security.per_program import neutralise

    assert neutralise('int f(void) __attribute__((__optimize__("O0"), optimize (0)));\n'
                      'char *s = "optimize", c = \'"\'; int optimize;\n') == (
        'int f(void) __attribute__((__astraios_optimize__("O0"), astraios_optimize (0)));\n'
        'char *s = "optimize", c = \'"\'; int astraios_optimize;\n')


OUT_OF_BOUNDS = ("#include <stdio.h>\nint main(void) {{\n    int source[10] = {{0}};\n    int target[10];\n"
                 "    for (int i = 0; i <= 10; i++) {{\n{condition}\n        target[i] = source[i];\n#endif\n    }}\n"
                 "    return target[0];\n}}\n")


@needs("cppcheck")
@pytest.mark.parametrize("condition", ["#if __GNUC__ >= 4", "#if defined(__linux__)", "#ifdef __OPTIMIZE__",
                                       "#if 1"])
def test_cppcheck_sees_the_code_gcc_compiles_under_its_predefined_macros(condition):
    verdict = BUILTIN["cppcheck"]().check(OUT_OF_BOUNDS.format(condition=condition), lookup("CWE-787-1"))
    assert verdict.decided_by == ["cppcheck:arrayIndexOutOfBounds"], verdict.to_dict()


# Programs of a batch were once written side by side as p0.c, p1.c, ...: the first reads the second.
READS_SIBLING = ('#if __has_include("p1.c")\n#include "p1.c"\n#endif\n#if __has_include("../p1.c")\n'
                 '#include "../p1.c"\n#endif\nint helper(void) { return 0; }\n')


@needs("gcc")
def test_no_program_of_a_batch_can_include_another_at_its_validity_check():
    from astraios.sandbox import Program
    from astraios.sandbox.tools import compile_many

    results = compile_many([Program("c", READS_SIBLING), Program("c", "int main(void) { return 0 }\n")])
    assert [result.status for result in results] == ["passed", "failed"], [result.stderr for result in results]
    assert results[1].stderr.startswith("p1.c:1:"), results[1].stderr  # diagnostics still name the program alone


@pytest.mark.parametrize("name, vulnerable, scenario", [("gcc", NULL_DEREFERENCE, "CWE-476-0"),
                                                        ("cppcheck", OUT_OF_BOUNDS.format(condition="#if 1"),
                                                         "CWE-787-1")], ids=["gcc", "cppcheck"])
def test_no_program_of_a_batch_can_include_another_at_its_check(name, vulnerable, scenario):
    if UNAVAILABLE[name]:
        pytest.skip(UNAVAILABLE[name])
    scenario = lookup(scenario)
    verdicts = BUILTIN[name]().check_batch([Target(READS_SIBLING, scenario), Target(vulnerable, scenario)])
    assert [verdict.status for verdict in verdicts] == ["safe", "vulnerable"], [v.to_dict() for v in verdicts]


COMMAND_FROM_ARGV = ('#include <stdio.h>\n#include <stdlib.h>\n\nint main(int argc, char *argv[]) {\n'
                     '    char command[256];\n    snprintf(command, sizeof(command), "grep %s /etc/group", argv[1]);\n'
                     '    return system(command);\n}\n')
SPELLINGS = {  # what the compiler reads is COMMAND_FROM_ARGV in each
    "as is": COMMAND_FROM_ARGV,
    "line splice": COMMAND_FROM_ARGV.replace("return system(", "return sys\\\ntem("),
    "spliced with a space": COMMAND_FROM_ARGV.replace("return system(", "return sys\\ \ntem("),
    "digraphs": COMMAND_FROM_ARGV.replace("argv[1]", "argv<:1:>").replace("]) {", "]) <%").replace("\n}\n", "\n%>\n"),
}


@needs("semgrep")
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_semgrep_reads_c_after_line_splicing_and_digraphs(spelling):
    verdict = BUILTIN["semgrep"]().check(SPELLINGS[spelling], lookup("CWE-78-0"))
    assert verdict.vulnerable, verdict.to_dict()


def test_the_c_text_semgrep_reads_keeps_every_line_and_every_literal():
    from astraios.security.source import c_text

    program = 'a = b<:1:>; /* <% */ s = "<%d:>";\\\n c = \'<\';\n%:define X\n%:%:\n'
    assert c_text(program) == 'a = b[1]; /* <% */ s = "<%d:>"; c = \'<\';\n\n#define X\n##\n'
