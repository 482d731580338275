"""Compile and run steps for each language, on its own or judged by tests (see the package docs)."""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from astraios.sandbox.execution import (
    JailRun,
    Launched,
    Limits,
    cpu_seconds,
    execute,
    kill_group,
    launch,
)
from astraios.sandbox import c_calls
from astraios.sandbox.judging import JudgeRun, execute_judged
from astraios.sandbox.program import Program, Result
from astraios.sandbox.verdicts import judged_verdict, verdict
from astraios.sandbox.workspace import SANDBOX_GID, SANDBOX_UID, Workspace, cache_dir, remove_tree, write_files

LAUNCHERS = Path(__file__).with_name("launchers")
# The C launcher's wrappers of the allocation calls (they report a failed allocation on the proof pipe).
C_ALLOCATORS = "-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc"
COMPILE_TIMEOUT_S = 60.0
COMPILE_LIMITS = Limits(cpu_s=cpu_seconds(COMPILE_TIMEOUT_S), address_space_mb=4096, nproc=32)
JVM_RESERVE_MB = 512  # address space the JVM reserves beyond its heap (code cache, metaspace, stacks)
JVM_FLAGS = [
    "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1", "-Xshare:auto",
    "-XX:-UsePerfData", "-XX:ReservedCodeCacheSize=32m", "-XX:CompressedClassSpaceSize=64m",
    "-XX:MaxMetaspaceSize=128m",
]
JVM_ENV = {"MALLOC_ARENA_MAX": "2"}  # glibc reserves 64 MiB of address space per arena otherwise


class ToolMissing(RuntimeError):
    """A compiler or runtime the language needs is not installed."""


def require(tool: str, package_hint: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(f"'{tool}' not found on PATH: install {package_hint}")
    return path


def _stdin_bytes(program: Program) -> bytes | None:
    return None if program.stdin is None else program.stdin.encode()


def run_limits(program: Program, address_space_mb: int | None = None, nproc: int = 64) -> Limits:
    return Limits(cpu_s=cpu_seconds(program.timeout_s), address_space_mb=address_space_mb or program.memory_mb,
                  nproc=nproc)


# ------------------------------------------------------------------------------ python
def run_python(program: Program, workdir: Path, tier: str) -> Result:
    write_files(workdir, {**program.files, "main.py": program.source})
    run = JailRun("python", workdir, run_limits(program), program.timeout_s, source_path=str(workdir / "main.py"),
                  stdin=_stdin_bytes(program), channel="proof" if program.tests is None else "calls")
    if program.tests is None:
        return verdict(execute(run, tier), program, tier, "run", program.timeout_s)
    judge = JudgeRun("python", judge_limits(program), program.timeout_s, tests=program.tests)
    return judged_verdict(*execute_judged(run, judge, tier), program, tier)


def judge_limits(program: Program, address_space_mb: int | None = None) -> Limits:
    """The tests' limits: the program's time and memory, processes bounded by the judge server."""
    return Limits(cpu_s=cpu_seconds(program.timeout_s), address_space_mb=address_space_mb or program.memory_mb,
                  nproc=None)


# ------------------------------------------------------------------------------ c
GCC_HINT = "gcc (Debian/Ubuntu: apt-get install gcc)"


def _cached_build(name: str, sources: list[Path], build) -> Path:
    """Build trusted launcher code once per user into the cache (atomically) and reuse it."""
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    target = cache_dir() / f"{name}-{digest}"
    if not target.exists():
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir()))
        try:
            build(staging)
            for path in [staging, *staging.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            try:
                staging.rename(target)
            except OSError:  # another process finished first: use theirs
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


@functools.cache
def c_launcher() -> Path:
    source = LAUNCHERS / "astraios_launcher.c"
    gcc = require("gcc", GCC_HINT)

    def build(out: Path) -> None:
        subprocess.run([gcc, "-O2", "-c", str(source), "-o", str(out / "launcher.o")], check=True)

    return _cached_build("c-launcher", [source], build) / "launcher.o"


@functools.cache
def c_runtime() -> Path:
    """The judged C programs' runtime: the candidate's server and the tests' side, compiled once
    per user, beside the header the generated code includes."""
    sources = [LAUNCHERS / name for name in ("astraios_calls.h", "astraios_candidate.c", "astraios_judge.c")]
    gcc = require("gcc", GCC_HINT)

    def build(out: Path) -> None:
        shutil.copy(sources[0], out / sources[0].name)
        for source in sources[1:]:
            subprocess.run([gcc, "-O2", "-c", str(source), "-o", str(out / source.with_suffix(".o").name)], check=True)

    return _cached_build("c-runtime", sources, build)


def _gcc(argv: list[str], workdir: Path, program: Program, tier: str) -> Result:
    run = JailRun("exec", workdir, COMPILE_LIMITS, COMPILE_TIMEOUT_S, channel=None, copy_workdir=False, argv=argv)
    return verdict(execute(run, tier), program, tier, "compile", COMPILE_TIMEOUT_S)


def run_c(program: Program, workdir: Path, tier: str) -> Result:
    gcc = require("gcc", GCC_HINT)
    write_files(workdir, {**program.files, "main.c": program.source})
    if program.tests is not None:
        return _run_c_judged(program, workdir, tier, gcc)
    # the launcher first: its .preinit_array entry then runs before the program's constructors
    compiled = _gcc([gcc, "-O2", "-pipe", "-o", "program", str(c_launcher()), "main.c", "-Wl,--wrap=main",
                     C_ALLOCATORS, "-lm"],
                    workdir, program, tier)
    if compiled.status != "passed":
        return compiled
    run = JailRun("exec", workdir, run_limits(program), program.timeout_s,
                  argv=[str(workdir / "program")], stdin=_stdin_bytes(program))
    result = verdict(execute(run, tier), program, tier, "run", program.timeout_s)
    result.compile_duration_s = compiled.duration_s
    return result


def _run_c_judged(program: Program, workdir: Path, tier: str, gcc: str) -> Result:
    """The candidate compiled (gcc tells its prototypes), linked with its server and the generated
    dispatch; the tests compiled with the generated stubs (cached by their source); then both run."""
    runtime = c_runtime()
    compiled = _gcc([gcc, "-O2", "-pipe", "-c", "main.c", "-o", "candidate.o", "-aux-info", "prototypes.txt"],
                    workdir, program, tier)
    if compiled.status != "passed":
        return compiled
    found, refused = c_calls.functions((workdir / "prototypes.txt").read_text(errors="replace"), "main.c")
    write_files(workdir, {"astraios_dispatch.c": c_calls.dispatch_source(found)})
    linked = _gcc([gcc, "-O2", "-pipe", "-o", "program", f"-I{runtime}", "candidate.o", "astraios_dispatch.c",
                   str(runtime / "astraios_candidate.o"), "-Wl,--wrap=main", "-lm"], workdir, program, tier)
    if linked.status != "passed":
        return linked
    tests, diagnostics, seconds = c_tests(program.tests, c_calls.tests_header(found, refused),
                                          c_calls.stubs_source(found), program, tier)
    if tests is None:
        return Result(status="failed", phase="compile", exit_code=None, duration_s=round(seconds, 4), stdout="",
                      stderr=diagnostics, isolation=tier, language="c",
                      reason="the tests do not compile against the candidate's functions")
    run = JailRun("exec", workdir, run_limits(program), program.timeout_s, argv=[str(workdir / "program")],
                  stdin=_stdin_bytes(program), channel="calls")
    judge = JudgeRun("c", judge_limits(program), program.timeout_s, argv=[str(tests)])
    result = judged_verdict(*execute_judged(run, judge, tier), program, tier)
    result.compile_duration_s = round(compiled.duration_s + linked.duration_s + seconds, 4)
    return result


def c_tests(tests: str, header: str, stubs: str, program: Program, tier: str) -> tuple[Path | None, str, float]:
    """The tests' executable (`header` included in front of `tests`, linked with `stubs`), built
    once per process (by the digest of its sources) in a run directory of its own and kept where
    no candidate can see it (`Workspace.judges`): (path, "", seconds) or (None, diagnostics, seconds)."""
    digest = hashlib.sha256("\0".join([tests, header, stubs]).encode()).hexdigest()[:20]
    target = Workspace.judges() / f"c-{digest}"
    if target.exists():
        return target / "tests", "", 0.0
    runtime = c_runtime()
    run_dir, workdir = Workspace.new_run_dir()
    try:
        write_files(workdir, {"tests.c": tests, "astraios_candidate.h": header, "astraios_stubs.c": stubs})
        built = _gcc([require("gcc", GCC_HINT), "-O2", "-pipe", "-o", "tests", f"-I{runtime}", "astraios_stubs.c",
                      "-include", "astraios_candidate.h", "tests.c", str(runtime / "astraios_judge.o"), "-Wl,--wrap=main",
                      "-Werror=implicit-function-declaration", "-lm"], workdir, program, tier)
        if built.status != "passed":
            return None, built.stderr[-100_000:], built.duration_s
        staging = Path(tempfile.mkdtemp(prefix=".c-", dir=Workspace.judges()))
        shutil.copy(workdir / "tests", staging / "tests")
        staging.chmod(0o755)
        (staging / "tests").chmod(0o755)
        try:
            staging.rename(target)
        except OSError:  # another thread finished first: use theirs
            shutil.rmtree(staging, ignore_errors=True)
        return target / "tests", "", built.duration_s
    finally:
        remove_tree(run_dir)


# ------------------------------------------------------------------------------ java
JDK_HINT = "a JDK 17 or newer (Debian/Ubuntu: apt-get install default-jdk-headless)"


@functools.cache
def java_classes() -> Path:
    """The launcher and compile-server classes, compiled once per user."""
    sources = sorted(LAUNCHERS.glob("*.java"))
    javac = require("javac", JDK_HINT)

    def build(out: Path) -> None:
        subprocess.run([javac, "-d", str(out), *map(str, sources)], check=True, capture_output=True)

    return _cached_build("java", sources, build)


class JavaCompileServer:
    """One warm javac (AstraiosCompileServer) in its own jail, shared by the runs of a process.

    Compiling is the slow part of a Java run (a cold javac takes about a second); a warm one
    compiles a HumanEval-sized file in tens of milliseconds. It only compiles: programs always
    run in fresh JVMs of their own, so no state is shared between programs at run time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jail: Launched | None = None
        self._owner = 0  # the pid that started it: a forked runner (multiprocessing) starts its own
        self._buffer = b""

    def compile(self, source: Path, tier: str, class_path: str | None = None) -> tuple[str, str, float]:
        """(outcome, diagnostics, seconds): outcome is ok, fail, timeout or crash. The classes go
        beside the source; `class_path` defaults to that directory alone."""
        with self._lock:
            start = time.monotonic()
            if self._owner != os.getpid():
                self._jail = None  # the parent's: leave it to it
            if self._jail is None:
                self._start(tier)
            deadline = time.monotonic() + COMPILE_TIMEOUT_S
            try:
                request = f"{source}\t{source.parent}\t{class_path or source.parent}\n".encode()
                if os.write(self._jail.stdin, request) != len(request):
                    raise OSError("short write to the compile server")
                header = self._read(deadline, until_newline=True).decode()
                outcome, size = header.rstrip("\n").split("\t")
                diagnostics = self._read(deadline, size=int(size)).decode(errors="replace")
            except TimeoutError:
                self.stop()
                return "timeout", "", time.monotonic() - start
            except (OSError, EOFError, ValueError) as exc:
                self.stop()
                return "crash", f"the Java compile server stopped: {exc!r}", time.monotonic() - start
            return outcome, diagnostics, time.monotonic() - start

    def pid(self) -> int | None:
        """The keeper pid of this process's compile server, while one runs (it outlives runs)."""
        return self._jail.pid if self._jail is not None and self._owner == os.getpid() else None

    def _start(self, tier: str) -> None:
        java = require("java", JDK_HINT)
        run = JailRun(
            "exec", Workspace.base(), Limits(cpu_s=None, address_space_mb=None, nproc=256, open_files=1024),
            timeout_s=None, channel=None, copy_workdir=False, env=JVM_ENV,
            argv=[java, "-Xmx512m", "-XX:+UseSerialGC", "-Xshare:auto", "-XX:-UsePerfData",
                  "-cp", str(java_classes()), "AstraiosCompileServer"],
        )
        self._jail = launch(run, tier, stderr=False)
        self._owner = os.getpid()
        self._buffer = b""
        atexit.register(self.stop)

    def _read(self, deadline: float, *, until_newline: bool = False, size: int = 0) -> bytes:
        while True:
            if until_newline and b"\n" in self._buffer:
                line, _, self._buffer = self._buffer.partition(b"\n")
                return line + b"\n"
            if not until_newline and len(self._buffer) >= size:
                data, self._buffer = self._buffer[:size], self._buffer[size:]
                return data
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._jail.stdout], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(self._jail.stdout, 65536)
            if not chunk:
                raise EOFError("end of output")
            self._buffer += chunk

    def stop(self) -> None:
        """End of input stops the server; a stuck one is killed after two seconds."""
        if self._jail is None:
            return
        jail, self._jail = self._jail, None
        os.close(jail.stdin)
        jail.stdin = None
        if not select.select([jail.status], [], [], 2.0)[0]:
            kill_group(jail.pid)
        jail.close()


JAVA_COMPILER = JavaCompileServer()


def run_java(program: Program, workdir: Path, tier: str) -> Result:
    java = require("java", JDK_HINT)
    write_files(workdir, {**program.files, "Main.java": program.source})
    outcome, diagnostics, seconds = JAVA_COMPILER.compile(workdir / "Main.java", tier)
    if outcome != "ok":
        return _java_compile_failure(program, outcome, diagnostics, seconds, tier)
    heap_mb = max(32, program.memory_mb // 2)
    jvm = [java, f"-Xmx{heap_mb}m", *JVM_FLAGS]
    limits = run_limits(program, address_space_mb=program.memory_mb + JVM_RESERVE_MB, nproc=128)
    # the launchers first on the class path: the program cannot shadow them
    main_class = "AstraiosLauncher" if program.tests is None else "AstraiosCandidate"
    run = JailRun("exec", workdir, limits, program.timeout_s, stdin=_stdin_bytes(program), env=JVM_ENV,
                  argv=[*jvm, f"-Djava.io.tmpdir={workdir}", "-cp", f"{java_classes()}:{workdir}", main_class],
                  channel="proof" if program.tests is None else "calls")
    if program.tests is None:
        result = verdict(execute(run, tier), program, tier, "run", program.timeout_s)
    else:
        tests, problem = java_tests(program.tests, tier)
        if tests is None:
            return Result(status="error", phase="compile", exit_code=None, duration_s=round(seconds, 4), stdout="",
                          stderr=problem[-100_000:], isolation=tier, reason="the tests do not compile", language="java")
        judge = JudgeRun("java", judge_limits(program, program.memory_mb + JVM_RESERVE_MB), program.timeout_s,
                         argv=[*jvm, "-Djava.io.tmpdir=/tmp", "-cp", f"{java_classes()}:{tests}", "AstraiosJudge"],
                         env=JVM_ENV)
        result = judged_verdict(*execute_judged(run, judge, tier), program, tier)
    result.compile_duration_s = round(seconds, 4)
    return result


def _java_compile_failure(program: Program, outcome: str, diagnostics: str, seconds: float, tier: str) -> Result:
    status, reason = {
        "fail": ("failed", "compilation failed"),
        "timeout": ("timeout", f"compilation exceeded {COMPILE_TIMEOUT_S:g} s"),
    }.get(outcome, ("error", "the Java compile server stopped"))
    return Result(status=status, phase="compile", exit_code=None, duration_s=round(seconds, 4), stdout="",
                  stderr=diagnostics[-100_000:], isolation=tier, reason=reason, language="java")


def java_tests(source: str, tier: str) -> tuple[Path | None, str]:
    """The tests' classes, compiled once per process (by their source's digest) where no candidate
    can see them (`Workspace.judges`): (directory, "") or (None, diagnostics)."""
    target = Workspace.judges() / f"java-{hashlib.sha256(source.encode()).hexdigest()[:20]}"
    if target.exists():
        return target, ""
    staging = Path(tempfile.mkdtemp(prefix=".java-", dir=Workspace.judges()))
    staging.chmod(0o755)
    if os.geteuid() == 0:  # the compile server runs as the sandbox uid
        os.chown(staging, SANDBOX_UID, SANDBOX_GID)
    try:
        (staging / "Main.java").write_text(source)
        outcome, diagnostics, _ = JAVA_COMPILER.compile(staging / "Main.java", tier, f"{java_classes()}:{staging}")
        if outcome != "ok":
            return None, diagnostics or outcome
        for path in staging.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        try:
            staging.rename(target)
        except OSError:  # another thread finished first: use theirs
            pass
        return target, ""
    finally:
        shutil.rmtree(staging, ignore_errors=True)


RUNNERS = {"python": run_python, "java": run_java, "c": run_c}
