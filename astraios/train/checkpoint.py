"""Checkpoints: accelerate's full training state (optimizer, scheduler, RNG, progress), with only
the trainable weights of the model, written atomically and pruned to the most recent few.

A checkpoint is first written to `checkpoints/.step-NNNNNN.tmp` and renamed into place once
complete, so a crash while saving leaves the previous checkpoint as the latest valid one. Its
`manifest.json` lists every file with its size: a file torn or emptied afterwards (a disk filling
up, a filesystem that lost unsynced data in a power cut) is caught before anything is loaded, and
`load_latest_valid` falls back to the newest checkpoint that is whole, with a warning. A
checkpoint without a manifest (an older astraios) is checked by loading it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from astraios.core.io import apply_umask, read_json, replace_dir, write_json
from astraios.core.layout import CHECKPOINTS_DIR

MANIFEST = "manifest.json"
_NAME = re.compile(r"^step-(\d+)$")


class CheckpointMismatch(ValueError):
    """A readable checkpoint whose weights do not fit the model: the config changed, not the file."""


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    root = Path(run_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), path) for path in root.iterdir() if (m := _NAME.match(path.name)) and path.is_dir()]
    return sorted(found)


def latest(run_dir: Path) -> tuple[int, Path] | None:
    found = checkpoints(run_dir)
    return found[-1] if found else None


def save(accelerator, run_dir: Path, step: int, keep: int) -> Path:
    root = Path(run_dir) / CHECKPOINTS_DIR
    final = root / f"step-{step:06d}"
    tmp = root / f".step-{step:06d}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        apply_umask(tmp)
        files = {str(path.relative_to(tmp)): path.stat().st_size for path in sorted(tmp.rglob("*")) if path.is_file()}
        write_json(tmp / MANIFEST, {"step": step, "files": files})
        replace_dir(tmp, final)
        for _, old in checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_latest_valid(accelerator, run_dir: Path, warn) -> Path | None:
    """Load the newest whole checkpoint into `accelerator` and return its path (None when the run
    has none). A torn or unreadable one is skipped with `warn(message)`; when none is whole the
    run cannot resume, and the error says how to start over."""
    found = checkpoints(run_dir)
    problems = []
    for _, path in reversed(found):
        problem = manifest_problem(path)
        if problem is None:
            try:
                accelerator.load_state(str(path))
                return path
            except CheckpointMismatch:
                raise
            except Exception as error:  # noqa: BLE001 (torn files fail in many libraries' own ways)
                problem = f"unreadable ({type(error).__name__}: {str(error)[:200]})"
        problems.append(f"{path}: {problem}")
        warn(f"[yellow]warning:[/] checkpoint {path} is {problem}; trying an older one")
    if problems:
        raise ValueError(f"{run_dir}: no checkpoint can be resumed from ({'; '.join(problems)}). Fix: start over "
                         f"with --overwrite.")
    return None


def manifest_problem(path: Path) -> str | None:
    """Why the checkpoint at `path` is not whole by its manifest (None: whole, or no manifest)."""
    try:
        manifest = read_json(Path(path) / MANIFEST)
    except ValueError as error:
        return f"torn ({error})"
    if manifest is None:
        return None
    for name, size in manifest.get("files", {}).items():
        file = Path(path) / name
        if not file.is_file():
            return f"incomplete ({name} is missing)"
        if file.stat().st_size != size:
            return f"torn ({name} is {file.stat().st_size} bytes, {size} were written)"
    return None


def keep_trainable_weights_only(accelerator) -> None:
    """Make accelerate's save/load_state hold only trainable weights: a PEFT checkpoint of a 15B
    model is then megabytes, not the frozen base again."""

    def trainable_names(model) -> set[str]:
        return {name for name, parameter in model.named_parameters() if parameter.requires_grad}

    def before_save(models, weights, output_dir):
        for index, model in enumerate(models):
            names = trainable_names(model)
            weights[index] = {key: value for key, value in weights[index].items() if key in names}

    def before_load(models, input_dir):
        from safetensors.torch import load_file

        for index, model in enumerate(models):
            suffix = f"_{index}" if index else ""
            state = load_file(str(Path(input_dir) / f"model{suffix}.safetensors"))
            missing = trainable_names(model) - set(state)
            result = model.load_state_dict(state, strict=False)
            if missing or result.unexpected_keys:
                raise CheckpointMismatch(
                    f"checkpoint {input_dir} does not match the model (missing trainable weights: "
                    f"{sorted(missing)[:5]}, unexpected: {result.unexpected_keys[:5]}); was the config changed?"
                )
        models.clear()  # loaded here: accelerate must not load them again

    accelerator.register_save_state_pre_hook(before_save)
    accelerator.register_load_state_pre_hook(before_load)
