"""Parameter accounting on the meta device: peft adapters made on the meta device too
(`low_cpu_mem_usage`, what `astraios methods` and `astraios grid --dry-run` do) against peft's
default, which initialises every adapter on the CPU and then moves it to the meta device.

Both count the same adapted model (the counts are checked equal); the baseline and the candidate
take turns within each repeat, so a shared machine's changing load falls on both.

    python benchmarks/meta_accounting.py [--model codellama-70b] [--method lora] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time

import peft

from astraios import methods, models


def timed_count(base, config, shapes_only: bool) -> tuple[float, int]:
    original = peft.get_peft_model

    def get_peft_model(model, peft_config, **kwargs):  # the baseline: peft's default initialisation
        return original(model, peft_config, **{**kwargs, "low_cpu_mem_usage": shapes_only})

    peft.get_peft_model = get_peft_model
    try:
        start = time.perf_counter()
        counts = methods.count_parameters(methods.apply(copy.deepcopy(base), config))
        return time.perf_counter() - start, counts.trainable
    finally:
        peft.get_peft_model = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="codellama-70b", help="a shipped architecture (astraios.models.sizes)")
    parser.add_argument("--method", default="lora", help="a peft-backed method with target modules")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    base = models.meta_model(args.model)
    config = methods.get(args.method).config_class()
    baseline, candidate = [], []
    for _ in range(args.repeats):
        seconds, default_count = timed_count(base, config, shapes_only=False)
        baseline.append(seconds)
        seconds, meta_count = timed_count(base, config, shapes_only=True)
        candidate.append(seconds)
        assert meta_count == default_count, (meta_count, default_count)
    print(f"{args.method} on {args.model}, {default_count:,} trainable parameters, {args.repeats} repeats "
          f"({platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}):")
    print(f"  peft default (adapters initialised on the CPU): median {statistics.median(baseline):.2f} s")
    print(f"  adapters made on the meta device:               median {statistics.median(candidate):.2f} s")
    print(f"  ratio: {statistics.median(baseline) / statistics.median(candidate):.1f}x faster")


if __name__ == "__main__":
    main()
