"""Sharded training under `accelerate launch`: FSDP and DeepSpeed ZeRO, on GPUs and on CPU processes.

The loop (`loop.py`) is written once for one process, DDP, FSDP and DeepSpeed; this module holds
what differs when the model is sharded, so the loop reads the same for all of them:

- **FSDP on CPU processes.** accelerate turns its FSDP plugin on only for accelerator devices; on
  CPU processes (gloo) it silently falls back to DDP, so an FSDP config would "work" without
  sharding anything. astraios switches accelerate's state to FSDP there (FSDP2 only: FSDP1
  rejects CPU devices), so `accelerate launch --config_file configs/accelerate/fsdp.yaml --cpu`
  shards for real. That is how the tests check sharded training, checkpoints and resume without a
  GPU; on GPUs accelerate's own set-up is used untouched.
- **DeepSpeed on CPU processes.** accelerate turns DeepSpeed on only when it is not told `cpu`
  (and `accelerate launch --cpu --use_deepspeed` is refused); without `cpu` on a machine with no
  accelerator, every process would think it is rank 0 of 1. astraios starts the CPU processes
  (gloo), then switches accelerate's state to DeepSpeed with the plugin `accelerate launch`
  exported, and points DeepSpeed at its CPU accelerator (`DS_ACCELERATOR=cpu`), so
  `accelerate launch --config_file configs/accelerate/deepspeed-zero3.yaml` shards with ZeRO on CPU
  processes as it does on GPUs.
- **Quantized bases** (bitsandbytes) cannot be sharded: under FSDP or DeepSpeed `model.quantization:
  auto` loads the base unquantised (with a note); `8bit`, `4bit` and QLoRA are refused.
- **Checkpoints**: under FSDP and DeepSpeed accelerate writes its own sharded state (the whole
  model's shards, frozen weights included); the trainable-weights-only hooks apply to DDP and one
  process (`checkpoint.keep_trainable_weights_only`).
- **DeepSpeed** steps. The loop accumulates
  micro-batches itself with token-weighted losses; DeepSpeed is told the per-device micro-batch
  size, the clipping norm and one accumulation step, and each step's accumulation boundary is set
  on its engine, so its engine steps once per optimiser step with the loop's gradient.
"""

from __future__ import annotations

import os

from astraios.config import ConfigError

FSDP_ENV = "ACCELERATE_USE_FSDP"
DEEPSPEED_ENV = "ACCELERATE_USE_DEEPSPEED"


def make_accelerator(mixed_precision: str):
    """The run's Accelerator: accelerate's own on GPUs; on CPU processes FSDP when it was asked for."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedType

    cpu = not torch.cuda.is_available()
    if cpu and _requested(DEEPSPEED_ENV):
        os.environ.setdefault("DS_ACCELERATOR", "cpu")  # read when deepspeed is first imported
    accelerator = Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    if cpu and accelerator.distributed_type == DistributedType.MULTI_CPU:
        if _requested(DEEPSPEED_ENV):
            _deepspeed_on_cpu(accelerator, mixed_precision)
        elif _requested(FSDP_ENV):
            _shard_on_cpu(accelerator, mixed_precision)
    return accelerator


def _requested(variable: str) -> bool:
    """Whether `accelerate launch` was given that kind of config (it exports ACCELERATE_USE_FSDP/_DEEPSPEED)."""
    return os.environ.get(variable, "false").lower() == "true"


def _deepspeed_on_cpu(accelerator, mixed_precision: str) -> None:
    from accelerate.state import PartialState
    from accelerate.utils import DeepSpeedPlugin, DistributedType

    plugin = DeepSpeedPlugin()  # read from the ACCELERATE_DEEPSPEED_* variables accelerate launch exported
    plugin.set_mixed_precision(mixed_precision)
    plugin.select(_from_accelerator_state=True)
    for state in (accelerator.state, PartialState()):  # both hold the distributed type (see _shard_on_cpu)
        state.distributed_type = DistributedType.DEEPSPEED
    accelerator.state.deepspeed_plugins = plugin
    accelerator.state._mixed_precision = "no"  # DeepSpeed applies the precision in its own config


def _shard_on_cpu(accelerator, mixed_precision: str) -> None:
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    plugin = FullyShardedDataParallelPlugin()  # read from the FSDP_* variables accelerate launch exported
    if plugin.fsdp_version != 2:
        raise ConfigError(
            f"FSDP version {plugin.fsdp_version} cannot shard on CPU processes (torch's FSDP1 needs an "
            f"accelerator device). Fix: set `fsdp_version: 2` in the accelerate config (as "
            f"configs/accelerate/fsdp.yaml), or launch on GPUs."
        )
    if mixed_precision != "no":
        plugin.set_mixed_precision(mixed_precision)
    # accelerate keeps the distributed type in two shared states; AcceleratorState copies PartialState's
    # whenever it is built again, so both are set.
    for state in (accelerator.state, PartialState()):
        state.distributed_type = DistributedType.FSDP
    accelerator.state.fsdp_plugin = plugin


def is_sharded(accelerator) -> bool:
    """Whether accelerate shards the model (FSDP, DeepSpeed): it then checkpoints the model itself."""
    from accelerate.utils import DistributedType

    return accelerator.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)


def quantization_when_sharded(accelerator, quantization: str | None, setting: str) -> tuple[str | None, str | None]:
    """Quantized bases cannot be sharded: `auto` falls back to the unquantised base (with a note); asked
    for (8bit, 4bit, or QLoRA's 4bit) it fails."""
    if not quantization or not is_sharded(accelerator):
        return quantization, None
    kind = accelerator.distributed_type.value
    if setting != "auto" or quantization != "8bit":
        raise ConfigError(f"the base is to be quantized to {quantization}, but {kind} cannot shard quantized "
                          f"(bitsandbytes) weights. Fix: set model.quantization: none (a method other than qlora), "
                          f"or launch without {kind} (one device, or DDP).")
    return None, f"{kind} cannot shard 8-bit weights; loading the base model unquantised instead."


def configure_deepspeed(accelerator, micro_batch_size: int, max_grad_norm: float | None) -> None:
    """Give DeepSpeed what accelerate would read from a DataLoader (the loop has none), before `prepare`."""
    from accelerate.utils import DistributedType

    if accelerator.distributed_type != DistributedType.DEEPSPEED:
        return
    settings = accelerator.state.deepspeed_plugin.deepspeed_config
    settings["train_micro_batch_size_per_gpu"] = micro_batch_size
    settings["gradient_accumulation_steps"] = 1  # the loop accumulates; DeepSpeed must not rescale the loss
    settings["gradient_clipping"] = max_grad_norm or 0.0


def backward(accelerator, loss, *, last_micro_batch: bool) -> None:
    """`accelerator.backward`, telling DeepSpeed which micro-batch ends the step (it steps its engine there)."""
    engine = getattr(accelerator, "deepspeed_engine_wrapped", None)
    if engine is not None and not last_micro_batch:
        engine.engine.set_gradient_accumulation_boundary(False)
        engine.engine.backward(loss)
        return
    accelerator.backward(loss)
