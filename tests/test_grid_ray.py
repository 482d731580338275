"""The grid on Ray, for real: a local 2-CPU Ray cluster runs a 2 x 2 tiny grid; a worker killed
mid-cell is resubmitted and resumes from its checkpoint; results equal the local executor's
within the float32 tolerance of conftest. Without Ray installed these tests skip (it is in the
test extra: `make install-test`)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import pytest
import yaml

from astraios import grid as grids
from astraios.config import ConfigError
from astraios.grid.executors.config import ExecutorConfig
from astraios.grid.executors.ray import FSDP_LAUNCH_FLAGS, probe_marker, read_worker_file
from astraios.core.io import read_json, read_jsonl
from astraios.core.layout import GRID_FILE
from conftest import REPO, float32_approx

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'astraios[ray]' (or make install-test)")

STEPS = 30


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of 2 CPUs (no dashboard, a small object store), shared by this module's tests."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()


def _grid_file(tmp_path, name: str, executor: str) -> str:
    config = {
        "output_dir": str(tmp_path / name),
        "models": ["tiny-gptbigcode-xs", "tiny-gptbigcode-s"],
        "methods": ["lora", "adapterp"],
        "recipe": {"set": {
            "data.sources": [{"path": "astraios-sample", "limit": 80}], "data.seq_len": 128, "data.test_size": 8,
            "train.max_steps": STEPS, "train.global_batch_size": 8, "train.micro_batch_size": 4,
            "train.warmup_steps": 1, "train.eval_every": 10, "train.save_every": 2, "train.log_to": [],
        }},
        "method_overrides": {"lora": {"method.dropout": 0.0}},
        "executor": {"name": executor, "resources": [{"cpus": 1}]},  # one CPU a cell: two cells at a time
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _curves(outcome) -> dict[str, list]:
    return {os.path.basename(run_dir): [(r["step"], r["split"], r["loss"]) for r in read_jsonl(f"{run_dir}/losses.jsonl")]
            for run_dir in outcome.records}


def _kill_first_worker_after_a_checkpoint(grid, killed: dict) -> None:
    """In a thread: find the first job a Ray worker starts, and SIGKILL that worker once the job has a checkpoint."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not killed:
        for job in grid.cells:
            worker = read_worker_file(grid.output_dir, job)
            losses = job.run_dir / "losses.jsonl"
            if not worker or not losses.exists() or not (job.run_dir / "checkpoints").is_dir():
                continue
            steps = sum(record["split"] == "train" for record in read_jsonl(losses))
            if 3 <= steps < STEPS - 5:
                os.kill(worker["pid"], signal.SIGKILL)
                killed.update(job=str(job.run_dir), at_step=steps)
                return
        time.sleep(0.005)


@pytest.mark.slow
def test_ray_grid_survives_a_killed_worker_and_matches_local(tmp_path, ray_cluster):
    local = grids.run_grid(grids.load_grid(_grid_file(tmp_path, "local", "local")), show_progress=False)
    assert not local.failed

    grid = grids.load_grid(_grid_file(tmp_path, "ray", "ray"))
    killed: dict = {}
    killer = threading.Thread(target=_kill_first_worker_after_a_checkpoint, args=(grid, killed), daemon=True)
    killer.start()
    outcome = grids.run_grid(grid, show_progress=False)
    killer.join()
    assert killed, "no worker was killed: the cells finished before a checkpoint was seen"
    assert not outcome.failed and len(outcome.records) == 4

    # The killed cell ran twice (resumed from its checkpoint), every other cell once; no cell has a step twice.
    for run_dir, record in outcome.records.items():
        assert record["status"] == "finished"
        assert record["executor"]["attempt"] == (2 if run_dir == killed["job"] else 1), (run_dir, killed)
        steps = [r["step"] for r in read_jsonl(f"{run_dir}/losses.jsonl") if r["split"] == "train"]
        assert steps == list(range(1, STEPS + 1))

    # Same results as the local executor (another process and thread count: float32 tolerance).
    expected, got = _curves(local), _curves(outcome)
    assert got.keys() == expected.keys()
    for cell in expected:
        assert [point[:2] for point in got[cell]] == [point[:2] for point in expected[cell]]
        assert [point[2] for point in got[cell]] == float32_approx([point[2] for point in expected[cell]]), cell

    # A rerun finds everything finished: nothing runs twice to completion.
    summaries = {run_dir: os.stat(f"{run_dir}/summary.json").st_mtime_ns for run_dir in outcome.records}
    again = grids.run_grid(grids.load_grid(_grid_file(tmp_path, "ray", "ray")), show_progress=False)
    assert sorted(again.skipped_jobs) == sorted(outcome.records)
    assert summaries == {run_dir: os.stat(f"{run_dir}/summary.json").st_mtime_ns for run_dir in outcome.records}
    assert read_json(grid.output_dir / GRID_FILE)["config"]["executor"]["name"] == "ray"


def test_output_dir_must_be_seen_by_every_node(tmp_path, ray_cluster):
    """The driver's marker, read by a task on every node; a node that cannot (here: the directory the
    grid runs in is missing there) refuses the grid before any job, naming the node and the fix."""
    from astraios.grid.executors.ray import check_shared_filesystem

    nodes = [node for node in ray.nodes() if node["Alive"]]
    check_shared_filesystem(tmp_path, os.getcwd(), nodes)  # one machine: seen
    assert not list(tmp_path.glob(".astraios-shared-*"))  # the marker is removed
    with pytest.raises(ConfigError, match=r"not on a filesystem every Ray node sees \(node .*has no directory "
                                          r"/nowhere.*Fix: put output_dir"):
        check_shared_filesystem(tmp_path, "/nowhere", nodes)


def test_marker_probe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the probe enters the driver's directory, as on a worker
    marker = tmp_path / ".astraios-shared-x"
    assert "no file" in probe_marker(str(marker), str(tmp_path), "token")
    marker.write_text("other")
    assert "another content" in probe_marker(str(marker), str(tmp_path), "token")
    marker.write_text("token")
    assert probe_marker(str(marker), str(tmp_path), "token") is None
    assert "has no directory" in probe_marker(str(marker), str(tmp_path / "missing"), "token")


def test_resource_rules_and_executor_settings():
    config = ExecutorConfig(name="ray")
    assert config.rule_for(1_137_207_296, "lora").gpus == 1  # StarCoderBase-1B
    assert config.rule_for(15_517_462_528, "full").gpus == 8  # StarCoderBase-15B, full fine-tuning under FSDP
    assert config.rule_for(15_517_462_528, "lora").gpus == 4
    with pytest.raises(ValueError, match="applies to the ray executor only"):
        ExecutorConfig(name="local", address="auto")
    with pytest.raises(ConfigError, match="no rule for method lora"):
        ExecutorConfig(name="ray", resources=[{"up_to_parameters": 1e9}]).rule_for(2e9, "lora")


def test_fsdp_launch_flags_are_the_shipped_fsdp_config():
    settings = yaml.safe_load((REPO / "configs/accelerate/fsdp.yaml").read_text())["fsdp_config"]
    flags = dict(zip(FSDP_LAUNCH_FLAGS[1::2], FSDP_LAUNCH_FLAGS[2::2]))
    assert FSDP_LAUNCH_FLAGS[0] == "--use_fsdp"
    assert flags == {f"--{key}": str(value).lower() if isinstance(value, bool) else str(value)
                     for key, value in settings.items()}
    from accelerate.commands.launch import launch_command_parser

    parsed = launch_command_parser().parse_args([*FSDP_LAUNCH_FLAGS, "--num_processes", "4", "train.py"])
    assert parsed.use_fsdp and parsed.fsdp_version == "2" and parsed.num_processes == 4  # accelerate knows every flag


def test_ray_missing_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    grid = grids.load_grid(_grid_file(tmp_path, "noray", "ray"))
    with pytest.raises(ConfigError, match=r"executor ray needs Ray: pip install 'astraios\[ray\]'"):
        grids.run_grid(grid, show_progress=False)
