"""Forward+backward time per step of each bottleneck adapter against LoRA, on one tiny model.

Every method gets its own copy of the same base and the same batch. Methods are timed in
interleaved rounds (one step of each per round), so load from other processes on a shared machine
hits them alike; the table gives the median over rounds and the ratio to LoRA's median.

    python benchmarks/adapter_step_time.py
    python benchmarks/adapter_step_time.py --model tiny-llama-l --rounds 30
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

METHODS = ("lora", "adapterh", "adapterp", "parallel")


def time_steps(model_name: str, batch_size: int, seq_len: int, rounds: int, warmup: int) -> dict[str, dict]:
    import torch

    from astraios import methods, models

    tuned = {name: methods.apply(models.tiny.build(model_name), methods.get(name).config_class()) for name in METHODS}
    ids = torch.randint(0, models.tiny.VOCAB_SIZE, (batch_size, seq_len), generator=torch.Generator().manual_seed(0))

    def step(model) -> float:
        start = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        elapsed = time.perf_counter() - start
        model.zero_grad(set_to_none=True)
        return elapsed

    seconds: dict[str, list[float]] = {name: [] for name in METHODS}
    for round_index in range(warmup + rounds):
        for name, model in tuned.items():
            elapsed = step(model)
            if round_index >= warmup:
                seconds[name].append(elapsed)
    return {
        name: {
            "trainable": methods.count_parameters(tuned[name]).trainable,
            "median_ms": 1000 * statistics.median(seconds[name]),
        }
        for name in METHODS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-gptbigcode-m", help="a tiny model (tiny-gptbigcode-*, tiny-llama-*)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=20, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per method first")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is steadiest on a shared CPU)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    results = time_steps(args.model, args.batch_size, args.seq_len, args.rounds, args.warmup)
    lora = results["lora"]["median_ms"]
    print(
        f"{args.model}, batch {args.batch_size} x {args.seq_len} tokens, median of {args.rounds} steps "
        f"(torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()})\n"
    )
    print("| method | trainable | forward+backward ms/step | vs LoRA |")
    print("|---|---:|---:|---:|")
    for name, row in results.items():
        print(f"| {name} | {row['trainable']:,} | {row['median_ms']:.1f} | {row['median_ms'] / lora:.2f}x |")


if __name__ == "__main__":
    main()
