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
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.markup import escape

from astraios import __version__, data, methods, models
from astraios.config import ConfigError, RunConfig, _read_yaml, validate_config
from astraios.io import append_jsonl, apply_umask, read_jsonl, replace_dir, write_json, write_jsonl, write_yaml
from astraios.locks import exclusive
from astraios.noise import silenced
from astraios.train import checkpoint, distributed, run_dir as run_dirs
from astraios.train.loggers import Loggers, check_available

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
LOSSES_FILE = "losses.jsonl"
SUMMARY_FILE = "summary.json"
FINAL_DIR = "final"
# Where a run lives and where it reports change nothing it computes: --resume ignores them.
NOT_COMPUTED = ("train.output_dir", "train.log_to")


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


@dataclass
class Progress:
    """Counters saved in every checkpoint (registered with accelerate)."""

    step: int = 0
    tokens: int = 0
    train_seconds: float = 0.0
    step_seconds: list[float] = field(default_factory=list)

    def state_dict(self) -> dict:
        return {"step": self.step, "tokens": self.tokens, "train_seconds": self.train_seconds, "step_seconds": self.step_seconds}

    def load_state_dict(self, state: dict) -> None:
        self.step, self.tokens = state["step"], state["tokens"]
        self.train_seconds, self.step_seconds = state["train_seconds"], list(state["step_seconds"])


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite: training stops rather than write a diverged run."""


def run(config: RunConfig, *, resume: bool = False, overwrite: bool = False, show_progress: bool = True) -> dict:
    """Train `config` into its run directory and return the run summary. The run directory is locked
    for the whole run (`astraios.locks`), so a second train, resume or overwrite there is refused."""
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
    say = _printer(accelerator)
    # Cheap checks first, so a mistyped or unreachable model leaves no run directory behind.
    check_available(config.train.log_to)
    models.model_config(config.model.name, config.model.revision, config.model.trust_remote_code)
    resume = _prepare_run_dir(accelerator, run_dir, config, resume=resume, overwrite=overwrite, say=say)
    set_seed(config.train.seed)
    memory_kind = _reset_peak_memory()

    # Base model, then the method.
    eight_bit, fallback_note = models.eight_bit_plan(config.model.load_in_8bit, method.parameter_efficient)
    if not fallback_note:
        eight_bit, fallback_note = distributed.eight_bit_when_sharded(accelerator, eight_bit, config.model.load_in_8bit)
    if fallback_note:
        say(f"[yellow]note:[/] {escape(fallback_note)}")
    dtype = models.resolve_dtype(config.model.dtype, method.parameter_efficient)
    tokenizer = models.load_tokenizer(config.model.name, config.model.revision, config.model.trust_remote_code)
    model = models.load_model(
        config.model.name,
        dtype=dtype,
        load_in_8bit=eight_bit,
        device_map={"": accelerator.local_process_index} if eight_bit else None,
        revision=config.model.revision,
        trust_remote_code=config.model.trust_remote_code,
    )
    model.config.use_cache = False
    if eight_bit:
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

    optimizer = torch.optim.AdamW(
        _parameter_groups(model, config.train.weight_decay),
        lr=config.learning_rate,
        betas=(config.train.adam_beta1, config.train.adam_beta2),
        eps=config.train.adam_epsilon,
        fused=True,  # one kernel for all parameters (CPU and CUDA), as HF Trainer's default
    )
    scheduler = transformers.get_scheduler(
        config.train.lr_scheduler,
        optimizer,
        num_warmup_steps=config.train.warmup_steps,
        num_training_steps=config.train.max_steps,
    )
    # The scheduler is not prepared: accelerate would step it once per process, but our steps are global.
    distributed.configure_deepspeed(accelerator, config.train.micro_batch_size, config.train.max_grad_norm)
    model, optimizer = accelerator.prepare(model, optimizer)
    progress = Progress()
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
    bar = _progress_bar(accelerator, show_progress)
    with bar:
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
        summary = _summary(config, counts, losses, progress, instruction_data, dtype, eight_bit,
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


def _parameter_groups(model, weight_decay: float) -> list[dict]:
    """Decay every trainable weight except biases and normalisation weights (as HF Trainer does)."""
    import torch

    no_decay = set()
    for module_name, module in model.named_modules():
        if "norm" in type(module).__name__.lower() or isinstance(module, torch.nn.LayerNorm):
            no_decay.update(f"{module_name}.{name}" if module_name else name for name, _ in module.named_parameters(recurse=False))
    decay, keep = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (keep if name in no_decay or name.endswith("bias") else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


def _mixed_precision(setting: str) -> str:
    import torch

    if setting != "auto":
        return setting
    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _prepare_run_dir(accelerator, run_dir: Path, config: RunConfig, *, resume: bool, overwrite: bool, say) -> bool:
    """Check the run directory against the flags and write config.yaml; returns whether to resume.

    A directory whose run never finished a step (it failed on a bad setting, an unknown model,
    missing data) holds nothing worth keeping: it is reused, with or without --resume, whatever the
    config was then, so the corrected command just works."""
    config_path = run_dir / CONFIG_FILE
    fresh_start = config_path.is_file() and not steps_done(run_dir)
    if resume and fresh_start:
        say(f"note: {run_dir} has no step done yet; starting it with this config")
        resume = False
    if resume:
        if not config_path.is_file():
            raise ConfigError(f"{run_dir}: nothing to resume (no {CONFIG_FILE}). Fix: run without --resume.")
        differences = saved_config_differences(run_dir, config)
        if differences:
            raise ConfigError(
                f"{config_path}: --resume needs the config the run started with; these fields differ: "
                f"{'; '.join(differences)}. Fix: restore them (or resume with `astraios train {run_dir} --resume`), "
                f"or start a new run in another train.output_dir."
            )
        if (run_dir / SUMMARY_FILE).is_file():
            raise ConfigError(f"{run_dir}: this run already finished ({SUMMARY_FILE} exists); nothing to resume.")
        return True
    if config_path.exists() and not overwrite and not fresh_start:
        raise ConfigError(
            f"{run_dir} already holds a run. Fix: pass --resume to continue it, --overwrite to start "
            f"over, or set train.output_dir to a new directory."
        )
    # A failed start's files (config.yaml, a step-0 loss) are cleared like --overwrite clears a run's.
    (run_dirs.check_clearable if overwrite or fresh_start else run_dirs.check_fresh)(run_dir)
    if accelerator.is_main_process:
        if overwrite or fresh_start:
            run_dirs.clear(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_yaml(config_path, config.to_dict())
    accelerator.wait_for_everyone()
    return False


def steps_done(run_dir: Path) -> bool:
    """Whether a run directory holds any training progress: a finished run, a checkpoint or a train step."""
    losses = run_dir / LOSSES_FILE
    return ((run_dir / SUMMARY_FILE).is_file() or checkpoint.latest(run_dir) is not None
            or (losses.is_file() and any(record.get("split") == "train" for record in read_jsonl(losses))))


def saved_config_differences(run_dir: Path, config: RunConfig) -> list[str]:
    """Fields in which the config a run directory was started with differs from `config`."""
    config_path = Path(run_dir) / CONFIG_FILE
    saved = validate_config(_read_yaml(config_path), str(config_path))
    return [difference for difference in _differences(saved.to_dict(), config.to_dict())
            if not difference.startswith(tuple(f"{key} " for key in NOT_COMPUTED))]


def _differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    found = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key} ({a!r} -> {b!r})")
    return found


def _reset_peak_memory() -> str:
    """Start this run's peak-memory count, so that runs sharing a process (a grid) each report their
    own; returns what the summary's peak will measure."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
        return "cuda_max_allocated"
    try:  # Linux: "5" resets the peak RSS that getrusage reports to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return "cpu_max_rss_of_process"  # no reset here: the peak since the process started
    return "cpu_max_rss"


def _summary(config, counts, losses, progress, instruction_data, dtype, eight_bit, wall, memory_kind) -> dict:
    import peft
    import torch
    import transformers

    train = [r for r in losses if r["split"] == "train"]
    test = [r for r in losses if r["split"] == "test"]
    steady = progress.step_seconds[1:] or progress.step_seconds
    if torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "model": config.model.name,
        "method": config.method.name,
        "parameters": {"trainable": counts.trainable, "total": counts.total, "trainable_percent": counts.trainable_percent},
        "steps": progress.step,
        "first_train_loss": train[0]["loss"] if train else None,
        "final_train_loss": train[-1]["loss"] if train else None,
        "initial_test_loss": test[0]["loss"] if test else None,
        "final_test_loss": test[-1]["loss"] if test else None,
        "tokens": progress.tokens,
        "tokens_per_second": progress.tokens / progress.train_seconds if progress.train_seconds else None,
        "seconds_per_step": sum(steady) / len(steady) if steady else None,
        "peak_memory_bytes": peak,
        "memory_kind": memory_kind,
        "wall_seconds": wall,
        "dtype": str(dtype).removeprefix("torch."),
        "base_in_8bit": eight_bit,
        "learning_rate": config.learning_rate,
        "data": instruction_data.stats,
        "versions": {
            "astraios": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }


def _printer(accelerator):
    from rich.console import Console

    console = Console(stderr=True)

    def say(message: str) -> None:
        if accelerator.is_main_process:
            console.print(message)

    return say


def _progress_bar(accelerator, show: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  test {task.fields[test]:.4f}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        disable=not (show and accelerator.is_main_process),
        transient=False,
    )
