"""Multi-process training with the shipped accelerate configs, really run on CPU processes (gloo).

FSDP (configs/accelerate/fsdp.yaml, FSDP2) and DDP (configs/accelerate/ddp.yaml) on 2 processes
follow the one-process loss curve within the float32 tolerance the DDP test uses; the final
weights load on one process and equal the one-process run's; a run resumed from its FSDP
checkpoint ends as the uninterrupted one. DeepSpeed ZeRO-2, ZeRO-3 and ZeRO-3 with CPU offload
(configs/accelerate/deepspeed-*.yaml) pass the same checks on 2 CPU processes (DS_ACCELERATOR=cpu,
set by astraios); they need deepspeed, so they are marked `accelerated` (`make test-accelerated`).
Under ZeRO-3 transformers loads a saved model partitioned (`zero.Init`) and astraios builds a tiny
one whole; both ways are run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from astraios import train
from astraios.config import load_config
from astraios.core.io import read_jsonl
from conftest import FLOAT32_ABS_FLOOR, FLOAT32_REL, REPO, float32_approx, tiny_overrides

ACCELERATE_CONFIGS = ["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3", "deepspeed-zero3-offload"]
SHARDED_CHECKPOINT = {"fsdp": "pytorch_model_fsdp_0", "deepspeed": "pytorch_model"}  # accelerate's folder names
LEARNING_RATES = {"full": "3e-3"}


def _deepspeed(config: str, method: str, base: str = "tiny"):
    return pytest.param(config, method, base, marks=[pytest.mark.accelerated, pytest.mark.timeout(1800)])


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
    # DeepSpeed's first run on a machine compiles its CPU communication op (minutes on 2 busy cores).
    timeout = 1200 if accelerate_config.startswith("deepspeed") else 300
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=timeout)
    assert finished.returncode == 0, finished.stderr[-4000:]


def _curve(run_dir) -> list[tuple]:
    return [(r["step"], r["split"], r["loss"]) for r in read_jsonl(run_dir / "losses.jsonl")]


def _assert_same_curve(got, expected) -> None:
    assert [point[:2] for point in got] == [point[:2] for point in expected]
    assert [point[2] for point in got] == float32_approx([point[2] for point in expected])


def _trained_weights(run_dir, base: str) -> dict:
    from astraios import methods, models

    final = run_dir / "final"
    if (final / "config.json").is_file():  # full fine-tuning: the whole model
        model = models.load_model(str(final))
    else:
        model = methods.load_trained(models.load_model(base), final)
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize(("accelerate_config", "method", "base"),
                         [("fsdp", "lora", "tiny"), ("fsdp", "full", "tiny"), ("fsdp", "adapterp", "tiny"),
                          ("ddp", "lora", "tiny"), _deepspeed("deepspeed-zero2", "lora"),
                          _deepspeed("deepspeed-zero3", "full"),
                          # a saved base: under ZeRO-3 transformers loads it partitioned (zero.Init)
                          _deepspeed("deepspeed-zero3-offload", "lora", "saved")])
def test_two_processes_match_one(tmp_path, request, accelerate_config, method, base):
    if accelerate_config.startswith("deepspeed"):
        pytest.importorskip("deepspeed", reason="DeepSpeed runs in .venv-accel (make test-accelerated)")
    base = request.getfixturevalue("warm_base") if base == "saved" else "tiny-gptbigcode-xs"
    sharded = next((kind for kind in SHARDED_CHECKPOINT if accelerate_config.startswith(kind)), None)
    one, two = tmp_path / "one", tmp_path / "two"
    first = train.run(load_config(None, _overrides(one, method, f"model.name={base}")), show_progress=False)
    _launch(accelerate_config, _overrides(two, method, f"model.name={base}"))
    assert json.loads((two / "summary.json").read_text())["parameters"] == first["parameters"]
    _assert_same_curve(_curve(two), _curve(one))
    checkpoint = two / "checkpoints" / "step-000002"
    if sharded:  # really sharded: accelerate's FSDP or DeepSpeed checkpoint, one RNG state per process
        assert (checkpoint / SHARDED_CHECKPOINT[sharded]).is_dir() and (checkpoint / "random_states_1.pkl").is_file()

    # The final weights load on one process and equal the one-process run's.
    expected, got = _trained_weights(one, base), _trained_weights(two, base)
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=FLOAT32_REL, atol=FLOAT32_ABS_FLOOR, msg=name)

    if sharded:
        # Resume sharded: the run as it was after its step-2 checkpoint, resumed on 2 processes.
        resumed = tmp_path / "resumed"
        shutil.copytree(two, resumed)
        shutil.rmtree(resumed / "final")
        (resumed / "summary.json").unlink()
        shutil.rmtree(resumed / "checkpoints" / "step-000004", ignore_errors=True)
        _launch(accelerate_config, _overrides(resumed, method, f"model.name={base}"), "--resume")
        _assert_same_curve(_curve(resumed), _curve(two))


@pytest.mark.accelerated
def test_models_loaded_under_zero3_are_the_ones_one_process_loads(tmp_path, warm_base):
    """accelerate registers ZeRO-3 with transformers whatever `zero3_init_flag` says, and transformers then
    builds models partitioned (`zero.Init`), initialising their weights again in another order: a tiny model
    built so was another random model. It is built whole; a saved model loads partitioned, and its weights
    are counted from DeepSpeed's record of their size (the partitioned tensors are empty)."""
    pytest.importorskip("deepspeed", reason="DeepSpeed runs in .venv-accel (make test-accelerated)")
    out = tmp_path / "out.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
               str(REPO / "tests" / "zero3_build.py"), warm_base, str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"})
    assert finished.returncode == 0, finished.stderr[-4000:]
    result = json.loads(out.read_text())
    assert result["tiny_whole"] and result["tiny_differs"] == []
    assert result["saved_partitioned"]  # the real models' path: still zero.Init
    assert len(set(result["counts"])) == 1 and result["counts"][0] > 0
    assert result["still_registered"]  # building a tiny model leaves accelerate's registration in place


@pytest.mark.parametrize("name", ACCELERATE_CONFIGS)
def test_shipped_accelerate_configs_are_valid(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(REPO / "configs/accelerate" / f"{name}.yaml"))
    expected = {"ddp": "MULTI_GPU", "fsdp": "FSDP"}.get(name, "DEEPSPEED")
    assert config.distributed_type.value == expected
    if name == "fsdp":
        assert config.fsdp_config["fsdp_version"] == 2  # FSDP1 cannot run on CPU processes
    if name.startswith("deepspeed"):
        stage = int(name.split("zero")[1][0])
        assert config.deepspeed_config["zero_stage"] == stage
        # ZeRO-3 loads the base partitioned whatever the flag says (tests/zero3_build.py): the flag says so
        assert config.deepspeed_config.get("zero3_init_flag", False) == (stage == 3)
        offload = "cpu" if name.endswith("offload") else "none"
        assert config.deepspeed_config["offload_optimizer_device"] == config.deepspeed_config["offload_param_device"] == offload


def test_quantized_bases_are_not_sharded():
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    from astraios.config import ConfigError
    from astraios.train import distributed

    for kind in (DistributedType.FSDP, DistributedType.DEEPSPEED):
        sharded = SimpleNamespace(distributed_type=kind)
        quantization, note = distributed.quantization_when_sharded(sharded, "8bit", "auto")
        assert quantization is None and "unquantised" in note
        for asked, setting in (("8bit", "8bit"), ("4bit", "4bit"), ("4bit", "auto")):  # auto + 4bit: QLoRA
            with pytest.raises(ConfigError, match="cannot shard quantized"):
                distributed.quantization_when_sharded(sharded, asked, setting)
    ddp = SimpleNamespace(distributed_type=DistributedType.MULTI_GPU)
    assert distributed.quantization_when_sharded(ddp, "4bit", "4bit") == ("4bit", None)


@pytest.mark.slow
def test_grid_job_over_several_processes_trains_under_accelerate_launch(tmp_path, monkeypatch):
    """The Ray executor's trainer for jobs given several GPUs: `accelerate launch` with the FSDP flags."""
    from astraios.grid.executors.ray import FSDP_LAUNCH_FLAGS, _accelerate_trainer

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
