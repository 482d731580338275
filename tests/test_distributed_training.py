"""Multi-process training with the shipped accelerate configs, really run on CPU processes (gloo).

FSDP (configs/accelerate/fsdp.yaml, FSDP2) and DDP (configs/accelerate/ddp.yaml) on 2 processes
follow the one-process loss curve within the float32 tolerance the DDP test uses; the final
weights load on one process and equal the one-process run's; a run resumed from its FSDP
checkpoint ends as the uninterrupted one. DeepSpeed needs GPUs: its configs are only checked to
be valid accelerate configs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch

from astraios import train
from astraios.config import load_config
from astraios.io import read_jsonl
from conftest import FLOAT32_ABS_FLOOR, FLOAT32_REL, REPO, float32_approx, tiny_overrides

ACCELERATE_CONFIGS = ["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"]
LEARNING_RATES = {"full": "3e-3"}


def _overrides(run_dir, method: str, *extra: str) -> list[str]:
    # 5 test examples in batches of 2: one process has 3 (2 batches), the other 2 (1 batch); a sharded model
    # needs every process in every forward pass, so this hangs unless the evaluation evens the passes out.
    return tiny_overrides(
        run_dir, f"method.name={method}", f"train.learning_rate={LEARNING_RATES.get(method, '1e-2')}",
        "data.sources=[{path: astraios-sample, limit: 80}]", "data.test_size=5", "train.eval_batch_size=2",
        "train.max_steps=4", "train.global_batch_size=8", "train.micro_batch_size=2", "train.save_every=2",
        "train.eval_every=2",
        *(["method.dropout=0"] if method == "lora" else []), *extra,
    )


def _launch(accelerate_config: str, overrides: list[str], *extra: str) -> None:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(REPO / "configs/accelerate" / f"{accelerate_config}.yaml"), "--num_processes", "2",
               "-m", "astraios", "train", str(REPO / "astraios/presets/demo.yaml"), "--quiet",
               *[a for o in overrides for a in ("--set", o)], *extra]
    environment = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}  # CPU processes, gloo
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert finished.returncode == 0, finished.stderr[-4000:]


def _curve(run_dir) -> list[tuple]:
    return [(r["step"], r["split"], r["loss"]) for r in read_jsonl(run_dir / "losses.jsonl")]


def _assert_same_curve(got, expected) -> None:
    assert [point[:2] for point in got] == [point[:2] for point in expected]
    assert [point[2] for point in got] == float32_approx([point[2] for point in expected])


def _trained_weights(run_dir) -> dict:
    from astraios import methods, models

    final = run_dir / "final"
    if (final / "config.json").is_file():  # full fine-tuning: the whole model
        model = models.load_model(str(final))
    else:
        model = methods.load_trained(models.tiny.build("tiny-gptbigcode-xs"), final)
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize(("accelerate_config", "method"),
                         [("fsdp", "lora"), ("fsdp", "full"), ("fsdp", "adapterp"), ("ddp", "lora")])
def test_two_processes_match_one(tmp_path, accelerate_config, method):
    one, two = tmp_path / "one", tmp_path / "two"
    train.run(load_config(None, _overrides(one, method)), show_progress=False)
    _launch(accelerate_config, _overrides(two, method))
    _assert_same_curve(_curve(two), _curve(one))
    checkpoint = two / "checkpoints" / "step-000002"
    if accelerate_config == "fsdp":  # really sharded: accelerate's FSDP checkpoint, one RNG state per process
        assert (checkpoint / "pytorch_model_fsdp_0").is_dir() and (checkpoint / "random_states_1.pkl").is_file()

    # The final weights load on one process and equal the one-process run's.
    expected, got = _trained_weights(one), _trained_weights(two)
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=FLOAT32_REL, atol=FLOAT32_ABS_FLOOR, msg=name)

    if accelerate_config == "fsdp":
        # Resume under FSDP: the run as it was after its step-2 checkpoint, resumed on 2 processes.
        resumed = tmp_path / "resumed"
        shutil.copytree(two, resumed)
        shutil.rmtree(resumed / "final")
        (resumed / "summary.json").unlink()
        shutil.rmtree(resumed / "checkpoints" / "step-000004", ignore_errors=True)
        _launch("fsdp", _overrides(resumed, method), "--resume")
        _assert_same_curve(_curve(resumed), _curve(two))


@pytest.mark.parametrize("name", ACCELERATE_CONFIGS)
def test_shipped_accelerate_configs_are_valid(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(REPO / "configs/accelerate" / f"{name}.yaml"))
    expected = {"ddp": "MULTI_GPU", "fsdp": "FSDP"}.get(name, "DEEPSPEED")
    assert config.distributed_type.value == expected
    if name == "fsdp":
        assert config.fsdp_config["fsdp_version"] == 2  # FSDP1 cannot run on CPU processes
    if name.startswith("deepspeed"):
        assert config.deepspeed_config["zero_stage"] == int(name[-1])


def test_eight_bit_bases_are_not_sharded():
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    from astraios.config import ConfigError
    from astraios.train import distributed

    fsdp = SimpleNamespace(distributed_type=DistributedType.FSDP)
    assert distributed.eight_bit_when_sharded(fsdp, True, "auto")[0] is False
    assert "unquantised" in distributed.eight_bit_when_sharded(fsdp, True, "auto")[1]
    with pytest.raises(ConfigError, match="cannot shard 8-bit"):
        distributed.eight_bit_when_sharded(fsdp, True, True)
    ddp = SimpleNamespace(distributed_type=DistributedType.MULTI_GPU)
    assert distributed.eight_bit_when_sharded(ddp, True, True) == (True, None)


@pytest.mark.slow
def test_grid_job_over_several_processes_trains_under_accelerate_launch(tmp_path, monkeypatch):
    """The Ray executor's trainer for jobs given several GPUs: `accelerate launch` with the FSDP flags."""
    from astraios.grid_executors import FSDP_LAUNCH_FLAGS, _accelerate_trainer

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # CPU processes here; a Ray worker's GPUs on a cluster
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    trainer = _accelerate_trainer([*FSDP_LAUNCH_FLAGS, "--num_processes", "2"], tmp_path / "job.yaml")
    run_dir = tmp_path / "run"
    trainer(load_config(None, _overrides(run_dir, "lora")), resume=False, overwrite=True, show_progress=False)
    assert (run_dir / "summary.json").is_file()
    assert (run_dir / "checkpoints" / "step-000002" / "pytorch_model_fsdp_0").is_dir()
    with pytest.raises(RuntimeError, match=r"accelerate launch exited with code 1: error: .*no-such-model"):
        trainer(load_config(None, _overrides(tmp_path / "bad", "lora", "model.name=./no-such-model")),
                resume=False, overwrite=True, show_progress=False)
