"""Trusted tools (compilers, static analysers) over untrusted files, in the jail: compile-only
validity checks and static analysis, batched.

    from astraios.sandbox.tools import run_tool, compile_many
    run = run_tool(["/usr/bin/cppcheck", "--xml", "a.c"], {"a.c": source}, timeout_s=30)
    results = compile_many([Program("c", source), Program("python", other)])   # no program runs

Nothing here runs a program, but every tool still reads untrusted text, so it runs in the same
jail as programs (see `astraios.sandbox`): a C preprocessor follows `#include "/any/host/file"`
(and prints what it read in its diagnostics) or `#include "/dev/zero"` (and never returns), and
any parser can be driven into pathological time or memory. What differs from `run_program`:
there is no completion proof (the tool is trusted; its exit status and output are the verdict's
input), the tool works on the real work directory, and files it writes there are read back.

`compile_many` is the compile-only mode: Python programs must parse and byte-compile
(`compile(source, path, "exec")`, what `python -m py_compile` does short of writing the .pyc);
C programs must pass `gcc -fsyntax-only` (parsing and semantic checks, no code generation), or
with `c_flags=OBJECT_BUILD` AATK's own `gcc -g -O -c`.
Programs are checked in batches, one jailed process per batch (one interpreter, or one shell
running gcc on each file in turn), which is what makes checking thousands of programs cheap; a
batch that fails as a whole (a time limit, a crash, a failure it cannot attribute) is checked again
one program at a time, so one pathological program never spoils the others' verdicts. gcc writes
each file's diagnostics to a file of that program's own: a C program can make gcc name another file
in its errors (`#line 1 "p0.c"`), so the file a diagnostic names never decides whose it is; and
each C file of a batch is in a directory of its own, named at random, so that no program can
`#include` another.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from astraios.sandbox.execution import JailRun, Limits, cpu_seconds, execute
from astraios.sandbox.isolation import Isolation
from astraios.sandbox.languages import GCC_HINT
from astraios.sandbox.program import SUFFIXES, Program, Result
from astraios.sandbox.verdicts import verdict
from astraios.sandbox.workspace import Workspace, remove_tree, write_files

TOOL_MEMORY_MB = 4096
COMPILE_BATCH = 64  # programs per jailed compile process
COMPILE_TIMEOUT_S = 20.0  # per program; a batch gets this much plus a little per program
BATCH_EXTRA_S = 0.5
COMPILED = ("python", "c")  # the languages `compile_many` checks
SYNTAX_ONLY = ("-fsyntax-only",)  # gcc: parsing and semantic checks, no code generation
OBJECT_BUILD = ("-g", "-O", "-c")  # gcc as AATK's mark_common.py `validate_c` runs it: an optimised object file

# Compiles every file named on its command line and prints one JSON line per file. Runs as
# `python -I -S -c`, so nothing of the runner's environment or site-packages is involved.
PY_COMPILE = """
import json, sys
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as handle:
            compile(handle.read(), path, "exec", dont_inherit=True)
        error = None
    except BaseException as exc:  # SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError
        error = f"{type(exc).__name__}: {exc}"
    print(json.dumps({"path": path, "error": error}), flush=True)
"""
GCC_PLAIN = "-fdiagnostics-plain-output"


def gcc_each(c_flags: Sequence[str]) -> str:
    """`sh -c SCRIPT GCC DIR/FILE...`: gcc with `c_flags` on each file alone, run in the file's
    directory (so that its diagnostics name FILE alone), its stderr and exit code in DIR/FILE.err
    and DIR/FILE.rc."""
    gcc = f'"$0" {" ".join((*c_flags, GCC_PLAIN))}'
    return f'for f; do (cd "${{f%/*}}" && n="${{f##*/}}" && {gcc} "$n" 2>"$n.err"; echo $? >"$n.rc"); done'


def batch_paths(names: Sequence[str], language: str) -> list[str]:
    """Where each program of a compile batch is written. A C preprocessor reads any file it can name
    (`#include "p1.c"`, `__has_include`), so each C program of a batch gets a directory of its own,
    named at random: no sample's validity can depend on another's text. Python's compile reads no
    other file."""
    if language == "c" and len(names) > 1:
        return [f"{secrets.token_hex(8)}/{name}" for name in names]
    return list(names)


GCC_ERROR = re.compile(r"^.*\berror: .*$", re.MULTILINE)


@dataclass
class ToolRun:
    """How one tool process ended.

    status: `ok` (it ran to its end, whatever its exit code), `timeout` (wall-clock or CPU
    limit), `error` (killed by a signal or a resource limit, or the jail failed).
    outputs: the text of each requested output file the tool wrote (missing files are absent).
    """

    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: str
    reason: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


def run_tool(argv: Sequence[str], files: dict[str, str], *, timeout_s: float = 60.0,
             memory_mb: int | None = TOOL_MEMORY_MB, nproc: int = 64, outputs: Sequence[str] = (),
             env: dict[str, str] | None = None) -> ToolRun:
    """Run the trusted command `argv` (absolute path first) in the jail, in a fresh work directory
    holding `files` (relative path -> text); read back the `outputs` it writes there.

    `memory_mb` caps the address space (None: no cap, for runtimes that reserve much more than
    they use; bound them with the tool's own memory option). Never raises for what the tool or the
    files do; a sandbox failure is status `error` with the reason."""
    tier = Isolation.tier()
    run_dir, workdir = Workspace.new_run_dir()
    try:
        write_files(workdir, files)
        limits = Limits(cpu_s=cpu_seconds(timeout_s), address_space_mb=memory_mb, nproc=nproc, open_files=1024)
        run = JailRun("exec", workdir, limits, timeout_s, argv=list(argv), channel=None, copy_workdir=False,
                      env=dict(env or {}))
        outcome = execute(run, tier)
        judged = verdict(outcome, Program("c", ""), tier, "compile", timeout_s)
        status = {"passed": "ok", "failed": "ok", "timeout": "timeout"}.get(judged.status, "error")
        if judged.status == "failed" and outcome.signal is not None:
            status = "error"
        read = {}
        for name in outputs:
            path = workdir / name
            if path.is_file() and not path.is_symlink():
                read[name] = path.read_text(errors="replace")
        reason = "" if status == "ok" else judged.reason
        return ToolRun(status, outcome.exit_code, judged.stdout, judged.stderr, judged.duration_s, tier, reason, read)
    finally:
        remove_tree(run_dir)


def compile_many(programs: Sequence[Program], *, workers: int | None = None,
                 timeout_s: float = COMPILE_TIMEOUT_S, c_flags: Sequence[str] = SYNTAX_ONLY) -> list[Result]:
    """Check that each Python or C program compiles, without running it; results in input order.
    `c_flags` say how gcc checks C (`SYNTAX_ONLY`, or `OBJECT_BUILD`, which also generates code and
    so also fails on what only code generation finds, e.g. impossible `asm` constraints).

    A result has phase `compile` and status `passed` (compiles), `failed` (does not: the
    diagnostics are in `stderr`), `timeout` or `error` (the check itself could not finish)."""
    for program in programs:
        if program.language not in COMPILED:
            raise ValueError(f"compile_many checks Python and C programs, not {program.language}")
    batches = [[index for index in range(start, min(start + COMPILE_BATCH, len(programs)))
                if programs[index].language == language]
               for language in COMPILED for start in range(0, len(programs), COMPILE_BATCH)]
    batches = [batch for batch in batches if batch]
    results: list[Result | None] = [None] * len(programs)
    Isolation.tier()  # probe once, before the workers start
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1, thread_name_prefix="compile") as pool:
        for batch, found in zip(batches, pool.map(lambda b: _compile_batch([programs[i] for i in b], timeout_s,
                                                                           tuple(c_flags)), batches)):
            for index, result in zip(batch, found):
                results[index] = result
    return results  # type: ignore[return-value]


def _compile_batch(programs: list[Program], timeout_s: float, c_flags: tuple[str, ...]) -> list[Result]:
    language = programs[0].language
    paths = batch_paths([f"p{index}{SUFFIXES[language]}" for index in range(len(programs))], language)
    if language == "c":
        gcc = shutil.which("gcc")
        if gcc is None:
            return [_result("error", f"'gcc' not found on PATH: install {GCC_HINT}", "", 0.0, "", language)
                    for _ in programs]
        # One file: gcc itself (its exit code and output are the program's, and the sandbox's verdict
        # sees a compiler out of memory); more: a shell runs gcc on each file in turn.
        argv = ([gcc, *c_flags, GCC_PLAIN, paths[0]] if len(paths) == 1
                else [shutil.which("sh") or "/bin/sh", "-c", gcc_each(c_flags), gcc, *paths])
    else:
        argv = [sys.executable, "-I", "-S", "-c", PY_COMPILE, *paths]
    each = language == "c" and len(paths) > 1
    outputs = [f"{path}.{kind}" for path in paths for kind in ("rc", "err")] if each else []
    run = run_tool(argv, {path: program.source for path, program in zip(paths, programs)},
                   timeout_s=timeout_s + BATCH_EXTRA_S * len(programs), outputs=outputs)
    found = _attribute(run, paths, language) if run.status == "ok" else None
    if found is None:
        if len(programs) > 1:  # find the culprit: every program on its own
            return [_compile_batch([program], timeout_s, c_flags)[0] for program in programs]
        if run.status == "ok":  # the compiler failed on it without a located error (e.g. out of memory)
            status, reason = ("failed", "compilation failed") if run.exit_code else ("error", "unreadable output")
        else:
            status, reason = run.status, run.reason
        return [_result(status, reason, run.stderr[-4000:], run.duration_s, run.isolation, language)]
    share = run.duration_s / len(programs)
    return [_result("failed" if error is not None else "passed", "compilation failed" if error is not None else "",
                    error or "", share, run.isolation, language) for error in found]


def _attribute(run: ToolRun, names: list[str], language: str) -> list[str | None] | None:
    """Each file's error text (None: it compiles), or None when the output cannot be attributed."""
    if language == "python":
        errors = {}
        for line in run.stdout.splitlines():
            try:
                record = json.loads(line)
                errors[record["path"]] = record["error"]
            except (ValueError, KeyError, TypeError):
                return None
        return [errors[name] for name in names] if set(errors) == set(names) else None
    if len(names) == 1:
        ran = {names[0]: (str(run.exit_code), run.stderr)}
    else:
        ran = {name: (run.outputs.get(f"{name}.rc", "").strip(), run.outputs.get(f"{name}.err", "")) for name in names}
    found = []
    for name in names:
        code, stderr = ran[name]
        errors = GCC_ERROR.findall(stderr) if code != "0" else []
        if not code.isdigit() or (code != "0" and not errors):
            return None  # gcc did not get to this file, or failed without an error line (e.g. out of memory)
        found.append("\n".join(errors) if errors else None)
    return found


def _result(status: str, reason: str, stderr: str, seconds: float, isolation: str, language: str) -> Result:
    return Result(status=status, phase="compile", exit_code=None, duration_s=round(seconds, 4), stdout="",
                  stderr=stderr, isolation=isolation, reason=reason, language=language)


__all__ = ["OBJECT_BUILD", "SYNTAX_ONLY", "ToolRun", "compile_many", "run_tool"]
