"""Training: every method learns, resume equals an uninterrupted run, the run directory is complete."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from astraios import methods, train
from astraios.config import ConfigError, load_config
from astraios.core.io import read_jsonl
from conftest import REPO, float32_approx, tiny_overrides

# Step sizes that move each family visibly in a dozen steps of a tiny model.
LEARNING_RATES = {"full": "3e-3", "loraplus": "1e-3"}  # LoRA+: B at 16x, 1.6e-2


@pytest.mark.parametrize("name", list(methods.METHODS))
def test_every_method_lowers_the_loss(tmp_path, warm_base, name):
    config = load_config(None, tiny_overrides(
        tmp_path / "run", f"model.name={warm_base}", f"method.name={name}",
        f"train.learning_rate={LEARNING_RATES.get(name, '1e-2')}",
        "data.sources=[{path: astraios-sample, limit: 40}]", "data.test_size=8",
        "train.max_steps=12", "train.eval_every=12", "train.save_every=100",
    ))
    summary = train.run(config, show_progress=False)
    assert summary["final_train_loss"] < summary["first_train_loss"] - 0.05, summary
    assert summary["final_test_loss"] < summary["initial_test_loss"], summary


def test_run_directory_is_complete(tmp_path):
    from peft import PeftModel

    from astraios import models

    run_dir = tmp_path / "run"
    summary = train.run(load_config(None, tiny_overrides(run_dir)), show_progress=False)
    records = read_jsonl(run_dir / "losses.jsonl")
    assert [r["step"] for r in records if r["split"] == "train"] == list(range(1, 7))
    assert [r["step"] for r in records if r["split"] == "test"] == [0, 3, 6]
    assert summary["final_test_loss"] == records[-1]["loss"]
    assert summary["parameters"]["trainable"] == methods.count_parameters(
        methods.apply(models.tiny.build("tiny-gptbigcode-xs"), methods.get("lora").config_class())
    ).trainable
    assert summary["tokens"] > 0 and summary["tokens_per_second"] > 0 and summary["peak_memory_bytes"] > 0
    assert json.loads((run_dir / "summary.json").read_text()) == json.loads(json.dumps(summary, default=str))
    assert load_config(run_dir / "config.yaml").to_dict() == load_config(None, tiny_overrides(run_dir)).to_dict()
    final = run_dir / "final"
    assert (final / "adapter_model.safetensors").is_file() and (final / "tokenizer.json").is_file()
    PeftModel.from_pretrained(models.tiny.build("tiny-gptbigcode-xs"), str(final))  # plain peft loads it
    # Saved every 2 steps before the last (6), keep_checkpoints=2 by default.
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-000002", "step-000004"]
    assert not list(run_dir.glob(".*.tmp")) and not list((run_dir / "checkpoints").glob(".*"))


@pytest.mark.skipif(torch.cuda.is_available() or not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="the CPU peak-RSS reset needs Linux's /proc/self/clear_refs")
def test_peak_memory_is_the_runs_own_not_the_process_lifetimes(tmp_path):
    """A grid trains many runs in one process: an earlier, bigger peak must not show in a later run."""
    import numpy as np

    def rss() -> int:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) * 1024

    before, block_bytes = rss(), 768 * 2**20
    block = np.ones(block_bytes // 8)  # every page touched: the process peak is now at least before + block
    del block
    summary = train.run(load_config(None, tiny_overrides(tmp_path / "run")), show_progress=False)
    assert summary["memory_kind"] == "cpu_max_rss"
    assert 0 < summary["peak_memory_bytes"] < before + block_bytes


def test_checkpoints_hold_only_trainable_weights(tmp_path):
    from safetensors.torch import load_file

    run_dir = tmp_path / "run"
    train.run(load_config(None, tiny_overrides(run_dir)), show_progress=False)
    saved = load_file(str(run_dir / "checkpoints" / "step-000004" / "model.safetensors"))
    assert saved and all("lora_" in key for key in saved)


def test_existing_run_directory_is_protected(tmp_path):
    run_dir = tmp_path / "run"
    train.run(load_config(None, tiny_overrides(run_dir)), show_progress=False)
    with pytest.raises(ConfigError, match="already holds a run.*--resume.*--overwrite"):
        train.run(load_config(None, tiny_overrides(run_dir)), show_progress=False)
    with pytest.raises(ConfigError, match="already finished"):
        train.run(load_config(None, tiny_overrides(run_dir)), resume=True, show_progress=False)
    with pytest.raises(ConfigError, match=r"these fields differ: train.max_steps \(6 -> 7\)"):
        train.run(load_config(None, tiny_overrides(run_dir, "train.max_steps=7")), resume=True, show_progress=False)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train.run(load_config(None, tiny_overrides(tmp_path / "new")), resume=True, show_progress=False)


def _resume_overrides(run_dir, *extra):
    return tiny_overrides(
        run_dir, "data.sources=[{path: astraios-sample, limit: 80}]", "train.max_steps=16",
        "train.global_batch_size=8", "train.micro_batch_size=4", "train.eval_every=4", "train.save_every=3",
        "method.dropout=0.3", *extra,
    )


def _train_in_child(overrides):
    train.run(load_config(None, overrides), show_progress=False)


def test_resume_after_a_kill_reproduces_the_uninterrupted_curve(tmp_path):
    """A run killed (SIGKILL) mid-training and resumed ends with the same losses as one never stopped."""
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    train.run(load_config(None, _resume_overrides(whole)), show_progress=False)

    child = multiprocessing.get_context("spawn").Process(target=_train_in_child, args=(_resume_overrides(broken),))
    child.start()
    losses = broken / "losses.jsonl"
    while child.is_alive() and not (losses.exists() and sum(r["split"] == "train" for r in read_jsonl(losses)) >= 7):
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert not (broken / "summary.json").exists(), "the run finished before it could be killed"
    train.run(load_config(None, _resume_overrides(broken)), resume=True, show_progress=False)

    def curve(run_dir):
        return [(r["step"], r["split"], r["loss"]) for r in read_jsonl(run_dir / "losses.jsonl")]

    assert [point[:2] for point in curve(broken)] == [point[:2] for point in curve(whole)]
    for (_, _, resumed), (_, _, expected) in zip(curve(broken), curve(whole)):
        assert resumed == float32_approx(expected)


def test_batch_plan_is_the_same_global_batch_on_any_number_of_devices():
    single = train.BatchPlan(10, global_batch=4, micro_batch=1, world=1, rank=0, seed=3)
    for step in range(6):
        expected = sorted(i for mb in single.micro_batches(step) for i in mb)
        shards = [train.BatchPlan(10, 4, 2, world=2, rank=r, seed=3).micro_batches(step) for r in range(2)]
        assert sorted(i for shard in shards for mb in shard for i in mb) == expected
    first_epoch = [i for step in range(5) for mb in single.micro_batches(step) for i in mb][:10]
    assert sorted(first_epoch) == list(range(10))  # each example once per epoch
    with pytest.raises(ConfigError, match="multiple of micro_batch_size x devices"):
        train.BatchPlan(10, global_batch=4, micro_batch=1, world=3, rank=0, seed=0)


def test_token_weighted_loss_matches_one_big_batch(tmp_path):
    """Gradient accumulation over micro-batches gives the loss of the whole global batch."""
    losses = {}
    for micro in (1, 4):
        run_dir = tmp_path / f"micro{micro}"
        config = load_config(None, tiny_overrides(run_dir, f"train.micro_batch_size={micro}", "train.max_steps=2", "method.dropout=0"))
        train.run(config, show_progress=False)
        losses[micro] = [r["loss"] for r in read_jsonl(run_dir / "losses.jsonl") if r["split"] == "train"]
    assert losses[1] == float32_approx(losses[4])


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path):
    """torchrun with 2 CPU processes (gloo) follows the same loss curve as one process."""
    base = ["train.micro_batch_size=1", "method.dropout=0", "train.max_steps=4"]
    train.run(load_config(None, _resume_overrides(tmp_path / "one", *base)), show_progress=False)
    overrides = _resume_overrides(tmp_path / "two", *base)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "astraios", "train",
               str(REPO / "astraios/presets/demo.yaml"), "--quiet", *[a for o in overrides for a in ("--set", o)]]
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    one = [r["loss"] for r in read_jsonl(tmp_path / "one" / "losses.jsonl")]
    two = [r["loss"] for r in read_jsonl(tmp_path / "two" / "losses.jsonl")]
    assert one == float32_approx(two)
