"""Cold start of the metadata commands: each one a new process, as a user types it.

`astraios methods` and `astraios grid --dry-run` print parameter counts, which need models built on
the meta device (torch, transformers and peft imported: seconds). They are cached per model, method
and options (astraios.methods.accounting), so a later call answers without importing torch. Each
command runs with an empty cache (the uncached path, the baseline) and with the cache that run left
(warm), taking turns within each repeat so a changing load falls on both. `--help` and `tasks` never
count parameters: their two timings should be equal. Two references: the interpreter alone, and
importing torch, transformers and peft.

    python benchmarks/cli_startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS = {
    "astraios --help": ["--help"],
    "astraios tasks": ["tasks"],
    "astraios methods": ["methods"],
    "astraios grid configs/grid-tiny.yaml --dry-run": ["grid", "configs/grid-tiny.yaml", "--dry-run", "--data-dir"],
}
REFERENCES = {"python -c pass": "pass", "python -c 'import torch, transformers, peft'": "import torch, transformers, peft"}


def seconds(command: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f}", flush=True)
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        no_data = Path(scratch) / "no-data"  # the plan lists every task skipped: no Hub lookups
        no_data.mkdir()
        for repeat in range(args.repeats):
            for name, arguments in COMMANDS.items():
                command = [sys.executable, "-m", "astraios", *arguments]
                if command[-1] == "--data-dir":
                    command.append(str(no_data))
                cache = Path(scratch) / f"cache-{repeat}-{len(times)}"
                env = {**os.environ, "ASTRAIOS_CACHE_DIR": str(cache)}
                times.setdefault((name, "uncached"), []).append(seconds(command, env))  # fills the empty cache
                times.setdefault((name, "cached"), []).append(seconds(command, env))
            for name, code in REFERENCES.items():
                times.setdefault((name, "reference"), []).append(seconds([sys.executable, "-c", code], dict(os.environ)))
            print(f"repeat {repeat + 1} of {args.repeats} done", flush=True)
    median = {key: statistics.median(values) for key, values in times.items()}
    print(f"\nmedian of {args.repeats}, {platform.machine()} {os.cpu_count()} CPUs, "
          f"load average at end: {os.getloadavg()[0]:.1f}")
    print("| command | empty cache (baseline), s | warm cache, s | speed-up |\n|---|---:|---:|---:|")
    for name in COMMANDS:
        cold, warm = median[(name, "uncached")], median[(name, "cached")]
        print(f"| `{name}` | {cold:.2f} | {warm:.2f} | {cold / warm:.1f}x |")
    for name in REFERENCES:
        print(f"| `{name}` (reference) | {median[(name, 'reference')]:.2f} | | |")


if __name__ == "__main__":
    main()
