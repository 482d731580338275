"""Grid overhead: `astraios grid` (every job in one process) against the study's way, a shell loop
that starts `astraios train` and then `astraios eval` as a new process for each cell.

Both run the same small grid (two tiny sizes x three methods, a short base warm-up, Python
synthesis and Devign on a few documents), so the work done is identical and the difference is
what the loop pays again and again: importing torch/transformers/peft/datasets, reading the
instruction data and building the tokenizer, once per process instead of once per grid. The
two ways take turns within each repeat, so a shared machine's changing load falls on both.

    python benchmarks/grid_overhead.py [--repeats 2] [--data-dir DIR] [--threads 1]

Needs the evaluation data (`--data-dir`, else $ASTRAIOS_DATA_DIR: `astraios data download --all --to DIR`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _data import DATA, FETCH

from astraios.grid import load_grid

MODELS = ["tiny-gptbigcode-xs", "tiny-gptbigcode-s"]
METHODS = ["lora", "ia3", "adapterp"]
TASKS = ["humanevalsynthesize-python", "devign"]
EVALUATION = {"tasks": TASKS, "n_samples": 1, "temperature": 0.0, "max_new_tokens": 32, "limit": 4, "batch_size": 8}


def grid_config(output_dir: Path, data_dir: Path) -> dict:
    return {
        "output_dir": str(output_dir),
        "models": MODELS,
        "methods": METHODS,
        "recipe": {"set": {"model.quantization": "none", "data.sources": ["astraios-sample"], "data.seq_len": 128,
                           "data.test_size": 16, "train.max_steps": 10, "train.global_batch_size": 8,
                           "train.micro_batch_size": 8, "train.warmup_steps": 2, "train.eval_every": 5,
                           "train.save_every": 10}},
        "base_warmup": {"set": {"train.max_steps": 20}},
        "evaluation": {**EVALUATION, "data_dir": str(data_dir)},
    }


def write_grid(directory: Path, name: str, data_dir: Path) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(grid_config(directory / name, data_dir)))
    return path


def run(command: list[str], env: dict) -> None:
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def one_process(grid_path: Path, env: dict) -> float:
    started = time.perf_counter()
    run([sys.executable, "-m", "astraios", "grid", str(grid_path), "--quiet"], env)
    return time.perf_counter() - started


def shell_loop(grid_path: Path, env: dict, data_dir: Path) -> float:
    """What the study's scripts do: one `train`, then one `eval`, per job, each a fresh process."""
    grid = load_grid(grid_path)
    configs = grid_path.parent / f"{grid_path.stem}-configs"
    configs.mkdir()
    started = time.perf_counter()
    for job in grid.jobs:
        config = configs / f"{job.run_dir.name}.yaml"
        config.write_text(yaml.safe_dump(job.config.model_dump(mode="json")))
        run([sys.executable, "-m", "astraios", "train", str(config), "--quiet"], env)
        if job.kind == "cell":
            run([sys.executable, "-m", "astraios", "eval", "--model", str(job.run_dir), "--tasks", ",".join(TASKS),
                 "--n-samples", "1", "--temperature", "0", "--max-new-tokens", str(EVALUATION["max_new_tokens"]),
                 "--limit", str(EVALUATION["limit"]), "--batch-size", str(EVALUATION["batch_size"]),
                 "--data-dir", str(data_dir), "--quiet"], env)
    return time.perf_counter() - started


def check_same_work(grid_dir: Path, loop_dir: Path) -> None:
    """Both ways must have trained and scored the same cells, or the timing compares nothing."""
    cells = sorted(results.parent.parent.name for results in grid_dir.glob("*/eval/results.json"))
    if len(cells) != len(MODELS) * len(METHODS):
        raise SystemExit(f"the grid evaluated {len(cells)} cells, not {len(MODELS) * len(METHODS)}: {cells}")
    for cell in cells:
        ours, theirs = (json.loads((d / cell / "eval" / "results.json").read_text())["tasks"] for d in (grid_dir, loop_dir))
        if set(ours) != set(TASKS) or set(theirs) != set(TASKS):
            raise SystemExit(f"{cell}: tasks scored differ: {sorted(ours)} vs {sorted(theirs)}")
        losses = [json.loads((d / cell / "summary.json").read_text())["final_test_loss"] for d in (grid_dir, loop_dir)]
        if abs(losses[0] - losses[1]) > 1e-4:
            raise SystemExit(f"{cell}: final test loss {losses[0]} (grid) vs {losses[1]} (loop)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in every process")
    args = parser.parse_args()
    if not (args.data_dir / "humanevalpack").is_dir():
        raise SystemExit(f"no evaluation data in {args.data_dir}: pass --data-dir DIR, or {FETCH}")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    times: dict[str, list[float]] = {"grid": [], "loop": []}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as scratch:
            scratch = Path(scratch)
            times["grid"].append(one_process(write_grid(scratch, "grid", args.data_dir), env))
            times["loop"].append(shell_loop(write_grid(scratch, "loop", args.data_dir), env, args.data_dir))
            check_same_work(scratch / "grid", scratch / "loop")
        print(f"repeat {repeat + 1}: grid {times['grid'][-1]:.1f} s, loop {times['loop'][-1]:.1f} s", flush=True)
    bases, cells = len(MODELS), len(MODELS) * len(METHODS)
    grid, loop = statistics.median(times["grid"]), statistics.median(times["loop"])
    print(f"\n{bases + cells} jobs ({bases} base warm-ups + {cells} cells), {args.threads} torch thread(s), "
          f"median of {args.repeats}, "
          f"{platform.machine()} {os.cpu_count()} CPUs")
    print("| way | seconds | speed-up vs loop |\n|---|---:|---:|")
    print(f"| `astraios grid`, one process | {grid:.1f} | {loop / grid:.2f}x |")
    print(f"| shell loop of `astraios train` + `astraios eval` (baseline) | {loop:.1f} | 1.00x |")


if __name__ == "__main__":
    main()
