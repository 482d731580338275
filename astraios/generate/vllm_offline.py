"""vLLM in-process ("offline") backend, for GPUs: `pip install 'astraios[vllm]'`.

vLLM schedules all rows itself (continuous batching, paged KV cache), so the evaluation loop hands
it large calls. Adapters: LoRA runs through vLLM's own LoRA support (`LoRARequest`, no merge);
(IA)3 is merged into the base with transformers once and the merged model is cached under
`~/.cache/astraios/merged/<fingerprint>`; full fine-tuning loads its directory as the model.
P-Tuning and bottleneck adapters have no vLLM implementation: the error says to use the
transformers backend, instead of silently evaluating the bare base model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from astraios.generate.base import StopWhen, cut_at_stop
from astraios.generate.source import PEFT_CONFIG, ModelSource
from astraios.io import read_json

MERGED_CACHE = Path.home() / ".cache" / "astraios" / "merged"
LORA_RANKS = (8, 16, 32, 64, 128, 256)


class VLLMBackend:
    name = "vllm"

    def __init__(self, source: ModelSource, *, dtype: str = "auto", tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, seed: int = 0):
        try:
            from vllm import LLM
        except ImportError:
            raise ValueError("--backend vllm needs vLLM and a CUDA GPU: pip install 'astraios[vllm]'. Fix: install "
                             "it, or use --backend transformers.") from None
        self.source = source
        self.rows_per_call = 4096
        model, self.lora_request, self.adapter_mode = _plan(source)
        self.llm = LLM(model=model, dtype=dtype, revision=source.revision, trust_remote_code=source.trust_remote_code,
                       tensor_parallel_size=tensor_parallel_size, gpu_memory_utilization=gpu_memory_utilization,
                       seed=seed, enable_lora=self.lora_request is not None,
                       max_lora_rank=_lora_rank(source) if self.lora_request is not None else 16)
        self.tokenizer = self.llm.get_tokenizer()

    def describe(self) -> dict:
        return {"backend": self.name, **self.source.describe(), "adapter_mode": self.adapter_mode}

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 0.2,
        top_p: float = 0.95,
        max_new_tokens: int = 512,
        stop: Sequence[str] = (),
        stop_when: StopWhen | None = None,  # noqa: ARG002 (vLLM stops on strings only)
        seeds: Sequence[Sequence[int]] | None = None,
    ) -> list[list[str]]:
        from vllm import SamplingParams

        greedy = temperature == 0
        stop = [sequence for sequence in stop if sequence]
        settings = {"temperature": temperature, "top_p": 1.0 if greedy else top_p, "max_tokens": max_new_tokens,
                    "stop": stop or None}
        if greedy or seeds is None:
            params = SamplingParams(n=1 if greedy else n, **settings)
            outputs = self.llm.generate(list(prompts), params, lora_request=self.lora_request, use_tqdm=False)
            texts = [[cut_at_stop(completion.text, stop) for completion in output.outputs] for output in outputs]
            return [samples * n if greedy else samples for samples in texts]
        # One request per sample with its own seed (vLLM's prefix cache reads each prompt once).
        flat = [(prompt, SamplingParams(n=1, seed=seed, **settings)) for prompt, row in zip(prompts, seeds) for seed in row]
        outputs = self.llm.generate([prompt for prompt, _ in flat], [params for _, params in flat],
                                    lora_request=self.lora_request, use_tqdm=False)
        texts = [cut_at_stop(output.outputs[0].text, stop) for output in outputs]
        return [texts[i * n:(i + 1) * n] for i in range(len(prompts))]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """Prompt log-probabilities of context + continuation (one scoring pass, no new tokens)."""
        from vllm import SamplingParams

        prompts, boundaries = [], []
        for context, continuation in requests:
            context_ids = self.tokenizer(context)["input_ids"] if context else [self.tokenizer.eos_token_id]
            continuation_ids = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
            prompts.append({"prompt_token_ids": context_ids + continuation_ids})
            boundaries.append(len(context_ids))
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = self.llm.generate(prompts, params, lora_request=self.lora_request, use_tqdm=False)
        scores = []
        for output, prompt, boundary in zip(outputs, prompts, boundaries):
            ids = prompt["prompt_token_ids"]
            scores.append(float(sum(output.prompt_logprobs[position][ids[position]].logprob
                                    for position in range(boundary, len(ids)))))
        return scores


def _plan(source: ModelSource):
    """(model path for vLLM, LoRA request or None, description of how the adapter is applied)."""
    if source.adapter is None:
        return source.model, None, "none" if source.method != "full" else "full fine-tuning (loaded as the model)"
    peft_type = _peft_type(source)
    if peft_type == "LORA":
        from vllm.lora.request import LoRARequest

        return source.model, LoRARequest("adapter", 1, source.adapter), "vLLM LoRA"
    if peft_type == "IA3":
        return str(_merged_copy(source)), None, "(IA)3 merged with transformers"
    raise ValueError(f"{source.adapter}: vLLM cannot run {source.method or peft_type} adapters (only LoRA and merged "
                     f"(IA)3). Fix: use --backend transformers for this model.")


def _peft_type(source: ModelSource) -> str | None:
    return (read_json(Path(source.adapter) / PEFT_CONFIG) or {}).get("peft_type")


def _lora_rank(source: ModelSource) -> int:
    rank = json.loads((Path(source.adapter) / PEFT_CONFIG).read_text()).get("r", 8)
    return next(allowed for allowed in LORA_RANKS if allowed >= rank)


def _merged_copy(source: ModelSource) -> Path:
    """The base with the adapter merged in, saved once per adapter fingerprint."""
    from astraios.generate.huggingface import load_model_for_inference
    from astraios.io import replace_dir

    target = MERGED_CACHE / str(source.fingerprint)
    if (target / "config.json").is_file():
        return target
    model, tokenizer, info = load_model_for_inference(source, dtype="auto", device="cpu")
    if not info.get("adapter_merged"):
        raise ValueError(f"{source.adapter}: {info.get('adapter_merge_note')}. Fix: use --backend transformers.")
    staging = target.with_name(f".{target.name}.tmp")
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    replace_dir(staging, target)
    return target

