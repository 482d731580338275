"""The Python launcher (beside the Java and C ones; see astraios/sandbox/__init__.py).

The jail's program process calls `run_python_source`: it runs the user's source as `__main__` in
this interpreter. A program judged by tests then answers their calls (`python_calls.serve`); a
program run on its own has the run's nonce written to the proof pipe only when the module ran to
its end (its own account of completion, see the package docs for what that is worth). The fork
server loads this file by path (jail.load_launcher), so it imports only the standard library.
"""

from __future__ import annotations

import _thread
import atexit
import builtins
import os
import site
import sys
import traceback
import types

COMPLETION_MARK = "# <- the completion point"
# What would reach the proof keeper's frame from Python code: other threads' frames and the
# interpreter-wide tracing/monitoring hooks (names of later Pythons included).
THREAD_INSPECTION = ("_current_frames", "_current_exceptions", "monitoring", "_settraceallthreads",
                     "_setprofileallthreads", "remote_exec")


def _completion_line() -> int:
    with open(__file__, encoding="utf-8") as source:
        return next(number for number, line in enumerate(source, 1) if line.rstrip().endswith(COMPLETION_MARK))


COMPLETION_LINE = _completion_line()


def keep_proof(launcher, nonce_fd: int, proof_fd: int, ready, completed, answered) -> None:
    """The proof keeper, a thread of the program's process started before the program: the only
    holder of the nonce, in a frame no Python code of the program can reach (another thread's
    frame, with the inspection hooks removed; never materialised as a frame object). Asked to
    prove completion, it writes the nonce only when the launcher's own frame stands at its
    completion point, which only a normal end of the module reaches; any other request (the
    program releasing the lock itself) uses the nonce up without a proof."""
    nonce = b""
    while chunk := os.read(nonce_fd, 4096):
        nonce += chunk
    os.close(nonce_fd)
    ready.release()
    completed.acquire()
    if launcher.f_lineno == COMPLETION_LINE:
        try:
            os.write(proof_fd, nonce + b"\n")
        except OSError:  # the program closed the proof fd: no proof
            pass
    nonce = None
    answered.release()


def run_python_source(path: str, python_path: list[str], channel: str, fds: tuple[int, int], calls) -> None:
    """Run the module at `path` as `__main__`, then, by `channel`:

    * "calls" (fds: calls, replies): answer the tests' calls (`calls.serve`) until they are done;
    * "proof" (fds: nonce, proof): have the nonce written to the proof fd only if the module ran to
      its end. The proof is asked for in the `else` branch alone, so no failure path reaches it,
      whatever the program patched (sys.exit, traceback, builtins); what the launcher calls is bound
      beforehand. This frame holds no secret: the nonce lives in the proof keeper's thread.

    An uncaught exception caused by a resource limit is reported on the second fd (a limit marker),
    so the verdict is `error`. Never returns.
    """
    write, print_exception, system_exit, marker_of = os.write, traceback.print_exception, SystemExit, calls.limit_marker
    if channel == "proof":
        ready, completed, answered = _thread.allocate_lock(), _thread.allocate_lock(), _thread.allocate_lock()
        for lock in (ready, completed, answered):
            lock.acquire()
        _thread.start_new_thread(keep_proof, (sys._getframe(), *fds, ready, completed, answered))
        ready.acquire()  # the keeper has taken the nonce and closed its fd
        for name in THREAD_INSPECTION:
            vars(sys).pop(name, None)
    site.setquit()  # exit() and quit(), which `python -S` leaves out
    sys.argv = [path]
    sys.path[:0] = [os.path.dirname(path)]
    sys.path.extend(python_path)
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__builtins__ = builtins  # a module, as in any __main__ (a loaded module has the dict)
    sys.modules["__main__"] = main
    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec")
        exec(code, main.__dict__)
    except system_exit as stop:
        # Python's own exit status for SystemExit, but never a pass: the program stopped early.
        exit_code = stop.code if isinstance(stop.code, int) else 0 if stop.code is None else 1
        if stop.code is not None and not isinstance(stop.code, int):
            print(stop.code, file=sys.stderr)
    except BaseException as exc:  # noqa: BLE001 -- any uncaught exception is the program's failure
        marker = marker_of(exc)
        if marker and channel == "proof":
            write(fds[1], marker.encode() + b"\n")
        elif marker:
            calls.send(fds[1], ["limit", marker])
        tb = exc.__traceback__
        print_exception(type(exc), exc, tb.tb_next if tb else None)  # without this launcher's frame
        exit_code = 1
    else:
        if channel == "calls":
            exit_code = _serve(calls, main.__dict__, *fds)
        else:
            completed.release(); answered.acquire()  # <- the completion point
            exit_code = 0
    # What interpreter shutdown does that a program can observe (join non-daemon threads, run
    # atexit hooks, flush the standard streams), without tearing down the modules: that is most
    # of a short program's run time, and nothing of it outlives the process.
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 -- a closed or replaced stream must not change the verdict
            pass
    os._exit(exit_code)


def _serve(calls, namespace: dict, calls_fd: int, replies_fd: int) -> int:
    """Answer the tests until they close the channel; the exit status of the program."""
    try:
        calls.serve(namespace, calls_fd, replies_fd)  # what a call raises goes to the tests
    except BaseException as exc:  # noqa: BLE001 -- the tests went away, or sent nonsense
        print(f"astraios: the channel to the tests failed: {exc!r}", file=sys.stderr)
        return 1
    return 0
