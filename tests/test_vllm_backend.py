"""The vLLM backend never scores the base model in place of a tuned one.

vLLM skips a LoRA module it cannot wrap with only a log line (GPTBigCode's fused `c_attn`, which the
study's LoRA adapts). The backend starts vLLM with LoRA restricted to the adapter's own modules, so
vLLM refuses instead, and then serves the adapter merged into the base. Checked here with a stand-in
engine (default suite), and for real under vLLM's CPU build (`accelerated`, `make test-accelerated`;
on a GPU the CUDA build runs the same tests): on tiny GPTBigCode and Llama models with LoRA on the
study's targets, greedy completions equal the transformers backend's, stop sequences end them, n
samples come per prompt, and one generation cache serves both backends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from astraios.generate import GenerationCache, Request, Sampling, cached_generate, create_backend, resolve
from astraios.generate import vllm_offline
from astraios.models import load_tokenizer
from conftest import REPO
from saved_methods import lively, save_method

PROMPTS = ["def fibonacci(n):", "Question: sort a list in Python\n\nAnswer:", "import os\nfor", "class Stack:"]
NEW_TOKENS = 12
SAMPLES = 3


def _lora_run(directory: Path, base: str) -> Path:
    """A lively tiny base saved to disk and a LoRA on it (the study's targets), as training saves them."""
    base_dir = directory / "base"
    lively(base).save_pretrained(str(base_dir))
    load_tokenizer(base).save_pretrained(str(base_dir))
    return save_method(directory / "lora", "lora", base=str(base_dir))


def test_adapter_modules_are_read_from_the_weights(tmp_path):
    adapter = save_method(tmp_path / "lora", "lora", base="tiny-llama-xs")
    assert vllm_offline.adapter_modules(str(adapter)) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


def test_an_adapter_vllm_refuses_is_served_merged(tmp_path, monkeypatch):
    """A stand-in engine that refuses LoRA on `c_attn`, as vLLM does: the merged model is served, and said."""
    adapter = save_method(tmp_path / "lora", "lora", base="tiny-gptbigcode-xs")
    started = []

    def engine(model, settings):
        started.append((model, settings))
        if settings.get("enable_lora") and "c_attn" in settings["lora_target_modules"]:
            raise ValueError("LoRA target module model.h.0.attn.c_attn (QKVParallelLinear) could not be wrapped")
        return types.SimpleNamespace(get_tokenizer=lambda: None)

    for name, attributes in (("vllm", {"SamplingParams": dict}), ("vllm.lora", {}),
                             ("vllm.lora.request", {"LoRARequest": lambda *args: args})):
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attributes))
    monkeypatch.setattr(vllm_offline, "_engine", engine)
    monkeypatch.setenv("ASTRAIOS_CACHE_DIR", str(tmp_path))
    backend = vllm_offline.VLLMBackend(resolve("tiny-gptbigcode-xs", str(adapter)))
    assert started[0][1]["lora_target_modules"] == ["c_attn", "c_proj"]
    merged = Path(started[1][0])
    assert merged.parent == tmp_path / "merged" and (merged / "config.json").is_file()
    assert "enable_lora" not in started[1][1] and backend.lora_request is None
    assert backend.describe()["adapter_mode"].startswith("LoRA merged with transformers")


# ----------------------------------------------------------------------------------------------
# Under vLLM (the CPU build here)


@pytest.fixture(scope="module", params=["tiny-gptbigcode-m", "tiny-llama-m"])  # head size 32: vLLM's CPU kernels
def served(request, tmp_path_factory):
    """(LoRA directory, stop sequence, cache directory, what vLLM generated) for one architecture."""
    pytest.importorskip("vllm", reason="vLLM runs in .venv-accel (make test-accelerated)")
    directory = tmp_path_factory.mktemp(request.param)
    adapter = _lora_run(directory, request.param)
    reference = _transformers(adapter)
    greedy = [row[0] for row in reference.generate(PROMPTS, temperature=0, max_new_tokens=NEW_TOKENS)]
    stop = greedy[0][3:5]  # a sequence the completion holds, so that it ends there
    cache = directory / "cache"
    # The transformers backend caches the first two prompts; vLLM must take them from the cache.
    _cached(reference, adapter, cache, PROMPTS[:2])
    spec = directory / "spec.json"
    spec.write_text(json.dumps({"model": str(adapter), "prompts": PROMPTS, "max_new_tokens": NEW_TOKENS,
                                "stop": stop, "n": SAMPLES, "cache_dir": str(cache)}))
    out = directory / "out.json"
    finished = subprocess.run([sys.executable, str(REPO / "tests" / "vllm_generate.py"), str(spec), str(out)],
                              capture_output=True, text=True, timeout=1500)
    assert finished.returncode == 0, finished.stderr[-4000:]
    return adapter, stop, cache, json.loads(out.read_text()), request.param


def _peft_greedy(adapter: Path) -> tuple[list[list[int]], object]:
    """The reference: greedy tokens from transformers' `generate` on the base with peft's LoRA (not merged), one
    prompt at a time (no padding), up to the end-of-text token (vLLM ends there too)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = adapter.parent / "base"
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32), str(adapter))
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    tokens = []
    for prompt in PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            output = model.generate(**ids, do_sample=False, max_new_tokens=NEW_TOKENS,
                                    pad_token_id=tokenizer.pad_token_id)
        new = output[0, ids["input_ids"].shape[1]:].tolist()
        tokens.append(new[:new.index(tokenizer.eos_token_id) + 1] if tokenizer.eos_token_id in new else new)
    return tokens, tokenizer


def _vllm_text(ids: list[int], tokenizer) -> str:
    """The text vLLM gives for these tokens: the decoding of the longest prefix of them that does not end
    inside a character (a trailing token can hold a whole character and the first byte of the next)."""
    for end in range(len(ids), -1, -1):
        text = tokenizer.decode(ids[:end], skip_special_tokens=True)
        if not text.endswith("\ufffd"):
            return text
    return ""


def _transformers(adapter: Path):
    return create_backend("transformers", resolve(str(adapter)), batch_size=4, dtype="float32")


def _cached(backend, adapter: Path, cache: Path, prompts: list[str]) -> list[str]:
    requests = [Request(index, f"doc-{index}", prompt, 0) for index, prompt in enumerate(prompts)]
    return cached_generate(backend, GenerationCache(cache, resolve(str(adapter)).identity()), "task", requests,
                           Sampling(n=1, temperature=0, max_new_tokens=NEW_TOKENS), [])


@pytest.mark.accelerated
@pytest.mark.timeout(1800)
def test_vllm_greedy_equals_transformers_with_the_adapter_applied(served):
    adapter, _, _, result, architecture = served
    tokens, tokenizer = _peft_greedy(adapter)
    assert result["greedy_token_ids"] == tokens  # the very tokens, so no difference hides in the decoding
    expected = [tokenizer.decode(ids, skip_special_tokens=True) for ids in tokens]
    reference = _transformers(adapter)
    assert [row[0] for row in reference.generate(PROMPTS, temperature=0, max_new_tokens=NEW_TOKENS)] == expected
    # The same tokens, decoded: vLLM's text leaves out the trailing tokens whose UTF-8 bytes end inside a
    # character (it waits for the rest), which the tokenizer decodes as U+FFFD; nothing else may differ.
    for text, ids in zip(result["greedy"], tokens):
        assert text == _vllm_text(ids, tokenizer), (text, tokenizer.decode(ids, skip_special_tokens=True))
    # The adapter changes the completions, so equal completions mean it was applied.
    base = create_backend("transformers", resolve(str(adapter.parent / "base")), batch_size=4, dtype="float32")
    assert [row[0] for row in base.generate(PROMPTS, temperature=0, max_new_tokens=NEW_TOKENS)] != expected
    mode = result["describe"]["adapter_mode"]
    if architecture.startswith("tiny-gptbigcode"):  # c_attn: vLLM cannot wrap it, so the merged model is served
        assert mode.startswith("LoRA merged with transformers") and "c_attn" in mode
    else:
        assert mode == "vLLM LoRA"


@pytest.mark.accelerated
@pytest.mark.timeout(1800)
def test_vllm_honours_stops_and_samples_n_per_prompt(served):
    _, stop, _, result, _ = served
    assert all(stop not in text for text in result["stopped"])
    assert result["stopped"] == [text.split(stop)[0] for text in result["greedy"]]  # cut at the stop, as greedy
    assert result["stopped"][0] != result["greedy"][0]  # the first completion holds the stop: it was cut
    assert [len(row) for row in result["sampled"]] == [SAMPLES] * len(PROMPTS)
    assert any(len(set(row)) > 1 for row in result["sampled"])


@pytest.mark.accelerated
@pytest.mark.timeout(1800)
def test_one_generation_cache_serves_both_backends(served):
    adapter, _, cache, result, _ = served
    assert result["cache_generated"] == PROMPTS[2:]  # the first two came from the transformers backend's cache
    assert result["cached"][2:] == result["greedy"][2:]

    class Refusing:  # every completion must now come from the cache vLLM and transformers filled
        rows_per_call = 8

        def generate(self, *args, **kwargs):
            raise AssertionError("generated again")

    assert _cached(Refusing(), adapter, cache, PROMPTS) == result["cached"]
