"""Compile and run steps for each language, and the verdict from what the jail reported."""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import select
import shutil
import signal as signals
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from astraios.sandbox.execution import (
    LIMIT_REASONS,
    JailRun,
    Launched,
    Limits,
    Outcome,
    cpu_seconds,
    execute,
    kill_group,
    launch,
)
from astraios.sandbox.program import Program, Result
from astraios.sandbox.workspace import Workspace, cache_dir, write_files

LAUNCHERS = Path(__file__).with_name("launchers")
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


# ------------------------------------------------------------------------------ verdicts
def verdict(outcome: Outcome, program: Program, tier: str, phase: str, timeout_s: float) -> Result:
    stdout, stdout_dropped = outcome.stdout.text()
    stderr, stderr_dropped = outcome.stderr.text()
    status, reason = _judge(outcome, phase, timeout_s)
    return Result(
        status=status, phase=phase, exit_code=outcome.exit_code, duration_s=round(outcome.duration_s, 4),
        stdout=stdout, stderr=stderr, isolation=tier, reason=reason, language=program.language,
        signal=None if outcome.signal is None else signals.Signals(outcome.signal).name,
        stdout_truncated_bytes=stdout_dropped, stderr_truncated_bytes=stderr_dropped,
    )


def _judge(outcome: Outcome, phase: str, timeout_s: float) -> tuple[str, str]:
    if outcome.setup_error:
        return "error", f"sandbox failure: {outcome.setup_error}"
    if outcome.timed_out:
        return "timeout", f"wall-clock limit of {timeout_s:g} s exceeded"
    if outcome.signal == signals.SIGXCPU:
        return "timeout", "CPU time limit exceeded"
    if outcome.signal == signals.SIGXFSZ:
        return "error", "file size limit exceeded"
    if outcome.signal == signals.SIGKILL:  # RLIMIT_CPU's hard limit, the kernel's OOM killer, or itself
        return "error", "killed by SIGKILL (a resource limit, or the program itself)"
    if outcome.signal is not None:
        return "failed", f"killed by {signals.Signals(outcome.signal).name}"
    if outcome.proof in LIMIT_REASONS:
        return "error", LIMIT_REASONS[outcome.proof]
    if phase == "compile":
        return ("passed", "") if outcome.exit_code == 0 else ("failed", f"compilation failed (exit code {outcome.exit_code})")
    if outcome.exit_code != 0:
        return "failed", f"exit code {outcome.exit_code}"
    if outcome.proof != "ok":
        return "failed", "exited with code 0 before the end of the program (no completion proof)"
    return "passed", ""


# ------------------------------------------------------------------------------ python
def run_python(program: Program, workdir: Path, tier: str) -> Result:
    write_files(workdir, {**program.files, "main.py": program.source})
    run = JailRun("python", workdir, run_limits(program), program.timeout_s,
                  source_path=str(workdir / "main.py"), stdin=_stdin_bytes(program))
    return verdict(execute(run, tier), program, tier, "run", program.timeout_s)


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


def run_c(program: Program, workdir: Path, tier: str) -> Result:
    gcc = require("gcc", GCC_HINT)
    write_files(workdir, {**program.files, "main.c": program.source})
    compile_run = JailRun(
        "exec", workdir, COMPILE_LIMITS, COMPILE_TIMEOUT_S, proof=False, copy_workdir=False,
        # the launcher first: its .preinit_array entry then runs before the program's constructors
        argv=[gcc, "-O2", "-pipe", "-o", "program", str(c_launcher()), "main.c", "-Wl,--wrap=main", "-lm"],
    )
    compiled = verdict(execute(compile_run, tier), program, tier, "compile", COMPILE_TIMEOUT_S)
    if compiled.status != "passed":
        return compiled
    run = JailRun("exec", workdir, run_limits(program), program.timeout_s,
                  argv=[str(workdir / "program")], stdin=_stdin_bytes(program))
    result = verdict(execute(run, tier), program, tier, "run", program.timeout_s)
    result.compile_duration_s = compiled.duration_s
    return result


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

    def compile(self, source: Path, tier: str) -> tuple[str, str, float]:
        """(outcome, diagnostics, seconds): outcome is ok, fail, timeout or crash."""
        with self._lock:
            start = time.monotonic()
            if self._owner != os.getpid():
                self._jail = None  # the parent's: leave it to it
            if self._jail is None:
                self._start(tier)
            deadline = time.monotonic() + COMPILE_TIMEOUT_S
            try:
                request = f"{source}\t{source.parent}\n".encode()
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
            timeout_s=None, proof=False, copy_workdir=False, env=JVM_ENV,
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
        status, reason = {
            "fail": ("failed", "compilation failed"),
            "timeout": ("timeout", f"compilation exceeded {COMPILE_TIMEOUT_S:g} s"),
        }.get(outcome, ("error", "the Java compile server stopped"))
        return Result(status=status, phase="compile", exit_code=None, duration_s=round(seconds, 4), stdout="",
                      stderr=diagnostics[-100_000:], isolation=tier, reason=reason, language="java")
    heap_mb = max(32, program.memory_mb // 2)
    run = JailRun(
        "exec", workdir, run_limits(program, address_space_mb=program.memory_mb + JVM_RESERVE_MB, nproc=128),
        program.timeout_s, stdin=_stdin_bytes(program), env=JVM_ENV,
        argv=[java, f"-Xmx{heap_mb}m", *JVM_FLAGS, f"-Djava.io.tmpdir={workdir}",
              "-cp", f"{java_classes()}:{workdir}", "AstraiosLauncher"],  # the program cannot shadow the launcher
    )
    result = verdict(execute(run, tier), program, tier, "run", program.timeout_s)
    result.compile_duration_s = round(seconds, 4)
    return result


RUNNERS = {"python": run_python, "java": run_java, "c": run_c}
