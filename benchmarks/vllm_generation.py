"""Sampling throughput of the vLLM backend (vLLM's CPU build here) against the transformers backend
(astraios' continuous batching), on the same tiny model, prompts, stops and n=20 samples per prompt.

Both backends sample the same rows (seeded per sample); generated tokens are counted by re-encoding
the completions with the model's tokenizer, the same way for both. The backends take turns for
`--rounds` rounds, so load from other processes hits them alike; the ratio is of the median
tokens/s. vLLM's start-up (minutes on a CPU) is reported apart, not in its throughput. Without vLLM
installed (the plain .venv) the benchmark says so and exits 0; run it in .venv-accel:

    .venv-accel/bin/python benchmarks/vllm_generation.py
    .venv-accel/bin/python benchmarks/vllm_generation.py --model tiny-llama-l --new-tokens 128
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

PROMPTS = ["def fibonacci(n):", "def is_prime(number):", "class Stack:", "def parse_csv(path):",
           "def merge_sorted(left, right):", "import os\n\ndef walk(root):", "def flatten(items):",
           "def binary_search(values, target):"]
STOP = ["\ndef", "\nclass", "\nif", "\nprint"]  # HumanEval's stop sequences


def lively_model(name: str, directory: Path) -> str:
    """A tiny model whose weights are scaled up (so it does not repeat one token), saved for both backends."""
    import torch

    from astraios import models

    model = models.load_model(name)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(8.0)
    model.save_pretrained(str(directory))
    models.load_tokenizer(name).save_pretrained(str(directory))
    return str(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny-llama-m", help="a tiny model with head size 32 or more (vLLM's CPU kernels)")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="rows the transformers backend decodes together")
    args = parser.parse_args()
    if importlib.util.find_spec("vllm") is None:
        print("vllm_generation: skipped, vLLM is not installed here (run it with .venv-accel/bin/python, "
              "after `make install-accel`)")
        return
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from astraios.generate import create_backend, resolve

    load_at_start = os.getloadavg()[0]

    with tempfile.TemporaryDirectory() as work:
        source = resolve(lively_model(args.model, Path(work) / "model"))
        started = time.perf_counter()
        backends = {"vllm": create_backend("vllm", source, dtype="float32", seed=0)}
        vllm_start = time.perf_counter() - started
        backends["transformers"] = create_backend("transformers", source, batch_size=args.batch_size, dtype="float32")
        tokenizer = backends["transformers"].tokenizer
        seeds = [[index * 1000 + sample for sample in range(args.samples)] for index in range(len(PROMPTS))]
        rates: dict[str, list[float]] = {name: [] for name in backends}
        for _ in range(args.rounds):
            for name, backend in backends.items():
                begin = time.perf_counter()
                rows = backend.generate(PROMPTS, n=args.samples, temperature=0.8, top_p=0.95,
                                        max_new_tokens=args.new_tokens, stop=STOP, seeds=seeds)
                seconds = time.perf_counter() - begin
                tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for row in rows for text in row)
                rates[name].append(tokens / seconds)
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"vLLM ({args.model}, float32) vs the transformers backend: {len(PROMPTS)} prompts x {args.samples} samples, "
          f"up to {args.new_tokens} new tokens, stops {STOP}, {args.rounds} rounds")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load average (1 min) {load_at_start:.2f} at the "
          f"start, {os.getloadavg()[0]:.2f} at the end")
    print(f"vLLM start-up: {vllm_start:.0f} s (not counted below)")
    for name, value in median.items():
        print(f"  {name:12s} {value:10,.0f} generated tokens/s (median; rounds: "
              f"{', '.join(f'{rate:,.0f}' for rate in rates[name])})")
    print(f"ratio vLLM / transformers: {median['vllm'] / median['transformers']:.2f}x")


if __name__ == "__main__":
    main()
