"""Generation backends behind one interface (`astraios.generate.base.Backend`), and the cache.

    backend = create_backend("transformers", resolve("tiny-gptbigcode-s"), batch_size=16)
    backend.generate(["def add(a, b):"], n=2, temperature=0.2, max_new_tokens=32, stop=["\\ndef"])
    backend.loglikelihood([("Is 2 even? Answer:", " YES")])

Backends: `transformers` (local model, CPU or GPU), `openai` (an OpenAI-compatible completions
server), `vllm` (in-process vLLM on a GPU; optional extra). Heavy libraries load only when a
backend is created.
"""

from __future__ import annotations

from collections.abc import Callable

from astraios.generate.base import Backend, Sampling, cut_at_stop
from astraios.generate.cache import GenerationCache, Request, cached_generate
from astraios.generate.source import ModelSource, resolve

BACKENDS = ("transformers", "openai", "vllm")


def create_backend(
    name: str,
    source: ModelSource,
    *,
    batch_size: int | str = 16,
    dtype: str = "auto",
    device: str = "auto",
    base_url: str | None = None,
    concurrency: int = 8,
    tensor_parallel_size: int = 1,
    seed: int = 0,
    announce: Callable[[str], None] = print,
) -> Backend:
    """Load `source` into the named backend (for `openai`, `source.model` is the served model's name).
    `batch_size` (transformers): rows decoded at once, or `auto` (astraios.generate.batch_size), whose
    choice is one line to `announce`."""
    if name == "transformers":
        from astraios.generate.huggingface import TransformersBackend

        return TransformersBackend.load(source, batch_size=batch_size, dtype=dtype, device=device, announce=announce)
    if name == "openai":
        from astraios.generate.openai_api import OpenAIBackend

        if source.adapter is not None:
            raise ValueError("--backend openai sends prompts to a server, which applies its own adapters; drop "
                             "--adapter and pass the served model (or LoRA module) name as --model.")
        return OpenAIBackend(source.model, base_url, concurrency=concurrency)
    if name == "vllm":
        from astraios.generate.vllm_offline import VLLMBackend

        return VLLMBackend(source, dtype=dtype, tensor_parallel_size=tensor_parallel_size, seed=seed)
    raise ValueError(f"--backend {name}: unknown backend; choose one of {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS",
    "Backend",
    "GenerationCache",
    "ModelSource",
    "Request",
    "Sampling",
    "cached_generate",
    "create_backend",
    "cut_at_stop",
    "resolve",
]
