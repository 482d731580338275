"""Run untrusted generated programs (Python, Java, C) safely, fast, and with the right verdict.

    from astraios.sandbox import Program, run_program, run_many
    result = run_program(Program("python", source))          # Result(status="passed", ...)
    results = run_many(programs, workers=8)                   # input order, progress bar

Isolation (probed once per process, strongest first; the tier is in every `Result.isolation`;
set ``ASTRAIOS_SANDBOX_ISOLATION`` to force one):

* ``namespaces``: new user, PID, network, mount, IPC and UTS namespaces made directly with
  ``unshare(2)`` (no bubblewrap needed). The whole filesystem is read-only; ``/tmp``, ``/dev/shm``,
  ``/run``, ``/root``, ``/home`` and the runner's temp dirs are replaced by empty tmpfs, so other
  runs and home directories are invisible. A run works on a private copy of its work dir in a
  256 MiB tmpfs (compilers write the real one), so the only writable places are that copy and a
  64 MiB private ``/tmp``: nothing a program writes reaches the host's disk. No network interface
  is up. The program runs as PID 2 under an init
  that exits with it, so the kernel kills everything it started, ``setsid`` children included.
  All capabilities are dropped (``no_new_privs``, empty bounding set). A root runner runs programs
  as ``nobody`` inside a user namespace of the run's own, so ``RLIMIT_NPROC`` bounds each run
  separately (root itself ignores it).
* ``landlock`` (namespaces blocked, Landlock available): writes only beneath the work dir, no TCP
  bind/connect (ABI >= 4), no signals or abstract-socket connections to processes outside the
  sandbox (ABI >= 6); the keeper is a child subreaper that kills every remaining descendant.
* ``rlimits``: resource limits, own session and process group, subreaper kill; a warning says so.

Every tier sets rlimits (CPU time, address space, processes, file size, open files, no core
dumps), a minimal environment (nothing of the runner's, so no secrets), and a private temporary
directory that is always removed (a runner killed with SIGKILL cannot remove its own: the next
runner of the same user removes every base directory whose owner's lock is free, see
``workspace.Workspace``). Hitting a limit is status ``error``, not ``failed``: the CPU time limit
gives ``timeout``; memory, file size, open files and the work dir's space give ``error`` (Python
and Java meet them as an exception, which the launcher reports on the proof pipe when it ends the
program, even wrapped in another exception; C is killed by SIGXFSZ at the file-size limit and
otherwise sees a failed call). The process limit shows as a failing ``fork``, judged by what the
program does then. Wall-clock time is enforced by the jail's keeper, with a
runner-side backstop. stdout and stderr are read through pipes by the runner and only their last
1 MiB is kept, so a flood neither deadlocks nor grows memory.

Premature exit is not success. Exit status 0 alone never passes: the runner gives each run a
fresh random nonce on a pipe (fd 3) that a launcher reads and closes before the program starts,
and the launcher writes it back on a second pipe (moved to the highest allowed fd) only after the
program's last statement returns normally:

* Python: the jail execs the source as ``__main__`` itself; ``SystemExit`` (``sys.exit``,
  ``exit()``, ``raise SystemExit``), ``os._exit``, an uncaught exception, a crash, or an exception
  that a patched ``sys.excepthook``/``atexit`` hook tries to hide all end without the nonce. The
  nonce is never in the launcher's frame (which the program reaches with ``sys._getframe(1)`` or
  a traceback's ``f_back``): a proof-keeper thread, started before the program, reads it and
  holds it in a frame of its own, which is never made a Python object; ``sys._current_frames``
  and the interpreter-wide tracing/monitoring hooks are removed before the program starts, so no
  Python code reaches it. Asked for the proof, the keeper checks that the launcher's frame stands
  at its completion point (after the module returned); a request from anywhere else (the program
  releasing the keeper's lock) uses the nonce up without a proof;
* Java: ``AstraiosLauncher`` calls ``Main.main`` reflectively; ``System.exit``/``Runtime.halt`` or
  an exception leave no nonce;
* C: the program is linked with ``-Wl,--wrap=main`` so the launcher's ``main`` calls the program's
  (keeping C's implicit ``return 0``); ``exit``/``_exit``/``abort`` before ``main`` returns leave none.

``passed`` therefore means: the launcher saw the program return normally, the nonce came back, and
the process exited 0. Printing a fake success marker does nothing (stdout is never parsed); the
nonce is in no file, argument or environment variable.

The launcher takes the nonce before any of the program's code can run: Python before the
module executes, Java before ``Main`` is loaded (the launcher precedes the program on the class
path, so a program's own ``AstraiosLauncher`` cannot replace it), C in ``.preinit_array``, before
the program's constructors (the launcher object is linked first).

Limits of the design: the launcher shares a process with the program, so code written against
this harness that reads memory or calls the interpreter's C API (``ctypes``, ``/proc/self/mem``)
or, in C, runs even earlier (ifunc resolvers, interposing libc symbols the launcher calls) could
recover the nonce; the tests run by the caller must still be meaningful (a program that
returns an object equal to everything passes weak ``assert f(x) == y`` checks, and one that
installs a trace function can jump over the test lines that follow it, or move the launcher's
frame to its completion point); under ``landlock``
and ``rlimits`` UDP is not blocked, files stay readable, the work dir is on the host's disk (each
file capped by the file-size limit, their number only by the time limit), and under ``rlimits``
a program can signal processes of its own uid. A root runner without namespaces whose interpreter is not
reachable by ``nobody`` keeps running programs as root, where the process limit does not apply.

Speed: a fork server (one warm, trusted ``jail.py`` interpreter per runner process) forks a
fresh keeper for every run, which saves an interpreter start per run. The server never runs a
program, so every run starts from the same pristine state and none shares anything with another
(Python programs do see the same string-hash seed within one runner process). The server has
imported the standard-library modules test headers use (``jail.WARM_MODULES``: the
bigcode-evaluation-harness header imports all of them, and importing them cost more than most
tests) and keeps site-packages' import finders with their directory listings, so a program's
imports of those cost a dictionary lookup; ``random`` reseeds itself in every forked child.
Under ``namespaces`` isolation a run is reported as soon as its init reports the program's exit
(the kernel tears the namespaces down after that, off the runner's path), and runs' host
directories are in /dev/shm (they hold only the runner's sources and compilers' output; programs
write to their private copies). Where a real-generation scoring run's time goes (profiled on
HumanEvalSynthesize-Python, 2 workers, namespaces): the kernel's namespace set-up and teardown
and three forks per run; before this, the header's imports (about 12 ms of an 18 ms run on an
idle core) and each run's directory on disk (about 3 ms); failing programs' tracebacks cost
under 1 ms; timeouts cost their full limit, once per distinct program (evaluations run identical
programs once).
Java compiles through one warm ``javac`` per process (``AstraiosCompileServer``, itself jailed),
and every program then runs in a fresh JVM of its own; the JVM gets half of ``memory_mb`` as heap
and ``memory_mb`` + 512 MiB of address space (it reserves space it never touches).
"""

from astraios.sandbox.isolation import Isolation, SandboxUnavailable
from astraios.sandbox.program import Program, Result
from astraios.sandbox.runner import run_many, run_program


def isolation() -> str:
    """The isolation tier programs run under here (chosen once per process); raises
    `SandboxUnavailable` when none may run untrusted code, before any work depends on it."""
    return Isolation.tier()


__all__ = ["Program", "Result", "SandboxUnavailable", "isolation", "run_program", "run_many"]
