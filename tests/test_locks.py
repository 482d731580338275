"""Exclusive directory locks (issue 16, item 4): one train, grid or evaluated task per directory;
a dead holder's lock is taken over; another host's is not; evaluations of different tasks merge."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from astraios.cli import app
from astraios.core.locks import LOCK_FILE, LockHeld, exclusive, holder
from conftest import REPO, tiny_overrides

runner = CliRunner()

HOLD = """
import sys, time
from astraios.core.locks import exclusive
with exclusive(sys.argv[1], sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def hold_in_another_process(directory: Path, purpose: str) -> subprocess.Popen:
    """A separate process that takes the lock and keeps it until killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(directory), purpose], stdout=subprocess.PIPE,
                               text=True, cwd=REPO)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_train_on_a_locked_run_dir_is_refused_and_a_killed_holders_lock_is_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    holder_process = hold_in_another_process(run_dir, "train")
    try:
        result = runner.invoke(app, ["train", str(REPO / "astraios/presets/demo.yaml"),
                                     "--set", f"train.output_dir={run_dir}", "--resume"])
        assert result.exit_code == 1, result.output
        message = " ".join(result.output.split())
        assert f"pid {holder_process.pid} on host {socket.gethostname()}" in message and "astraios train" in message
        assert "Fix: wait for it to finish" in message and "Traceback" not in result.output
        assert not (run_dir / "config.yaml").exists()  # refused before touching anything
    finally:
        holder_process.send_signal(signal.SIGKILL)
        holder_process.wait()
    # SIGKILL left the lock file (naming a dead pid) behind: the next run takes it over.
    assert holder(run_dir / LOCK_FILE)["pid"] == holder_process.pid
    with exclusive(run_dir, "train"):
        assert holder(run_dir / LOCK_FILE)["pid"] == os.getpid()
    assert not (run_dir / LOCK_FILE).exists()  # a released lock is removed


def test_a_lock_left_by_another_host_is_not_broken(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "gpu-node-07", "purpose": "train",
                                                  "since": "2026-01-01T00:00:00"}))
    with pytest.raises(LockHeld) as caught:
        with exclusive(tmp_path, "train"):
            pass
    message = str(caught.value)
    assert "gpu-node-07" in message and "another host" in message and f"delete {tmp_path / LOCK_FILE}" in message


def test_locks_in_one_process_exclude_each_other_and_waiting_gets_a_freed_lock(tmp_path):
    with exclusive(tmp_path, "eval"):
        with pytest.raises(LockHeld, match="in use by astraios eval"):
            with exclusive(tmp_path, "eval"):
                pass
    process = hold_in_another_process(tmp_path, "grid")
    started = time.monotonic()
    subprocess.Popen(["sh", "-c", f"sleep 0.5; kill {process.pid}"])
    with exclusive(tmp_path, "grid", wait_s=30):
        assert time.monotonic() - started >= 0.4
    process.wait()


def test_a_second_grid_on_a_locked_output_dir_is_refused(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"output_dir: {tmp_path / 'runs'}\nmodels: [tiny-gptbigcode-xs]\nmethods: [lora]\n")
    with exclusive(tmp_path / "runs", "grid"):
        result = runner.invoke(app, ["grid", str(grid), "--quiet"])
    assert result.exit_code == 1 and "in use by astraios grid" in " ".join(result.output.split()), result.output
    assert not (tmp_path / "runs" / "grid.json").exists()


def test_train_holds_the_lock_of_its_run_dir(tmp_path, monkeypatch):
    from astraios import train
    from astraios.config import load_config
    from astraios.train import run_dir as run_dirs

    seen = []
    real = run_dirs.prepare

    def prepare(accelerator, run_dir, *args, **kwargs):
        seen.append(holder(run_dir / LOCK_FILE))
        return real(accelerator, run_dir, *args, **kwargs)

    monkeypatch.setattr(run_dirs, "prepare", prepare)
    run_dir = tmp_path / "run"
    train.run(load_config(None, tiny_overrides(run_dir, "train.max_steps=1", "train.warmup_steps=0")),
              show_progress=False)
    assert seen[0]["pid"] == os.getpid() and seen[0]["purpose"] == "train"
    assert not (run_dir / LOCK_FILE).exists()


# ----------------------------------------------------------------------------------------------
# Evaluations into one output directory


class EchoBackend:
    """Answers every prompt with `pass`; `during_generate` runs once, inside the first generate call."""

    name = "echo"
    rows_per_call = 8

    def __init__(self, during_generate=None):
        self.during_generate = during_generate

    def generate(self, prompts, n=1, **_):
        if self.during_generate:
            action, self.during_generate = self.during_generate, None
            action()
        return [["\n    pass\n"] * n for _ in prompts]

    def describe(self):
        return {"backend": self.name}


def eval_config(output: Path, task: str, data_dir: Path):
    from astraios.evaluation import EvalConfig
    from astraios.generate import Sampling

    return EvalConfig(tasks=[task], output_dir=output, sampling=Sampling(n=1, temperature=0.0), limit=2,
                      data_dir=str(data_dir), generations_only=True)


def test_evaluations_of_different_tasks_into_one_dir_merge(tmp_path, data_dir):
    """B starts and finishes while A is generating; A's results.json update must keep B's task."""
    from astraios.evaluation import evaluate

    output = tmp_path / "out"
    other = lambda: evaluate(eval_config(output, "humanevalfixtests-python", data_dir), EchoBackend(),  # noqa: E731
                             progress=False)
    evaluate(eval_config(output, "humanevalsynthesize-python", data_dir), EchoBackend(other), progress=False)
    tasks = json.loads((output / "results.json").read_text())["tasks"]
    assert set(tasks) == {"humanevalsynthesize-python", "humanevalfixtests-python"}


def test_a_second_evaluation_of_the_same_task_into_one_dir_is_refused(tmp_path, data_dir):
    from astraios.evaluation import evaluate

    output = tmp_path / "out"
    refused = []

    def same_task():
        with pytest.raises(LockHeld, match="eval of humanevalsynthesize-python") as caught:
            evaluate(eval_config(output, "humanevalsynthesize-python", data_dir), EchoBackend(), progress=False)
        refused.append(caught.value)

    evaluate(eval_config(output, "humanevalsynthesize-python", data_dir), EchoBackend(same_task), progress=False)
    assert refused
