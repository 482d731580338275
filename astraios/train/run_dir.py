"""What astraios owns in a run directory, so that starting over never deletes anything else.

`astraios train --overwrite` and `astraios demo` start a run over in a directory that may already
exist. They remove only the entries a run writes (config.yaml, losses.jsonl, summary.json, final/,
checkpoints/, tensorboard/, wandb/ and wandb_run_id, eval/, grid_cell.json and the temporary files
of atomic writes), and
only in a directory astraios made, recognised by its run config (`config.yaml` with astraios'
sections). A directory with anything else in it (a thesis, the current directory, a parent of
other runs) is refused with a list of what is there; a fresh run is refused in such a directory
too, since it would write its files among someone else's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from astraios.config import ConfigError
from astraios.locks import LOCK_FILE

RUN_SECTIONS = {"model", "method", "data", "train"}
SHOWN_ENTRIES = 12


def owned_names() -> set[str]:
    """Names of the entries a training run (and a grid's evaluation of it) writes."""
    from astraios.grid import CELL_FILE, EVAL_DIR
    from astraios.train import checkpoint
    from astraios.train.loggers import TENSORBOARD_DIR, WANDB_ID_FILE
    from astraios.train.loop import CONFIG_FILE, FINAL_DIR, LOSSES_FILE, SUMMARY_FILE

    return {CONFIG_FILE, LOSSES_FILE, SUMMARY_FILE, FINAL_DIR, checkpoint.CHECKPOINTS, TENSORBOARD_DIR, "wandb",
            WANDB_ID_FILE, EVAL_DIR, CELL_FILE}


def is_owned(name: str, owned: set[str]) -> bool:
    """An entry a run writes, or a temporary one of an interrupted atomic write (`.NAME.*.tmp`,
    `.final.tmp`, `.final.old`)."""
    if name in owned:
        return True
    if name.startswith(".") and (name.endswith(".tmp") or name.endswith(".old")):
        return any(name[1:].startswith(f"{owned_name}.") for owned_name in owned)
    return False


def foreign_entries(run_dir: Path) -> list[str]:
    """Entries of `run_dir` that no astraios run writes (directories with a trailing /)."""
    owned = owned_names()
    return sorted(f"{entry.name}/" if entry.is_dir() else entry.name for entry in _entries(run_dir)
                  if not is_owned(entry.name, owned))


def is_astraios_run(run_dir: Path) -> bool:
    """Whether `run_dir` holds a run config astraios wrote (its marker)."""
    from astraios.train.loop import CONFIG_FILE

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
        from astraios.train.loop import CONFIG_FILE

        names = sorted(f"{entry.name}/" if entry.is_dir() else entry.name for entry in entries)
        raise ConfigError(f"{run_dir} is not a run directory astraios made (no astraios {CONFIG_FILE}) and holds "
                          f"{_listing(names)}; nothing was removed. Fix: set train.output_dir to a new directory.")


def clear(run_dir: Path) -> None:
    """Remove a previous run's files from `run_dir` (for --overwrite), after `check_clearable`.
    The lock file stays: its holder is the run starting over."""
    check_clearable(run_dir)
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
