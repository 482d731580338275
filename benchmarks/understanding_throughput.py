"""Code understanding throughput: examples/s of the two scoring modes of `devign`, same run, same
model, same prompts.

- loglik (the default): YES vs NO log-likelihoods, six answer variants read off one forward pass
  over each prompt (`TransformersBackend.loglikelihood_choices`);
- loglik, pair by pair: the same scores through `loglikelihood`, one pass per (prompt, variant), to
  show what reading the prompt once buys;
- generate (the study's way): greedy, at most 16 new tokens, stop at a newline. A random tiny
  model never writes the newline, so every row decodes all 16 tokens; a tuned model that answers
  "Yes" and stops is faster, so treat this as generation's slow end.

Prompts are real Devign functions (every record of the shared sample files, repeated to
--examples), fitted to the model's context as in an evaluation. Each figure is the median of
--repeats runs with a fresh cache; the modes take turns within each repeat, so a shared machine's
changing load falls on all of them alike.

    python benchmarks/understanding_throughput.py [--model tiny-gptbigcode-m] [--examples 64]
        [--batch-size 8] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time

import torch
from _data import DATA

from astraios import tasks
from astraios.generate import GenerationCache, Sampling
from astraios.generate.base import loglikelihood_pairwise
from astraios.generate.huggingface import TransformersBackend
from astraios.models import load_model, load_tokenizer
from astraios.tasks.codexglue import ANSWER_TOKENS, PromptFitter
from astraios.tasks.data import read_jsonl


class PairwiseBackend(TransformersBackend):
    """The transformers backend without its one-pass method: every answer variant is its own pass."""

    def loglikelihood_choices(self, requests):
        return loglikelihood_pairwise(self, requests)


def devign_documents(count: int) -> list[dict]:
    records = [record for name in ("sample_test", "sample_valid", "sample_train")
               for record in read_jsonl(DATA / "devign" / f"{name}.jsonl")]
    if not records:
        raise SystemExit(f"no Devign sample under {DATA / 'devign'}; set ASTRAIOS_DATA_DIR")
    return [{"doc_id": f"{i}", "index": i, "func": records[i % len(records)]["func"],
             "label": records[i % len(records)]["target"]} for i in range(count)]


def seconds_per_run(backend, scoring: str, documents: list[dict]) -> float:
    task = tasks.get("devign", scoring=scoring)
    with tempfile.TemporaryDirectory() as cache_dir:
        started = time.perf_counter()
        task.predict(backend, documents, Sampling(n=1, temperature=0.0), GenerationCache(cache_dir, {"run": "bench"}))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny-gptbigcode-m")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_model(args.model), load_tokenizer(args.model)
    tokenizer.padding_side = "left"
    generate_name = f"generate (greedy, {ANSWER_TOKENS} tokens)"
    backends = {
        "loglik (one pass per example)": (TransformersBackend(model, tokenizer, batch_size=args.batch_size), "loglik"),
        "loglik (one pass per answer variant)": (PairwiseBackend(model, tokenizer, batch_size=args.batch_size),
                                                 "loglik"),
        generate_name: (TransformersBackend(model, tokenizer, batch_size=args.batch_size), "generate"),
    }
    documents = devign_documents(args.examples)
    fitted = PromptFitter(tokenizer, backends[generate_name][0].context, ANSWER_TOKENS)
    task = tasks.get("devign")
    tokens = [fitted.length(fitted.fit(task.render, task.codes(document))[0]) for document in documents]
    seconds_per_run(backends["loglik (one pass per example)"][0], "loglik", documents[:args.batch_size])  # warm-up
    print(f"{args.model}, {args.examples} Devign prompts (mean {statistics.mean(tokens):.0f} tokens after fitting), "
          f"batch {args.batch_size}, median of {args.repeats}; {platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}")
    runs: dict[str, list[float]] = {label: [] for label in backends}
    for repeat in range(args.repeats):
        order = list(backends)[repeat % len(backends):] + list(backends)[:repeat % len(backends)]
        for label in order:
            backend, scoring = backends[label]
            runs[label].append(seconds_per_run(backend, scoring, documents))
    rates = {}
    for label, seconds in runs.items():
        rates[label] = args.examples / statistics.median(seconds)
        print(f"{label:40s} {rates[label]:8.2f} examples/s   runs: {', '.join(f'{s:.2f}s' for s in seconds)}")
    one_pass, pairwise, generate = rates.values()
    print(f"loglik / generate: {one_pass / generate:.2f}x; one pass / pair by pair: {one_pass / pairwise:.2f}x")


if __name__ == "__main__":
    main()
