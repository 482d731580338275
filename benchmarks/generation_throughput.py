"""Evaluation throughput against named baselines, measured in the same run.

1. Generation: generated tokens/s of the batched transformers backend (left padding, KV cache,
   one `generate` per batch) vs one-prompt-at-a-time `model.generate`, on the same tiny model,
   the same HumanEvalPack prompts and the same sampling settings (T=0.2, top_p=0.95). Tokens are
   counted the same way for both: the completion text re-tokenised. A second pair adds the
   HumanEvalPack stop sequences and early-exit test, as real evaluations run, for both sides
   (tokens after a stop are not counted: they are thrown away). Each figure is the median of a
   few runs, because the machine may be shared.
2. Scoring: wall time of `astraios eval --generations FILE` (load data, execute in the sandbox,
   write results.json) on 164 problems x 20 saved programs in the harness format, all distinct
   (no deduplication possible: the worst case), and the same with 4 distinct programs per problem
   (as greedy or low-temperature sampling gives).

    python benchmarks/generation_throughput.py [--model tiny-gptbigcode-m] [--prompts 32]
        [--batch-size 16] [--max-new-tokens 256] [--repeats 3] [--languages python java] [--samples 20] [--threads N]
        [--skip-generation] [--skip-scoring]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from astraios import tasks
from astraios.evaluate import EvalConfig, evaluate
from astraios.generate.huggingface import TransformersBackend
from astraios.models import load_model, load_tokenizer
from astraios.tasks.humanevalpack import STOP_SEQUENCES, function_is_complete

from _data import DATA

TEMPERATURE, TOP_P = 0.2, 0.95


def count_tokens(tokenizer, completions: list[str]) -> int:
    return sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in completions)


def one_at_a_time(model, tokenizer, prompts: list[str], max_new_tokens: int) -> list[str]:
    completions = []
    for prompt in prompts:
        encoded = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(**encoded, do_sample=True, temperature=TEMPERATURE, top_p=TOP_P, top_k=0,
                                    max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
        completions.append(tokenizer.decode(output[0, encoded["input_ids"].shape[1]:], skip_special_tokens=True))
    return completions


def bench_generation(model_name: str, prompt_count: int, batch_size: int, max_new_tokens: int, repeats: int) -> None:
    synthesize = tasks.get("humanevalsynthesize-python")
    documents = synthesize.documents(DATA)[:prompt_count]
    prompts = [synthesize.prompt(document) for document in documents]
    model = load_model(model_name).eval()
    tokenizer = load_tokenizer(model_name)
    tokenizer.padding_side = "left"
    batched = TransformersBackend(model, tokenizer, batch_size=batch_size)
    single = TransformersBackend(model, tokenizer, batch_size=1)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"generation: {model_name} ({parameters / 1e6:.1f}M parameters), {len(prompts)} HumanEvalPack prompts, "
          f"T={TEMPERATURE}, top_p={TOP_P}, up to {max_new_tokens} new tokens, torch threads "
          f"{torch.get_num_threads()}, median of {repeats} runs")
    sampling = {"n": 1, "temperature": TEMPERATURE, "top_p": TOP_P, "max_new_tokens": max_new_tokens}
    stops = {"stop": STOP_SEQUENCES["python"], "stop_when": lambda _, text: function_is_complete("python", text)}

    def first_samples(backend, **extra):
        return lambda: [texts[0] for texts in backend.generate(prompts, **sampling, **extra)]

    cases = [
        ("model.generate, one prompt at a time", lambda: one_at_a_time(model, tokenizer, prompts, max_new_tokens)),
        (f"TransformersBackend, batch {batch_size}", first_samples(batched)),
        ("with stops: one prompt at a time", first_samples(single, **stops)),
        (f"with stops: batch {batch_size}", first_samples(batched, **stops)),
    ]
    # Rounds run every case once, in turn, so that load from other jobs hits all cases alike.
    times: list[list[float]] = [[] for _ in cases]
    outputs: list[list[str]] = [[] for _ in cases]
    for _ in range(repeats):
        for position, (_, function) in enumerate(cases):
            torch.manual_seed(0)
            start = time.perf_counter()
            outputs[position] = function()
            times[position].append(time.perf_counter() - start)
    print(f"  {'':<40} {'tokens':>7} {'seconds':>8} {'tokens/s':>9} {'speed-up':>9}")
    for position, (name, _) in enumerate(cases):
        tokens, seconds = count_tokens(tokenizer, outputs[position]), statistics.median(times[position])
        rate = tokens / seconds
        if position % 2 == 0:
            base_rate = rate
        print(f"  {name:<40} {tokens:>7} {seconds:>8.2f} {rate:>9.1f} {rate / base_rate:>8.2f}x")


def bench_scoring(language: str, samples: int, distinct: int) -> None:
    task = tasks.get(f"humanevalsynthesize-{language}")
    documents = task.documents(DATA)
    comment = "#" if language == "python" else "//"
    generations = []
    for document in documents:
        solutions = [document["prompt"] + document["canonical_solution"], document["prompt"] + document["buggy_solution"]]
        # Program k of a problem: canonical or buggy, made distinct by a trailing comment numbered k mod `distinct`.
        generations.append([f"{solutions[k % 2]}\n{comment} variant {k % distinct}" for k in range(samples)])
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "generations.json"
        path.write_text(json.dumps(generations))
        config = EvalConfig(tasks=[task.name], output_dir=Path(directory) / "out", data_dir=str(DATA),
                            generations={task.name: str(path)})
        start = time.perf_counter()
        results = evaluate(config, progress=False)
        seconds = time.perf_counter() - start
    entry = results["tasks"][task.name]
    total = len(documents) * samples
    print(f"  {language:<7} {len(documents)} x {samples}, {distinct:>2} distinct per problem: "
          f"{entry['details']['programs_executed']:>5} executions, pass@1 {entry['metrics']['pass@1']:.3f}, "
          f"{seconds:7.1f} s ({total / seconds:.1f} samples/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-gptbigcode-m")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--languages", nargs="+", default=["python", "java"])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--skip-scoring", action="store_true")
    parser.add_argument("--skip-generation", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
          f"CUDA {'yes' if torch.cuda.is_available() else 'no'}")
    if not args.skip_generation:
        bench_generation(args.model, args.prompts, args.batch_size, args.max_new_tokens, args.repeats)
    if not args.skip_scoring:
        print(f"scoring saved generations (astraios eval --generations), {os.cpu_count()} sandbox workers:")
        for language in args.languages:
            for distinct in (args.samples, 4):
                bench_scoring(language, args.samples, distinct)


if __name__ == "__main__":
    main()
