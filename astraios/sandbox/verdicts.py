"""Verdicts: how a run ended, from what the jail (and, for a judged run, the tests' judge)
reported, as a `Result`. A judged run's tests decide a pass; its candidate's own end can only
fail it or make it an `error` (see the package docs)."""

from __future__ import annotations

import re
import signal as signals

from astraios.sandbox.execution import LIMIT_REASONS, Outcome
from astraios.sandbox.program import Program, Result

# gcc's own words when the memory limit stops it, at the start of a line (a diagnostic about the
# program's text starts with its location, so no program can put them there).
COMPILER_OUT_OF_MEMORY = re.compile(r"^(?:cc1\w*: out of memory allocating|virtual memory exhausted)", re.MULTILINE)


def verdict(outcome: Outcome, program: Program, tier: str, phase: str, timeout_s: float) -> Result:
    stdout, stdout_dropped = outcome.stdout.text()
    stderr, stderr_dropped = outcome.stderr.text()
    status, reason = _judge(outcome, phase, timeout_s, stderr)
    return Result(
        status=status, phase=phase, exit_code=outcome.exit_code, duration_s=round(outcome.duration_s, 4),
        stdout=stdout, stderr=stderr, isolation=tier, reason=reason, language=program.language,
        signal=None if outcome.signal is None else signals.Signals(outcome.signal).name,
        stdout_truncated_bytes=stdout_dropped, stderr_truncated_bytes=stderr_dropped,
    )


def _judge(outcome: Outcome, phase: str, timeout_s: float, stderr: str = "") -> tuple[str, str]:
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
    if outcome.proof in LIMIT_REASONS:  # before other signals: a C program dies of the NULL its malloc returned
        return "error", LIMIT_REASONS[outcome.proof]
    if outcome.signal is not None:
        return "failed", f"killed by {signals.Signals(outcome.signal).name}"
    if phase == "compile" and outcome.exit_code != 0 and COMPILER_OUT_OF_MEMORY.search(stderr):
        return "error", f"{LIMIT_REASONS['memory']} (the compiler ran out of memory)"
    if phase == "compile":
        return ("passed", "") if outcome.exit_code == 0 else ("failed", f"compilation failed (exit code {outcome.exit_code})")
    if outcome.exit_code != 0:
        return "failed", f"exit code {outcome.exit_code}"
    if outcome.proof != "ok":
        return "failed", "exited with code 0 before the end of the program (no completion proof)"
    return "passed", ""


def judged_verdict(candidate: Outcome, judge: Outcome, program: Program, tier: str) -> Result:
    """The verdict of a judged run: the tests' report decides a pass; the candidate's own end can
    only make it fail (an exit status other than 0, a crash) or give `error` (a resource limit)."""
    status, reason = _judge_judged(candidate, judge, program.timeout_s)
    out, out_dropped = candidate.stdout.text()
    err, err_dropped = candidate.stderr.text()
    tests_out, tests_out_dropped = judge.stdout.text()
    tests_err, tests_err_dropped = judge.stderr.text()
    return Result(
        status=status, phase="run", exit_code=candidate.exit_code,
        duration_s=round(max(candidate.duration_s, judge.duration_s), 4), stdout=out + tests_out,
        stderr=err + tests_err, isolation=tier, reason=reason, language=program.language,
        signal=None if candidate.signal is None else signals.Signals(candidate.signal).name,
        stdout_truncated_bytes=out_dropped + tests_out_dropped, stderr_truncated_bytes=err_dropped + tests_err_dropped,
    )


def _judge_judged(candidate: Outcome, judge: Outcome, timeout_s: float) -> tuple[str, str]:
    for side, outcome in (("sandbox", candidate), ("tests' sandbox", judge)):
        if outcome.setup_error:
            return "error", f"{side} failure: {outcome.setup_error}"
    if candidate.timed_out or judge.timed_out:
        return "timeout", f"wall-clock limit of {timeout_s:g} s exceeded"
    if signals.SIGXCPU in (candidate.signal, judge.signal):
        return "timeout", "CPU time limit exceeded"
    if candidate.signal in (signals.SIGXFSZ, signals.SIGKILL):
        return _judge(candidate, "run", timeout_s)
    if judge.report in LIMIT_REASONS:
        return "error", LIMIT_REASONS[judge.report]
    if judge.signal == signals.SIGKILL:  # its memory, or the kernel's OOM killer
        return "error", "the tests' process was killed by SIGKILL (a resource limit)"
    if judge.signal is not None:  # a failed C assert() aborts
        return "failed", f"the tests were killed by {signals.Signals(judge.signal).name}"
    ended = (f"killed by {signals.Signals(candidate.signal).name}" if candidate.signal is not None
             else f"exit code {candidate.exit_code}")
    if judge.report != "done" or judge.exit_code != 0:
        if (judge.report or "").startswith("broken: "):
            return "failed", f"{judge.report[len('broken: '):]} ({ended})"
        if judge.exit_code == 0:  # the tests themselves stopped early
            return "failed", "the tests exited with code 0 before their end"
        return "failed", "the tests failed" + (f" (exit code {judge.exit_code})" if judge.exit_code != 1 else "")
    if candidate.signal is not None or candidate.exit_code != 0:
        return "failed", f"the candidate ended badly after the tests passed ({ended})"
    return "passed", ""
