"""Generation throughput against named baselines, measured in the same run on the same machine.

Real evaluations: HumanEvalPack synthesis prompts, the study's sampling (T=0.2, top_p 0.95, no
top-k), n samples per prompt (20, as the study), its stop sequences. Each way produces the same
n x prompts samples; the figure is samples per second (and kept tokens per second: the tokens of
the text each way keeps, re-tokenised, after cutting at a stop sequence):

- one sample at a time: `model.generate` per sample, stopping at a stop sequence or once the
  function is complete (the early exit astraios uses);
- the bigcode-evaluation-harness way: one prompt per batch with `num_return_sequences = n`,
  transformers' temperature and top-p warpers, and a stopping criterion that ends the batch once
  every row holds a stop sequence (the harness's `EndOfFunctionCriteria`);
- the same with astraios' sampling processor, to separate batching from sampling cost;
- astraios' `TransformersBackend`: continuous batching of `--batch-size` rows, one prefill per
  prompt, per-row stops and early exit, per-sample seeds.

Ways run in turn within every round (interleaved repeats), so load from other jobs falls on all
alike; the table gives the median per way and the ratio to each baseline. Also the old no-stop
case (n=1): `model.generate` one prompt at a time vs the backend.

    python benchmarks/generation_throughput.py [--model tiny-gptbigcode-m] [--prompts 8] [--samples 20]
        [--batch-size 16] [--max-new-tokens 256] [--repeats 3] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from _data import DATA, require_data
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from astraios import tasks
from astraios.generate import cut_at_stop
from astraios.generate.decoding import nucleus
from astraios.generate.huggingface import TransformersBackend
from astraios.models import load_model, load_tokenizer
from astraios.tasks.humanevalpack import STOP_SEQUENCES, function_is_complete

TEMPERATURE, TOP_P = 0.2, 0.95
STOPS = STOP_SEQUENCES["python"]


class AllRowsStopped(StoppingCriteria):
    """bigcode-evaluation-harness's EndOfFunctionCriteria: the batch ends once every row's new text
    holds a stop sequence; rows that stopped earlier keep decoding until then."""

    def __init__(self, tokenizer, start: int):
        self.tokenizer, self.start = tokenizer, start

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tokenizer.batch_decode(input_ids[:, self.start:])
        done = all(any(stop in text for stop in STOPS) for text in texts)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class RowStopped(StoppingCriteria):
    """One row: a stop sequence, or the function is complete (astraios' early exit)."""

    def __init__(self, tokenizer, start: int):
        self.tokenizer, self.start = tokenizer, start

    def __call__(self, input_ids, scores, **kwargs):
        text = self.tokenizer.decode(input_ids[0, self.start:], skip_special_tokens=True)
        done = any(stop in text for stop in STOPS) or function_is_complete("python", text)
        return torch.tensor([done], device=input_ids.device)


class NucleusProcessor(LogitsProcessor):
    """astraios' temperature + top-p (`decoding.nucleus`) as a logits processor for `generate`."""

    def __call__(self, input_ids, scores):
        kept, order = nucleus(scores.float(), TEMPERATURE, TOP_P)
        filtered = torch.full_like(scores, float("-inf"))
        return filtered.scatter(-1, order, torch.where(kept > 0, kept.log(), float("-inf")).to(scores.dtype))


def sampled(model, tokenizer, ids: list[int], rows: int, max_new_tokens: int, criteria, processor=None) -> list[str]:
    encoded = torch.tensor([ids])
    warping = ({"temperature": 1.0, "top_p": 1.0, "logits_processor": LogitsProcessorList([processor])} if processor
               else {"temperature": TEMPERATURE, "top_p": TOP_P})
    with torch.inference_mode():
        output = model.generate(input_ids=encoded, attention_mask=torch.ones_like(encoded), do_sample=True, top_k=0,
                                num_return_sequences=rows, max_new_tokens=max_new_tokens,
                                pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                                stopping_criteria=StoppingCriteriaList([criteria(tokenizer, len(ids))] if criteria else []),
                                **warping)
    return [cut_at_stop(text, STOPS) for text in tokenizer.batch_decode(output[:, len(ids):], skip_special_tokens=True)]


def bench_with_stops(model, tokenizer, prompts: list[str], samples: int, batch_size: int, max_new_tokens: int,
                     repeats: int) -> None:
    ids = [tokenizer(prompt)["input_ids"] for prompt in prompts]
    backend = TransformersBackend(model, tokenizer, batch_size=batch_size)
    stop_when = lambda index, text: function_is_complete("python", text)  # noqa: E731

    ways = {
        "one sample at a time (`model.generate`, per-row stop + early exit)":
            lambda: [text for row in ids for _ in range(samples)
                     for text in sampled(model, tokenizer, row, 1, max_new_tokens, RowStopped)],
        f"harness way: one prompt per batch, num_return_sequences={samples}, stop when all rows stopped":
            lambda: [text for row in ids for text in sampled(model, tokenizer, row, samples, max_new_tokens, AllRowsStopped)],
        "harness way with astraios' sampling processor":
            lambda: [text for row in ids for text in sampled(model, tokenizer, row, samples, max_new_tokens,
                                                             AllRowsStopped, NucleusProcessor())],
        f"astraios TransformersBackend (continuous batching, batch {batch_size})":
            lambda: [text for texts in backend.generate(prompts, n=samples, temperature=TEMPERATURE, top_p=TOP_P,
                                                        max_new_tokens=max_new_tokens, stop=STOPS, stop_when=stop_when)
                     for text in texts],
    }
    times, kept = run_rounds(ways, repeats)
    total = len(prompts) * samples
    print(f"\nwith HumanEvalPack stops: {len(prompts)} prompts x {samples} samples, up to {max_new_tokens} new tokens, "
          f"median of {repeats} interleaved rounds")
    names = list(ways)
    print("| way | seconds | samples/s | kept tokens/s | vs one at a time | vs harness way |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        seconds = times[name]
        tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in kept[name])
        print(f"| {name} | {seconds:.2f} | {total / seconds:.1f} | {tokens / seconds:.0f} | "
              f"{times[names[0]] / seconds:.2f}x | {times[names[1]] / seconds:.2f}x |")


def bench_without_stops(model, tokenizer, prompts: list[str], batch_size: int, max_new_tokens: int, repeats: int) -> None:
    backend = TransformersBackend(model, tokenizer, batch_size=batch_size)
    ways = {
        "`model.generate`, one prompt at a time": lambda: [text for prompt in prompts for text in sampled(
            model, tokenizer, tokenizer(prompt)["input_ids"], 1, max_new_tokens, None)],
        f"astraios TransformersBackend, batch {batch_size}": lambda: [texts[0] for texts in backend.generate(
            prompts, n=1, temperature=TEMPERATURE, top_p=TOP_P, max_new_tokens=max_new_tokens)],
    }
    times, kept = run_rounds(ways, repeats)
    print(f"\nwithout stops: {len(prompts)} prompts x 1 sample, {max_new_tokens} new tokens")
    print("| way | seconds | tokens/s | speed-up |\n|---|---:|---:|---:|")
    base = None
    for name in ways:
        tokens = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in kept[name])
        rate = tokens / times[name]
        base = base or rate
        print(f"| {name} | {times[name]:.2f} | {rate:.0f} | {rate / base:.2f}x |")


def run_rounds(ways: dict, repeats: int) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Every way once per round, in turn; the median seconds per way and its last output."""
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    kept: dict[str, list[str]] = {}
    for _ in range(repeats):
        for name, function in ways.items():
            torch.manual_seed(0)
            start = time.perf_counter()
            kept[name] = function()
            seconds[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in seconds.items()}, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-gptbigcode-m")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is steadiest on a shared CPU)")
    parser.add_argument("--quick", action="store_true", help="4 prompts, 128 new tokens, one round: a smoke run")
    args = parser.parse_args()
    require_data()
    if args.quick:
        args.prompts, args.max_new_tokens, args.repeats = 4, 128, 1
    torch.set_num_threads(args.threads)
    synthesize = tasks.get("humanevalsynthesize-python")
    prompts = [synthesize.prompt(document) for document in synthesize.documents(DATA)[:args.prompts]]
    model = load_model(args.model).eval()
    tokenizer = load_tokenizer(args.model)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, load {os.getloadavg()[0]:.1f}, "
          f"CUDA {'yes' if torch.cuda.is_available() else 'no'}; {args.model} ({parameters / 1e6:.1f}M parameters), "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), T={TEMPERATURE}, top_p={TOP_P}")
    bench_with_stops(model, tokenizer, prompts, args.samples, args.batch_size, args.max_new_tokens, args.repeats)
    bench_without_stops(model, tokenizer, prompts, args.batch_size, args.max_new_tokens, args.repeats)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
