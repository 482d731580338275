"""The training recipe, top to bottom: config -> base model -> method -> data -> steps -> run dir.

One accelerate loop serves CPU, one GPU and `accelerate launch` (DDP, FSDP, DeepSpeed through the
accelerate configs in `configs/accelerate/`; what sharding changes is in `distributed.py`). Design
choices, and why:
- Data order is a pure function of (seed, step, process): `BatchPlan` maps step s to the examples
  [s*G, (s+1)*G) of an endless seeded permutation stream. Resuming needs no sampler state, and
  the global batch of a step is the same on any number of devices.
- Loss is token-weighted over the whole global batch: each micro-batch's mean loss is scaled by
  its share of the step's label tokens (summed over devices), so gradient accumulation and data
  parallelism give the gradient of one big batch.
- Checkpoints hold the full training state but only trainable weights (`checkpoint.py`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import time
from pathlib import Path

from rich.markup import escape

from astraios import data, methods, models
from astraios.config import ConfigError, RunConfig
from astraios.core.io import (
    append_jsonl,
    apply_umask,
    read_jsonl,
    replace_dir,
    write_json,
    write_jsonl,
)
from astraios.core.layout import FINAL_DIR, LOSSES_FILE, SUMMARY_FILE
from astraios.core.locks import exclusive
from astraios.core.noise import silenced
from astraios.train import checkpoint, distributed, reporting
from astraios.train import run_dir as run_dirs
from astraios.train.loggers import Loggers, check_available
from astraios.train.optimizer import make_optimizer

log = logging.getLogger(__name__)



class BatchPlan:
    """Which examples each process sees at each step: an endless stream of seeded permutations."""

    def __init__(self, n_examples: int, global_batch: int, micro_batch: int, world: int, rank: int, seed: int):
        if global_batch % (micro_batch * world):
            raise ConfigError(
                f"train.global_batch_size ({global_batch}) must be a multiple of micro_batch_size x "
                f"devices ({micro_batch} x {world}); change one of them"
            )
        self.n, self.global_batch, self.micro_batch = n_examples, global_batch, micro_batch
        self.world, self.rank, self.seed = world, rank, seed
        self._permutations: dict[int, list[int]] = {}

    def example(self, k: int) -> int:
        import torch

        epoch, position = divmod(k, self.n)
        if epoch not in self._permutations:
            self._permutations = {epoch: torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()}
        return self._permutations[epoch][position]

    def micro_batches(self, step: int) -> list[list[int]]:
        per_process = self.global_batch // self.world
        first = step * self.global_batch + self.rank * per_process
        mine = [self.example(first + i) for i in range(per_process)]
        return [mine[i : i + self.micro_batch] for i in range(0, per_process, self.micro_batch)]


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: training stops rather than write a diverged run."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during the steps: the run stays in its directory, resumable from its last checkpoint. Still a
    KeyboardInterrupt, so that nothing which records a job's errors (a grid) swallows it."""

    def __init__(self, run_dir: Path, step: int, max_steps: int):
        found = checkpoint.latest(run_dir)
        resumes = (f"resumes from its checkpoint at step {found[0]}" if found else
                   "has no checkpoint yet (one every train.save_every steps), so it resumes from the start")
        super().__init__(f"interrupted at step {step} of {max_steps}; the run {resumes}: "
                         f"astraios train {run_dir} --resume")


def run(config: RunConfig, *, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    """Train `config` into its run directory and return the run summary. The run directory is locked
    for the whole run (`astraios.core.locks`), so a second train, resume or overwrite there is refused."""
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun / accelerate launch rank 0 holds the lock
    with exclusive(config.output_dir(), "train") if main else contextlib.nullcontext():
        return _run(config, resume=resume, overwrite=overwrite, show_progress=show_progress)


def _run(config: RunConfig, *, resume: bool, overwrite: bool, show_progress: bool) -> dict:
    import datasets
    import torch
    import transformers
    from accelerate.utils import broadcast_object_list, set_seed

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # ours is the one progress bar
    method = methods.get(config.method.name)
    run_dir = config.output_dir()
    mixed = _mixed_precision(config.train.mixed_precision)
    # On CPU, torchrun / `accelerate launch` start data-parallel (or FSDP) CPU processes with gloo.
    accelerator = distributed.make_accelerator(mixed)
    say = reporting.printer(accelerator)
    # Cheap checks first, so a mistyped or unreachable model leaves no run directory behind.
    for warning in check_available(config.train.log_to):
        say(f"[yellow]warning:[/] {escape(warning)}")
    models.model_config(config.model.name, config.model.revision, config.model.trust_remote_code)
    quantization, fallback_note = models.quantization_plan(config.model.quantization, method.parameter_efficient,
                                                           method.base_quantization)
    if not fallback_note:
        quantization, fallback_note = distributed.quantization_when_sharded(accelerator, quantization,
                                                                            config.model.quantization)
    if quantization and method.refuse_base and (why := method.refuse_base(quantization, accelerator.device.type)):
        raise ConfigError(f"method {method.name} cannot train on {quantization} bases on "
                          f"{accelerator.device.type}: {why}")
    if fallback_note:
        say(f"[yellow]note:[/] {escape(fallback_note)}")
    resume = run_dirs.prepare(accelerator, run_dir, config, resume=resume, overwrite=overwrite, say=say)
    set_seed(config.train.seed)
    memory_kind = reporting.reset_peak_memory()

    # Base model, then the method.
    dtype = models.resolve_dtype(config.model.dtype, method.parameter_efficient)
    tokenizer = models.load_tokenizer(config.model.name, config.model.revision, config.model.trust_remote_code)
    model = models.load_model(
        config.model.name,
        dtype=dtype,
        quantization=quantization,
        device_map={"": accelerator.device} if quantization else None,
        revision=config.model.revision,
        trust_remote_code=config.model.trust_remote_code,
    )
    model.config.use_cache = False
    if quantization:
        from peft import prepare_model_for_kbit_training

        with silenced("peft_checkpointing"):
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.model.gradient_checkpointing)
    elif config.model.gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers' new name for it
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = method.apply(model, config.method)
    counts = methods.count_parameters(model)
    say(
        f"{config.model.name} + {method.title}: {counts.trainable:,} trainable of {counts.total:,} parameters "
        f"({counts.trainable_percent:.4f}%)"
    )

    # Data: the context left after any virtual tokens the method prepends.
    context = models.context_length(model.config)
    if context is not None:
        context -= getattr(config.method, "num_virtual_tokens", 0)
    instruction_data = data.build(config.data, tokenizer, context=context)
    plan = BatchPlan(
        len(instruction_data.train),
        config.train.global_batch_size,
        config.train.micro_batch_size,
        accelerator.num_processes,
        accelerator.process_index,
        config.train.seed,
    )

    optimizer = make_optimizer(model, method, config)
    distributed.configure_deepspeed(accelerator, config.train.micro_batch_size, config.train.max_grad_norm)
    model, optimizer = accelerator.prepare(model, optimizer)
    # Made on the prepared optimizer, whose parameter groups are the ones that step (DeepSpeed's ZeRO
    # regroups them: it drops empty ones). Not prepared: accelerate would step it once per process,
    # but our steps are global.
    scheduler = transformers.get_scheduler(
        config.train.lr_scheduler,
        optimizer,
        num_warmup_steps=config.train.warmup_steps,
        num_training_steps=config.train.max_steps,
    )
    progress = reporting.Progress()
    accelerator.register_for_checkpointing(scheduler, progress)
    if not distributed.is_sharded(accelerator):  # sharded: accelerate checkpoints the model's shards itself
        checkpoint.keep_trainable_weights_only(accelerator)

    losses_path = run_dir / LOSSES_FILE
    start = time.perf_counter()
    loggers = Loggers(run_dir, config, accelerator.is_main_process)
    if resume and (found := checkpoint.load_latest_valid(accelerator, run_dir, say)):
        say(f"resumed from {found} (step {progress.step})")
        if accelerator.is_main_process:
            write_jsonl(losses_path, [r for r in read_jsonl(losses_path) if r["step"] <= progress.step])
    else:
        if accelerator.is_main_process:
            write_jsonl(losses_path, [])
        initial = _test_loss(model, instruction_data.test, tokenizer, config, accelerator)
        if accelerator.is_main_process:
            append_jsonl(losses_path, {"step": 0, "split": "test", "loss": initial})
            loggers.log({"step": 0, "split": "test", "loss": initial})

    model.train()
    bar = reporting.progress_bar(accelerator, show_progress)
    with bar, _interruption(run_dir, progress, config.train.max_steps):
        task = bar.add_task("training", total=config.train.max_steps, completed=progress.step, loss=math.nan, test=math.nan)
        for step in range(progress.step, config.train.max_steps):
            step_start = time.perf_counter()
            record = _train_step(model, optimizer, scheduler, plan.micro_batches(step), instruction_data.train, tokenizer, config, accelerator)
            elapsed = time.perf_counter() - step_start
            step_tokens = record.pop("tokens")
            if not math.isfinite(record["loss"]):
                raise TrainingDiverged(
                    f"{run_dir}: the train loss is {record['loss']} at step {step + 1} (learning rate "
                    f"{record['lr']:g}); training stopped. Fix: lower train.learning_rate (or set "
                    f"train.max_grad_norm) and start over with --overwrite."
                )
            progress.step, progress.tokens = step + 1, progress.tokens + step_tokens
            progress.train_seconds += elapsed
            progress.step_seconds.append(elapsed)
            record.update(
                step=step + 1, split="train", tokens_seen=progress.tokens, step_seconds=elapsed,
                tokens_per_second=step_tokens / elapsed,
            )
            records = [record]
            bar.update(task, completed=step + 1, loss=record["loss"])
            if (step + 1) % config.train.eval_every == 0 or step + 1 == config.train.max_steps:
                test = _test_loss(model, instruction_data.test, tokenizer, config, accelerator)
                records.append({"step": step + 1, "split": "test", "loss": test})
                bar.update(task, test=test)
            if accelerator.is_main_process:
                for item in records:
                    append_jsonl(losses_path, item)
                    loggers.log(item)
            if (step + 1) % config.train.save_every == 0 and step + 1 < config.train.max_steps:
                checkpoint.save(accelerator, run_dir, step + 1, config.train.keep_checkpoints)

    # Final weights (only what the method trains) and the summary.
    final_tmp = run_dir / f".{FINAL_DIR}.tmp"
    state_dict = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        shutil.rmtree(final_tmp, ignore_errors=True)
        method.save(accelerator.unwrap_model(model), final_tmp, config.method, config.model.name, state_dict=state_dict)
        tokenizer.save_pretrained(str(final_tmp))
        apply_umask(final_tmp)
        replace_dir(final_tmp, run_dir / FINAL_DIR)
    summary = None
    if accelerator.is_main_process:
        losses = read_jsonl(losses_path)
        summary = reporting.summary(config, counts, losses, progress, instruction_data, dtype, quantization,
                           time.perf_counter() - start, memory_kind)
        write_json(run_dir / SUMMARY_FILE, summary)
        loggers.close(summary)
    summary = broadcast_object_list([summary])[0]  # every process returns the main process's summary
    accelerator.end_training()
    return summary


def _train_step(model, optimizer, scheduler, micro_batches, train_set, tokenizer, config: RunConfig, accelerator) -> dict:
    import torch

    device = accelerator.device
    batches = [data.collate([train_set[i] for i in indices], tokenizer.pad_token_id) for indices in micro_batches]
    # Counted on the host tensors: counting on the device would wait for the previous backward each micro-batch.
    batch_targets = [int((b["labels"][:, 1:] != data.IGNORE_INDEX).sum()) for b in batches]
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    step_targets = accelerator.reduce(torch.tensor(sum(batch_targets), device=device), reduction="sum").item()
    loss_sum = torch.zeros((), device=device)
    for index, (batch, targets) in enumerate(zip(batches, batch_targets)):
        batch = {key: value.to(device) for key, value in batch.items()}
        last = index == len(batches) - 1
        with contextlib.nullcontext() if last else accelerator.no_sync(model):
            loss = model(**batch).loss
            # Token-weighted share of the global batch; DDP (and FSDP, ZeRO) average over processes: scale back up.
            distributed.backward(accelerator, loss * targets * accelerator.num_processes / max(step_targets, 1),
                                 last_micro_batch=last)
        loss_sum += loss.detach().float() * targets
    grad_norm = None
    if config.train.max_grad_norm:
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), config.train.max_grad_norm)
    optimizer.step()
    lr = scheduler.get_last_lr()[0]
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    total_loss = accelerator.reduce(loss_sum, reduction="sum").item()
    total_tokens = int(accelerator.reduce(torch.tensor(tokens, device=device), reduction="sum").item())
    return {
        "loss": total_loss / max(step_targets, 1),
        "lr": lr,
        "grad_norm": float(grad_norm) if grad_norm is not None else None,
        "tokens": total_tokens,
    }


def _test_loss(model, test_set, tokenizer, config: RunConfig, accelerator) -> float:
    """Token-weighted mean loss over the whole held-out set (sharded over processes).

    Every process runs the same number of forward passes: a sharded model (FSDP, ZeRO-3) gathers
    weights from all processes in each one, so a process with one batch fewer would leave the
    others waiting forever. A process short of examples runs its last batch again, weighted 0."""
    import torch

    model.eval()
    loss_sum = torch.zeros((), device=accelerator.device)
    targets_sum = torch.zeros((), device=accelerator.device)
    mine = list(range(accelerator.process_index, len(test_set), accelerator.num_processes))
    size = config.train.eval_batch_size
    passes = math.ceil(math.ceil(len(test_set) / accelerator.num_processes) / size)
    with torch.no_grad():
        for index in range(passes):
            indices = mine[index * size : (index + 1) * size]
            weight = 1 if indices else 0
            batch = data.collate([test_set[i] for i in indices or mine[-size:] or [0]], tokenizer.pad_token_id)
            batch = {key: value.to(accelerator.device) for key, value in batch.items()}
            targets = (batch["labels"][:, 1:] != data.IGNORE_INDEX).sum() * weight
            loss_sum += model(**batch).loss.float() * targets
            targets_sum += targets
    model.train()
    total = accelerator.reduce(torch.stack([loss_sum, targets_sum]), reduction="sum")
    return (total[0] / total[1].clamp(min=1)).item()


def _mixed_precision(setting: str) -> str:
    import torch

    if setting != "auto":
        return setting
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


@contextlib.contextmanager
def _interruption(run_dir: Path, progress: reporting.Progress, max_steps: int):
    """Ctrl-C in the steps becomes one `TrainingInterrupted` (the bar stops first: it is entered before)."""
    try:
        yield
    except KeyboardInterrupt:
        raise TrainingInterrupted(run_dir, progress.step, max_steps) from None


