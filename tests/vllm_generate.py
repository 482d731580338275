"""Generate with astraios' vLLM backend in a process of its own (vLLM's engine processes need the
`__main__` guard, which a pytest process does not have): `python tests/vllm_generate.py SPEC OUT`.

SPEC is a JSON file: the model (as `astraios eval --model` takes it), prompts, a stop sequence and a
generation cache directory; OUT gets, as JSON, the greedy tokens and completions (with and without the stop),
n samples per prompt, what the cached evaluation generated, and the backend's description.
"""

from __future__ import annotations

import json
import os
import sys


def main(spec_path: str, out_path: str) -> None:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache on a CPU
    from astraios.generate import GenerationCache, Request, Sampling, cached_generate, create_backend, resolve

    spec = json.loads(open(spec_path).read())
    source = resolve(spec["model"])
    backend = create_backend("vllm", source, dtype="float32", seed=0)
    prompts, new_tokens = spec["prompts"], spec["max_new_tokens"]
    # The greedy tokens themselves, from vLLM's engine as the backend set it up (adapter or merged model).
    from vllm import SamplingParams

    outputs = backend.llm.generate(prompts, SamplingParams(temperature=0, max_tokens=new_tokens),
                                   lora_request=backend.lora_request, use_tqdm=False)
    result = {
        "describe": backend.describe(),
        "greedy_token_ids": [list(output.outputs[0].token_ids) for output in outputs],
        "greedy": [row[0] for row in backend.generate(prompts, temperature=0, max_new_tokens=new_tokens)],
        "stopped": [row[0] for row in backend.generate(prompts, temperature=0, max_new_tokens=new_tokens,
                                                       stop=[spec["stop"]])],
        "sampled": backend.generate(prompts, n=spec["n"], temperature=0.8, max_new_tokens=new_tokens,
                                    seeds=[[index * 100 + sample for sample in range(spec["n"])]
                                           for index in range(len(prompts))]),
    }
    generated = []
    original = backend.generate

    def counting(call_prompts, **settings):
        generated.extend(call_prompts)
        return original(call_prompts, **settings)

    backend.generate = counting
    requests = [Request(index, f"doc-{index}", prompt, 0) for index, prompt in enumerate(prompts)]
    result["cached"] = cached_generate(backend, GenerationCache(spec["cache_dir"], source.identity()), "task",
                                       requests, Sampling(n=1, temperature=0, max_new_tokens=new_tokens), [])
    result["cache_generated"] = generated
    with open(out_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(*sys.argv[1:3])
