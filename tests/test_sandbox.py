"""The sandbox against adversarial programs: right verdict, runner alive, nothing left behind."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path

import pytest

from astraios.sandbox import Program, Result, run_many, run_program
from astraios.sandbox.execution import OUTPUT_CAP_BYTES
from astraios.sandbox.servers import ForkServer
from astraios.sandbox import host
from astraios.sandbox.isolation import Isolation
from astraios.sandbox.judging import JudgeServer
from astraios.sandbox.workspace import Workspace, remove_stale_workspaces
from astraios.sandbox.languages import JAVA_COMPILER

TIER = Isolation.tier()
# Programs never run as root (which ignores RLIMIT_NPROC and may signal anything): checked here,
# before any test below forks or signals.
assert os.geteuid() != 0 or host.run_as_uid(TIER) is not None
# A connection attempt must never leave the machine: only tiers that block it before any packet.
NETWORK_BLOCKED = TIER == "namespaces" or (TIER == "landlock" and host.landlock(TIER) >= 4)


def python(source: str, **kwargs) -> Result:
    return run_program(Program("python", source, **kwargs))


def sandbox_processes(token: str = "") -> list[str]:
    """Live processes of this test process's sandbox runs: keepers still attached to the fork
    server (a keeper exits only once all of its run is dead), and anything carrying `token`; not
    the Java compile server or the judge server, which earlier runs in this process may have started."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, NotADirectoryError):
            continue
        state, parent = fields[0], int(fields[1])
        if entry in (str(JAVA_COMPILER.pid()), str(JudgeServer.pid())):  # they outlive runs by design
            continue
        if state != "Z" and (parent == ForkServer.pid() or (token and token in cmdline)):
            found.append(cmdline[:200])
    return found


def assert_nothing_left(token: str = "") -> None:
    deadline = time.monotonic() + 2.0
    while (left := sandbox_processes(token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left == []
    # every run's private directory was removed (judges/ keeps the tests compiled for this process)
    assert {p.name for p in Workspace.base().iterdir()} <= {Workspace.LOCK, "judges"}
    assert python("print('still fine')").status == "passed"  # the runner survived


def test_result_is_json_serialisable_and_records_isolation():
    result = python("print('hello')")
    assert result.status == "passed" and result.exit_code == 0 and result.stdout == "hello\n"
    assert result.isolation == TIER and result.phase == "run" and result.duration_s > 0
    assert json.loads(json.dumps(result.to_dict()))["status"] == "passed"


def test_failing_assertion_and_exception_fail():
    assert python("assert 1 + 1 == 3").status == "failed"
    result = python("raise ValueError('boom')")
    assert result.status == "failed" and result.exit_code == 1 and "ValueError: boom" in result.stderr
    assert "jail.py" not in result.stderr  # the traceback shows the program, not the launcher


@pytest.mark.parametrize(
    "exit_call",
    ["import sys; sys.exit(0)", "import os; os._exit(0)", "raise SystemExit", "raise SystemExit(0)", "exit()", "quit()"],
)
def test_premature_exit_before_failing_tests_is_not_success(exit_call):
    result = python(f"def check():\n    assert False\n{exit_call}\ncheck()\n")
    assert result.status == "failed"
    assert result.exit_code == 0 and "before the end" in result.reason


@pytest.mark.parametrize(
    "attack",
    [
        # hide the exception, then exit 0 from an exit hook
        "import sys, os, atexit\nsys.excepthook = lambda *a: None\natexit.register(lambda: os._exit(0))\n",
        # shadow AssertionError in builtins (the assert statement raises the real one)
        "import builtins\nbuiltins.AssertionError = type('Quiet', (Exception,), {})\n",
        # neutralise what a launcher would call on failure
        "import sys, traceback, builtins\nsys.exit = lambda *a: None\ntraceback.print_exception = lambda *a, **k: None\n"
        "builtins.SystemExit = type('NoExit', (Exception,), {})\nsys.stderr = None\n",
    ],
)
def test_patched_builtins_and_hooks_cannot_swallow_a_failed_assertion(attack):
    result = python(attack + "def check(candidate):\n    assert candidate([1, 2]) == 3\ncheck(len)\n")
    assert result.status == "failed"


def test_fake_success_markers_and_writes_to_guessed_fds_do_not_pass():
    source = (
        "import os, sys\n"
        "print('passed'); print('{\"status\": \"passed\"}'); sys.stdout.flush()\n"
        "for fd in range(3, 1100):\n"
        "    try:\n        os.write(fd, b'0123456789abcdef0123456789abcdef\\nok\\n')\n"
        "    except OSError:\n        pass\n"
        "os._exit(0)\n"
    )
    result = python(source)
    assert result.status == "failed" and "passed" in result.stdout


def test_the_nonce_is_not_in_the_environment_arguments_or_files(monkeypatch):
    issued = []  # the nonces the runner hands out, to look for them in what the program saw
    token_hex = secrets.token_hex
    monkeypatch.setattr(secrets, "token_hex", lambda n: issued.append(token_hex(n)) or issued[-1])
    source = (
        "import os, sys\n"
        "seen = repr(dict(os.environ)) + repr(sys.argv) + open('/proc/self/cmdline', 'rb').read().decode()\n"
        "seen += ''.join(open(f).read() for f in os.listdir('.') if os.path.isfile(f))\n"
        "print(seen)\n"
    )
    result = python(source)
    assert result.status == "passed" and "HOME" in result.stdout and len(issued) == 1
    assert issued[0] not in result.stdout
    # the launcher's own pipe was read and closed before the program started
    assert python("import os\nos.read(3, 100)\n").status == "failed"


def test_environment_is_minimal(monkeypatch):
    monkeypatch.setenv("ASTRAIOS_TEST_SECRET", "hunter2")
    result = python("import os\nprint(sorted(os.environ))\nassert 'ASTRAIOS_TEST_SECRET' not in os.environ\n")
    assert result.status == "passed"
    assert set(eval(result.stdout)) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL"}


@pytest.mark.parametrize("source, reason", [
    ("open('big.bin', 'wb').write(b'x' * (70 << 20))\n", "file size limit exceeded"),
    ("files = []\nwhile True:\n    files.append(open('/dev/null'))\n", "open-file limit exceeded"),
    # caught and turned into another exception: the limit is still what ended the program
    ("try:\n    open('big.bin', 'wb').write(b'x' * (70 << 20))\nexcept OSError as e:\n    raise RuntimeError('disk') from e\n",
     "file size limit exceeded"),
])
def test_resource_limits_give_error_not_failed(source, reason):
    result = python(source)
    assert result.status == "error" and result.reason == reason


def test_an_ordinary_os_error_still_fails():
    result = python("open('/nonexistent/file')\n")
    assert result.status == "failed" and "FileNotFoundError" in result.stderr


FORGERIES = {
    # the launcher's frame, one level up from the module (issue: sys._getframe(1).f_locals['proof_fd'])
    "launcher frame locals": (
        "import os, sys\nlocals_ = sys._getframe(1).f_locals\n"
        "os.write(locals_['proof_fd'], locals_['nonce'] + b'\\n')\nos._exit(0)\n"
    ),
    # every frame reachable by walking up, and every object the garbage collector knows
    "frames and gc objects": (
        "import gc, os, re, sys\n"
        "seen = []\nframe = sys._getframe()\n"
        "while frame is not None:\n    seen += list(frame.f_locals.values()) + list(frame.f_globals.values())\n"
        "    frame = frame.f_back\n"
        "for obj in gc.get_objects():\n    seen.append(obj)\n"
        "    try:\n        seen += gc.get_referents(obj)\n    except Exception:\n        pass\n"
        "    if type(obj).__name__ == 'frame':\n        seen += list(obj.f_locals.values())\n"
        "    if callable(obj) and getattr(obj, '__closure__', None):\n"
        "        seen += [cell.cell_contents for cell in obj.__closure__ if cell.cell_contents is not None]\n"
        "candidates = {bytes(x) for x in seen if isinstance(x, (bytes, bytearray)) and re.fullmatch(rb'[0-9a-f]{32}', bytes(x))}\n"
        "for fd in range(3, 1100):\n    for nonce in candidates:\n        try:\n"
        "            os.write(fd, nonce + b'\\n')\n        except OSError:\n            pass\n"
        "os._exit(0)\n"
    ),
    # other threads' frames
    "other threads": (
        "import os, sys\nframes = getattr(sys, '_current_frames', lambda: {})()\n"
        "for frame in frames.values():\n    for value in frame.f_locals.values():\n"
        "        if isinstance(value, bytes):\n            for fd in range(3, 1100):\n"
        "                try:\n                    os.write(fd, value + b'\\n')\n"
        "                except OSError:\n                    pass\nos._exit(0)\n"
    ),
    # asking the proof keeper directly, as the launcher does at its completion point
    "the launcher's request": (
        "import os, sys, time\nlocals_ = sys._getframe(1).f_locals\n"
        "for lock in [v for v in locals_.values() if type(v).__name__ == 'lock']:\n"
        "    try:\n        lock.release()\n    except RuntimeError:\n        pass\n"
        "time.sleep(0.2)\nos._exit(0)\n"
    ),
}


@pytest.mark.parametrize("attack", list(FORGERIES))
def test_the_completion_proof_cannot_be_forged_by_introspection(attack):
    source = FORGERIES[attack] + "def check():\n    assert False\ncheck()\n"
    result = python(source)
    assert result.status == "failed", (result.reason, result.stderr[-500:])


def test_a_program_that_pokes_at_the_launcher_still_passes_when_it_completes():
    """Releasing the launcher's locks early forfeits the proof, but only for that program; a
    program that uses threads and frames in ordinary ways passes."""
    ordinary = ("import sys, threading\nresults = []\n"
                "worker = threading.Thread(target=lambda: results.append(sys._getframe().f_code.co_name))\n"
                "worker.start(); worker.join()\nassert results == ['<lambda>']\n")
    assert python(ordinary).status == "passed"


def test_workspaces_of_killed_runners_are_removed_and_live_ones_kept(tmp_path):
    """A runner killed with SIGKILL leaves its temp dir; the next runner removes it (issue 16.12)."""
    import subprocess
    import sys

    start = ("import os, sys, tempfile\ntempfile.tempdir = sys.argv[1]\n"
             "from astraios.sandbox.workspace import Workspace\n"
             "run_dir, work = Workspace.new_run_dir()\n(work / 'left.txt').write_text('x')\n"
             "print(Workspace.base(), flush=True)\n")
    def killed_runner() -> Path:
        done = subprocess.run([sys.executable, "-c", start + "os.kill(os.getpid(), 9)\n", str(tmp_path)],
                              capture_output=True, text=True)
        left = Path(done.stdout.strip())
        assert done.returncode == -9 and left.parent == tmp_path and any(left.rglob("left.txt"))
        return left

    stale = killed_runner()
    alive = subprocess.Popen([sys.executable, "-c", start + "sys.stdin.read()\n", str(tmp_path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        live = Path(alive.stdout.readline().strip())
        assert live.is_dir() and not stale.exists()  # the next runner removed it when it started
        stale = killed_runner()
        foreign = tmp_path / "astraios-sandbox-123-notours"  # no lock file: not known to be ours to remove
        foreign.mkdir()
        assert remove_stale_workspaces(tmp_path) == [stale] and not stale.exists()
        assert live.is_dir() and foreign.is_dir()
    finally:
        alive.communicate("")
    assert not live.exists()  # removed by its owner at exit
    assert Workspace.base().is_dir() and Workspace.base() not in remove_stale_workspaces()


def test_stdin_and_extra_files_reach_the_program():
    source = "import sys, helper\nassert sys.stdin.read() == 'in put'\nassert open('data/x.txt').read() == 'x'\nhelper.ok()\n"
    files = {"helper.py": "def ok():\n    print('helper ok')\n", "data/x.txt": "x"}
    result = python(source, stdin="in put", files=files)
    assert result.status == "passed" and result.stdout == "helper ok\n"


def test_infinite_loop_times_out():
    start = time.monotonic()
    result = python("while True:\n    pass\n", timeout_s=1.0)
    assert result.status == "timeout" and time.monotonic() - start < 5
    assert_nothing_left()


def test_sleeping_forever_times_out():
    result = python("import time\ntime.sleep(10**6)\n", timeout_s=1.0)
    assert result.status == "timeout" and "wall-clock" in result.reason
    assert_nothing_left()


@pytest.mark.parametrize("bomb", ["x = bytearray(64 * 1024**3)\n", "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))\n"])
def test_memory_bomb_is_stopped_by_the_memory_limit(bomb):
    result = python(bomb, memory_mb=256)
    assert result.status == "error" and "memory" in result.reason
    assert_nothing_left()


def test_fork_bomb_is_bounded_and_cleaned_up():
    token = f"{1000 + secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"
    source = (
        "import os\nwhile True:\n    try:\n        if os.fork() == 0:\n"
        f"            os.execv('/bin/sleep', ['/bin/sleep', {token!r}])\n"
        "    except OSError:\n        pass\n"
    )
    start = time.monotonic()
    result = python(source, timeout_s=2.0)
    assert result.status == "timeout" and time.monotonic() - start < 10
    assert_nothing_left(token)


def test_output_flood_keeps_only_a_bounded_tail():
    source = "import sys\nchunk = 'x' * 65536\nfor _ in range(800):\n    sys.stdout.write(chunk)\n    sys.stderr.write(chunk)\nprint('END')\n"
    result = python(source, timeout_s=20.0)
    assert result.status == "passed" and result.stdout.endswith("xEND\n")
    assert len(result.stdout) <= OUTPUT_CAP_BYTES and len(result.stderr) <= OUTPUT_CAP_BYTES
    assert result.stdout_truncated_bytes > 40 * 1024**2 and result.stderr_truncated_bytes > 40 * 1024**2


def test_endless_output_times_out_with_bounded_tail():
    result = python("while True:\n    print('y' * 10000)\n", timeout_s=1.0)
    assert result.status == "timeout" and len(result.stdout) <= OUTPUT_CAP_BYTES
    assert_nothing_left()


def test_writes_outside_the_work_dir_fail_and_leave_no_file():
    marker = Path(__file__).parent / f".sandbox-marker-{secrets.token_hex(6)}"
    result = python(f"open({str(marker)!r}, 'w').write('escaped')\n")
    assert result.status == "failed" and not marker.exists()
    assert python("open('/etc/astraios-sandbox-marker', 'w')\n").status == "failed"
    assert not Path("/etc/astraios-sandbox-marker").exists()
    # the work dir itself is writable
    assert python("open('out.txt', 'w').write('ok')\nassert open('out.txt').read() == 'ok'\n").status == "passed"


def test_other_runs_and_home_directories_are_not_visible():
    if TIER != "namespaces":
        pytest.skip(f"only the namespaces tier hides paths (this host: {TIER})")
    base = str(Workspace.base())
    source = f"import os\nassert os.listdir({base!r}) == [os.path.basename(os.path.dirname(os.getcwd()))]\n"
    source += "assert not os.path.exists(os.path.expanduser('~root') + '/.bash_history')\n"
    assert python(source).status == "passed"


@pytest.mark.skipif(not NETWORK_BLOCKED, reason=f"isolation tier '{TIER}' does not block the network; not trying")
def test_connecting_to_a_public_address_fails():
    # 192.0.2.1 is TEST-NET-1 (never routed); the attempt is blocked before any packet anyway
    source = "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=3)\n"
    result = python(source)
    assert result.status == "failed" and ("unreachable" in result.stderr or "Permission denied" in result.stderr)


def test_killing_the_parent_and_everything_else_leaves_the_runner_alive():
    source = (
        "import os, signal\n"
        f"targets = [os.getppid(), {os.getpid()}, {os.getppid()}, 1]\n"
        "for pid in targets:\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError:\n        pass\n"
        "try:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
        "print('survived')\n"
    )
    result = python(source)
    assert result.status == "passed" and result.stdout == "survived\n"
    assert_nothing_left()


def test_detached_setsid_child_is_killed_and_writes_no_marker():
    token = f"{1000 + secrets.randbelow(10**6)}.{secrets.randbelow(10**6)}"
    marker = Path("/tmp") / f"astraios-sandbox-marker-{secrets.token_hex(6)}"
    source = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(1.0)\n"
        f"        open({str(marker)!r}, 'w').write('alive')\n"
        f"        os.execv('/bin/sleep', ['/bin/sleep', {token!r}])\n"
        "    os._exit(0)\n"
        "time.sleep(0.2)\n"
    )
    result = python(source)
    assert result.status == "passed"
    time.sleep(1.5)
    assert not marker.exists()
    assert_nothing_left(token)


def test_run_many_keeps_input_order_and_isolates_programs():
    programs = [Program("python", f"print({i})\nassert {i} % 3 != 0\n") for i in range(8)]
    results = run_many(programs, workers=2, progress=False)
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(8)]
    assert [r.status for r in results] == ["failed" if i % 3 == 0 else "passed" for i in range(8)]


def test_a_python_program_runs_as_an_ordinary_main_module():
    source = ("import builtins, os, sys\nassert __name__ == '__main__' and __builtins__ is builtins\n"
              "assert sys.modules['__main__'].__file__ == __file__ and os.path.basename(__file__) == 'main.py'\n"
              "exit_code = 0\n")
    assert python(source).status == "passed"


def test_programs_start_from_fresh_state_despite_the_warm_server():
    """The fork server pre-imports common modules (random among them, through statistics): every
    program still gets its own random state, and what one program changes in a module is not seen
    by the next."""
    source = "import random, statistics\nprint(random.random())\nstatistics.mean = None\n"
    outputs = [python(source).stdout for _ in range(3)]
    assert len(set(outputs)) == 3
    assert python("import statistics\nassert statistics.mean([1, 3]) == 2\n").status == "passed"


def test_programs_do_not_share_files():
    writer = Program("python", "open('shared.txt', 'w').write('secret')\nopen('/tmp/shared.txt', 'w').write('secret')\n")
    reader = Program("python", "import os\nassert not os.path.exists('shared.txt')\nassert not os.path.exists('/tmp/shared.txt')\n")
    assert [r.status for r in run_many([writer, reader], workers=1, progress=False)] == ["passed", "passed"]


def test_invalid_programs_are_rejected_with_clear_errors():
    with pytest.raises(ValueError, match="unknown language"):
        Program("rust", "fn main() {}")
    with pytest.raises(ValueError, match="relative path"):
        Program("python", "", files={"../escape.py": ""})
    with pytest.raises(ValueError, match="timeout_s"):
        Program("python", "", timeout_s=0)
    with pytest.raises(ValueError, match="at most 86400 seconds"):  # larger overflows the kernel's timers
        Program("python", "", timeout_s=1e9)
    with pytest.raises(ValueError, match="timeout_s"):
        Program("python", "", timeout_s=float("nan"))


def test_missing_toolchain_gives_an_error_result(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    result = run_program(Program("c", "int main(){}"))
    assert result.status == "error" and "gcc" in result.reason and "apt-get install" in result.reason


def test_filling_the_disk_is_capped_and_leaves_nothing_on_the_host():
    if TIER != "namespaces":
        pytest.skip(f"only the namespaces tier gives runs a size-capped private work dir (this host: {TIER})")
    source = (
        "import os\nchunk = b'z' * (1 << 20)\n"
        "for i in range(1000):\n"
        "    with open(f'fill-{i}.bin', 'wb') as f:\n        f.write(chunk * 16)\n"
    )
    result = python(source)
    assert result.status == "error" and result.reason == "work-dir space limit exceeded"
    assert "No space left" in result.stderr
    assert_nothing_left()


def test_a_forked_runner_process_gets_its_own_servers():
    import multiprocessing

    python("pass")  # the parent's fork server is running
    with multiprocessing.get_context("fork").Pool(2) as pool:
        statuses = pool.map(_run_in_child, [f"assert {i} < 3" for i in range(4)])
    assert statuses == ["passed", "passed", "passed", "failed"]
    assert python("print('parent still fine')").status == "passed"


def _run_in_child(source: str) -> str:
    return run_program(Program("python", source)).status


def test_judged_runs_refuse_an_rlimits_tier_unless_it_is_forced(monkeypatch):
    """Under rlimits a candidate runs as its judge's uid and can open the judge's pipes through
    /proc/<pid>/fd: a wrong program could write the tests' report. Chosen by itself, rlimits runs
    programs on their own but no judged run; forced, it is the user's stated choice."""
    from astraios.sandbox import SandboxUnavailable, isolation
    from astraios.sandbox.isolation import ISOLATION_ENV

    monkeypatch.setattr(Isolation, "_tier", "rlimits")
    monkeypatch.delenv(ISOLATION_ENV, raising=False)
    judged = Program("python", "def f():\n    return 1\n", tests="assert f() == 1\n")
    for attempt in (lambda: run_program(judged), lambda: run_many([judged], progress=False),
                    lambda: isolation(judged=True)):
        with pytest.raises(SandboxUnavailable, match="judged runs .* need 'namespaces' or 'landlock' .* Fix: .*"
                                                     f"{ISOLATION_ENV}=rlimits"):
            attempt()
    assert isolation() == "rlimits"
    monkeypatch.setenv(ISOLATION_ENV, "rlimits")
    assert isolation(judged=True) == "rlimits"
