"""Sharded training under `accelerate launch`: FSDP (also on CPU processes) and DeepSpeed ZeRO.

The loop (`loop.py`) is written once for one process, DDP, FSDP and DeepSpeed; this module holds
what differs when the model is sharded, so the loop reads the same for all of them:

- **FSDP on CPU processes.** accelerate turns its FSDP plugin on only for accelerator devices; on
  CPU processes (gloo) it silently falls back to DDP, so an FSDP config would "work" without
  sharding anything. astraios switches accelerate's state to FSDP there (FSDP2 only: FSDP1
  rejects CPU devices), so `accelerate launch --config_file configs/accelerate/fsdp.yaml --cpu`
  shards for real. That is how the tests check sharded training, checkpoints and resume without a
  GPU; on GPUs accelerate's own set-up is used untouched.
- **8-bit bases** (bitsandbytes) cannot be sharded: under FSDP or DeepSpeed `model.load_in_8bit:
  auto` loads the base unquantised (with a note) and `true` is refused.
- **Checkpoints**: under FSDP and DeepSpeed accelerate writes its own sharded state (the whole
  model's shards, frozen weights included); the trainable-weights-only hooks apply to DDP and one
  process (`checkpoint.keep_trainable_weights_only`).
- **DeepSpeed** (GPU only: accelerate never uses DeepSpeed on CPU). The loop accumulates
  micro-batches itself with token-weighted losses; DeepSpeed is told the per-device micro-batch
  size, the clipping norm and one accumulation step, and each step's accumulation boundary is set
  on its engine, so its engine steps once per optimiser step with the loop's gradient.
"""

from __future__ import annotations

import os

from astraios.config import ConfigError

FSDP_ENV = "ACCELERATE_USE_FSDP"


def make_accelerator(mixed_precision: str):
    """The run's Accelerator: accelerate's own on GPUs; on CPU processes FSDP when it was asked for."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedType

    cpu = not torch.cuda.is_available()
    accelerator = Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    if cpu and fsdp_requested() and accelerator.distributed_type == DistributedType.MULTI_CPU:
        _shard_on_cpu(accelerator, mixed_precision)
    return accelerator


def fsdp_requested() -> bool:
    """Whether `accelerate launch` was given an FSDP config (it exports ACCELERATE_USE_FSDP)."""
    return os.environ.get(FSDP_ENV, "false").lower() == "true"


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


def eight_bit_when_sharded(accelerator, eight_bit: bool, setting) -> tuple[bool, str | None]:
    """8-bit bases cannot be sharded: `auto` falls back to the unquantised base (with a note), `true` fails."""
    if not eight_bit or not is_sharded(accelerator):
        return eight_bit, None
    kind = accelerator.distributed_type.value
    if setting is True:
        raise ConfigError(f"model.load_in_8bit is true, but {kind} cannot shard 8-bit (bitsandbytes) weights. Fix: "
                          f"set model.load_in_8bit: auto or false, or launch without {kind} (one GPU, or DDP).")
    return False, f"{kind} cannot shard 8-bit weights; loading the base model unquantised instead."


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
