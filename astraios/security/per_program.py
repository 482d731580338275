"""The analyser driver that runs inside the jail: every program's commands in processes of their
own, so that nothing one program's text says can reach another program's findings.

A C program can tell a compiler or cppcheck that its code lives in another file (`#line 1
"p3.c"`, a GNU line marker `# 1 "/usr/include/stdio.h" 3`), so no file name an analyser reports
is evidence of which program a finding belongs to. Here each program's findings come from its own
processes and reach the caller under its own name: attribution needs no file name at all.

`neutralise` is what gcc's preprocessed output goes through before it is compiled (see the gcc
checker): after preprocessing, every directive the compiler would still obey is on a line of its
own that starts with `#` (or its digraph `%:`): `_Pragma`, macro-built pragmas, continued lines and
commented-out hashes have all become plain `#pragma` lines by then. Pragmas (`GCC diagnostic`,
`GCC system_header`, `GCC optimize`, ...) are blanked, and line markers lose their flags (flag 3
would make the following code a system header, whose warnings gcc does not report); line numbers
stay as they were. This module uses the standard library only: it is copied into the jail and run
there as `python -I -S per_program.py plan.json`.

plan.json: {"timeout_s": seconds per program, "programs": {"p0.c": {"dir": "1f0c...", "steps": [STEP, ...],
            "output": "p0.xml" (optional: a file the steps write, read back)}, ...}}
"dir": the program's own directory, which holds its file: every step runs there, and every path is
relative to it (no program can name another's directory, see `astraios.security.base.Batch`).
STEP: {"argv": [...]} (run; the program's steps stop at the first that fails) or
      {"neutralise": "p0.i"} (rewrite that preprocessed file in place).
Writes results.json: {"p0.c": {"runs": [{"exit": int, "stderr": str, "truncated": bool}, ...],
                               "timeout": bool, "output": str or null}, ...}
("truncated": the run wrote more than STDERR_LIMIT characters and `stderr` is only their end.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

PLAN, RESULTS = "plan.json", "results.json"
STDERR_LIMIT = 1_000_000  # characters of one run's stderr kept (gcc's JSON of a pathological program)
LINE_MARKER = re.compile(r'\s*(?:#|%:)\s*(?:line\s+)?(\d+)\s+("(?:[^"\\]|\\.)*")')
DIRECTIVE = re.compile(r"[ \t\f\v\x00]*(?:#|%:)")  # after what the compiler counts as space
NEWLINE = re.compile(r"(\r\n|\r|\n)")
# gcc's `optimize` attribute (`__attribute__((optimize("O0")))`, `[[gnu::__optimize__(0)]]`) is
# `#pragma GCC optimize` for one function: it would switch off the -O2 pass's warnings there.
# Renamed wherever it is an identifier (string and character literals are matched first and kept),
# it is an unknown attribute that gcc ignores.
OPTIMIZE = re.compile(r"""("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|\b(__)?optimize(__)?\b""")


def neutralise(preprocessed: str) -> str:
    """Preprocessor output with every pragma blanked, every line marker stripped of its flags and
    every `optimize` attribute renamed (the line count is kept, so diagnostics keep their line
    numbers). Lines end where the compiler ends them: at a newline, or at a carriage return on its own."""
    pieces = NEWLINE.split(preprocessed)  # line, line end, line, ...
    for index in range(0, len(pieces), 2):
        if DIRECTIVE.match(pieces[index]):
            marker = LINE_MARKER.match(pieces[index])
            pieces[index] = f"# {marker[1]} {marker[2]}" if marker else ""
        else:
            pieces[index] = OPTIMIZE.sub(_rename_optimize, pieces[index])
    return "".join(pieces)


def _rename_optimize(match: re.Match) -> str:
    literal, before, after = match.groups()
    return literal or f"{before or ''}astraios_optimize{after or ''}"


def run(argv: list[str], deadline: float, directory: str) -> tuple[int | None, str, bool]:
    """(exit code or None when the program's time ran out, stderr, whether stderr was cut to its
    last STDERR_LIMIT characters) of one command, run in `directory`."""
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True, cwd=directory)
    try:
        _, stderr = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None, "", False
    text = stderr.decode("utf-8", "replace")
    return process.returncode, text[-STDERR_LIMIT:], len(text) > STDERR_LIMIT


def analyse(plan: dict, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    result = {"runs": [], "timeout": False, "output": None}
    directory = plan["dir"]
    for step in plan["steps"]:
        if "neutralise" in step:
            path = os.path.join(directory, step["neutralise"])
            with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
                text = neutralise(handle.read())
            with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
                handle.write(text)
            continue
        exit_code, stderr, truncated = run(step["argv"], deadline, directory)
        if exit_code is None:
            result["timeout"] = True
            return result
        result["runs"].append({"exit": exit_code, "stderr": stderr, "truncated": truncated})
        if exit_code != 0:
            break
    if plan["output"] and os.path.isfile(output := os.path.join(directory, plan["output"])):
        with open(output, encoding="utf-8", errors="replace") as handle:
            result["output"] = handle.read()
    return result


def main() -> None:
    with open(sys.argv[1] if len(sys.argv) > 1 else PLAN, encoding="utf-8") as handle:
        plan = json.load(handle)
    results = {name: analyse(steps, plan["timeout_s"]) for name, steps in plan["programs"].items()}
    with open(RESULTS, "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main()
