"""A run directory before training starts: what astraios owns there, so that starting over never
deletes anything else, and whether it holds a run to resume with the same config.

`astraios train --overwrite` and `astraios demo` start a run over in a directory that may already
exist. They remove only the entries a run writes (config.yaml, losses.jsonl, summary.json, final/,
checkpoints/, tensorboard/, wandb/ and wandb_run_id, eval/, grid_cell.json, export/ and the temporary
files of atomic writes), and
only in a directory astraios made, recognised by its run config (`config.yaml` with astraios'
sections). A directory with anything else in it (a thesis, the current directory, a parent of
other runs) is refused with a list of what is there; a fresh run is refused in such a directory
too, since it would write its files among someone else's.

`prepare` checks a directory against --resume/--overwrite: resuming needs the config the run started
with (`saved_config_differences`, which ignores where a run lives and where it reports), and a run
that never finished a step is simply started again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import yaml

from astraios.config import (
    ConfigError,
    RunConfig,
    _read_yaml,
    differences,
    validate_config,
)
from astraios.core.io import read_jsonl, write_yaml
from astraios.core.layout import (
    CONFIG_FILE,
    EVAL_DIR,
    EVAL_LOCK_PREFIX,
    FINAL_DIR,
    LOSSES_FILE,
    RESULTS_LOCK,
    RUN_ENTRIES,
    SUMMARY_FILE,
)
from astraios.core.locks import LOCK_FILE, exclusive
from astraios.train import checkpoint

# Where a run lives and where it reports change nothing it computes: --resume ignores them.
NOT_COMPUTED = ("train.output_dir", "train.log_to")
RUN_SECTIONS = {"model", "method", "data", "train"}
SHOWN_ENTRIES = 12


def is_owned(name: str, owned: frozenset[str] = RUN_ENTRIES) -> bool:
    """An entry a run writes, or a temporary one of an interrupted atomic write (`.NAME.*.tmp`,
    `.final.tmp`, `.final.old`)."""
    if name in owned:
        return True
    if name.startswith(".") and (name.endswith(".tmp") or name.endswith(".old")):
        return any(name[1:].startswith(f"{owned_name}.") for owned_name in owned)
    return False


def foreign_entries(run_dir: Path) -> list[str]:
    """Entries of `run_dir` that no astraios run writes (directories with a trailing /)."""
    return sorted(f"{entry.name}/" if entry.is_dir() else entry.name for entry in _entries(run_dir)
                  if not is_owned(entry.name))


def is_astraios_run(run_dir: Path) -> bool:
    """Whether `run_dir` holds a run config astraios wrote (its marker)."""
    try:
        config = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(config, dict) and "train" in config and set(config) <= RUN_SECTIONS


def check_fresh(run_dir: Path) -> None:
    """Refuse to start a run among files astraios did not write."""
    foreign = foreign_entries(run_dir)
    if foreign:
        raise ConfigError(f"{run_dir} holds files astraios did not write ({_listing(foreign)}); a run there would mix "
                          f"its files with them. Fix: set train.output_dir to a new or empty directory.")


def check_clearable(run_dir: Path) -> None:
    """Refuse --overwrite unless every entry of `run_dir` is one astraios writes and the directory
    holds astraios' run config (an empty or missing directory is fine)."""
    entries = _entries(run_dir)
    if not entries:
        return
    foreign = foreign_entries(run_dir)
    if foreign:
        raise ConfigError(f"{run_dir} holds files astraios did not write ({_listing(foreign)}); --overwrite removes "
                          f"only a run's own files, so nothing was removed. Fix: set train.output_dir to a new "
                          f"directory, or move those files away.")
    if not is_astraios_run(run_dir):
        names = sorted(f"{entry.name}/" if entry.is_dir() else entry.name for entry in entries)
        raise ConfigError(f"{run_dir} is not a run directory astraios made (no astraios {CONFIG_FILE}) and holds "
                          f"{_listing(names)}; nothing was removed. Fix: set train.output_dir to a new directory.")


def clear(run_dir: Path) -> None:
    """Remove a previous run's files from `run_dir` (for --overwrite), after `check_clearable`.
    The lock file stays: its holder is the run starting over. An evaluation writing into the run's
    eval/ holds its locks there: they are taken first, so a running evaluation refuses the removal
    (LockHeld, naming it) instead of losing its lock and writing the old model's scores into the new run."""
    check_clearable(run_dir)
    evaluation = run_dir / EVAL_DIR
    locks = sorted(evaluation.glob(f"{EVAL_LOCK_PREFIX}*.lock")) + sorted(evaluation.glob(RESULTS_LOCK))
    with contextlib.ExitStack() as held:
        for lock in locks:
            held.enter_context(exclusive(evaluation, "train --overwrite", name=lock.name))
        for entry in _entries(run_dir):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


def _entries(run_dir: Path) -> list[Path]:
    return [entry for entry in run_dir.iterdir() if entry.name != LOCK_FILE] if run_dir.is_dir() else []


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_ENTRIES])
    return shown + (f" and {len(names) - SHOWN_ENTRIES} more" if len(names) > SHOWN_ENTRIES else "")


def prepare(accelerator, run_dir: Path, config: RunConfig, *, resume: bool, overwrite: bool, say) -> bool:
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
        changed = saved_config_differences(run_dir, config)
        if changed:
            raise ConfigError(
                f"{config_path}: --resume needs the config the run started with; these fields differ: "
                f"{'; '.join(changed)}. Fix: restore them (or resume with `astraios train {run_dir} --resume`), "
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
    (check_clearable if overwrite or fresh_start else check_fresh)(run_dir)
    if accelerator.is_main_process:
        if overwrite or fresh_start:
            clear(run_dir)
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
    saved, wanted = validate_config(_read_yaml(config_path), str(config_path)).to_dict(), config.to_dict()
    if _moved_with_its_base(saved, wanted):
        saved["model"]["name"] = wanted["model"]["name"]
    return [difference for difference in differences(saved, wanted)
            if not difference.startswith(tuple(f"{key} " for key in NOT_COMPUTED))]


def _moved_with_its_base(saved: dict, wanted: dict) -> bool:
    """Whether the run's base is another run's final/ (a grid's warm-up) at the same place relative
    to the run as the base the config names: the two were moved or copied together (a grid)."""
    old, new = saved["model"]["name"], wanted["model"]["name"]
    if old == new or Path(old).name != FINAL_DIR or Path(new).name != FINAL_DIR:
        return False
    return (os.path.relpath(old, saved["train"]["output_dir"])
            == os.path.relpath(new, wanted["train"]["output_dir"]))
