"""Isolation tiers: which one this process runs programs under, chosen once, strongest first
(`namespaces`, then `landlock`, then `rlimits`), each accepted only when a probe program passes
in it and it would not run untrusted code as root. What each tier does is in the package docs."""

from __future__ import annotations

import os
import threading
import warnings

from astraios.sandbox import host
from astraios.sandbox.execution import JailRun, Limits, execute
from astraios.sandbox.workspace import SANDBOX_UID, Workspace, remove_tree, write_files

TIERS = ("namespaces", "landlock", "rlimits")
TIER_DESCRIPTIONS = {
    "namespaces": "user, PID, network, mount, IPC and UTS namespaces; read-only root, private /tmp; rlimits",
    "landlock": "Landlock (writes only in the work dir, no TCP, no signals out); rlimits; subreaper kill",
    "rlimits": "rlimits, own session and process group, subreaper kill only",
}
ISOLATION_ENV = "ASTRAIOS_SANDBOX_ISOLATION"


class SandboxUnavailable(RuntimeError):
    """No isolation tier may run untrusted code here (or the forced one is unknown): nothing runs."""


class Isolation:
    """The tier this process uses, chosen once: the strongest one whose probe program passes."""

    _lock = threading.Lock()
    _tier: str | None = None
    _failure: SandboxUnavailable | None = None  # no tier works: said again on every call, not probed again

    @classmethod
    def tier(cls, judged: bool = False) -> str:
        """The tier programs run under; for judged runs (`judged`: a program with tests) `rlimits`
        only when forced. Under it the candidate runs as the uid of its judge and can open the judge's
        pipes through /proc/<pid>/fd, so it could write the tests' report itself; the other tiers
        keep it out."""
        with cls._lock:
            if cls._failure is not None:
                raise cls._failure
            if cls._tier is None:
                try:
                    cls._tier = cls._choose()
                except SandboxUnavailable as failure:
                    cls._failure = failure
                    raise
            tier = cls._tier
        if judged and tier == "rlimits" and os.environ.get(ISOLATION_ENV) != "rlimits":
            raise SandboxUnavailable(
                "astraios.sandbox: judged runs (programs scored by tests) need 'namespaces' or 'landlock' isolation, "
                "and only 'rlimits' works here: under it a program can reach its judge's process and forge its verdict. "
                "Fix: allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or in a container "
                "--security-opt seccomp=unconfined) or use a kernel with Landlock (5.13+); or set "
                f"{ISOLATION_ENV}=rlimits to accept verdicts a program could forge")
        return tier

    @classmethod
    def _choose(cls) -> str:
        forced = os.environ.get(ISOLATION_ENV)
        if forced:
            if forced not in TIERS:
                raise SandboxUnavailable(f"{ISOLATION_ENV}={forced!r}: expected one of {', '.join(TIERS)}. Fix: unset "
                                         f"{ISOLATION_ENV} to use the strongest tier that works")
            candidates = [forced]
        else:
            candidates = [t for t in TIERS if t != "landlock" or host.landlock_abi()]
        failures = []
        for tier in candidates:
            Workspace.place(in_memory=tier == "namespaces")
            problem = cls._refusal(tier) or _probe(tier)
            if problem is None:
                if tier != "namespaces":
                    warnings.warn(
                        f"astraios.sandbox: namespaces unavailable ({'; '.join(failures) or 'forced'}); "
                        f"falling back to '{tier}' isolation: {TIER_DESCRIPTIONS[tier]}",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                return tier
            failures.append(f"{tier}: {problem}")
        raise SandboxUnavailable("astraios.sandbox: no isolation tier works here: " + "; ".join(failures))

    @classmethod
    def _refusal(cls, tier: str) -> str | None:
        """Why `tier` must not be used here: untrusted code never runs as root (root could
        signal every process, reboot, and ignores the process limit)."""
        if tier == "namespaces" or os.geteuid() != 0 or host.fallback_uid() is not None:
            return None
        return (f"the runner is root and the Python installation is not reachable by uid {SANDBOX_UID}, "
                "so programs would run as root; run as a normal user, or where user namespaces are allowed")


def _probe(tier: str) -> str | None:
    """Run a tiny Python program in `tier`; None when it passed, else what went wrong."""
    run_dir, workdir = Workspace.new_run_dir()
    try:
        write_files(workdir, {"main.py": "import json, decimal\n"})
        run = JailRun("python", workdir, Limits(cpu_s=10, address_space_mb=None), timeout_s=10.0,
                      source_path=str(workdir / "main.py"))
        outcome = execute(run, tier)
    finally:
        remove_tree(run_dir)
    if outcome.setup_error:
        return outcome.setup_error
    if outcome.proof != "ok" or outcome.exit_code != 0:
        return f"probe program did not pass: exit {outcome.exit_code}, {outcome.stderr.text()[0][-300:]}"
    return None
