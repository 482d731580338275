"""Tiny random-initialised models of the real architectures, for tests, the demo and CPU studies.

`tiny-<family>-{xs,s,m,l}` for every family astraios has default targets for (gptbigcode, llama,
starcoder2, mistral, qwen2, qwen3, gemma, gemma2, phi3, granite) span about two orders of
magnitude in parameters. Weights come from a fixed seed, so `build("tiny-gptbigcode-s")` is the same model on
every machine: an adapter trained on it can be loaded onto a freshly built one. They share a
2,048-token byte-level BPE tokenizer trained on the shipped instruction sample
(`scripts/build_tiny_tokenizer.py`). They have no dropout in the base (Llama has none either), so
runs compare exactly across batch shapes; methods' own dropout (LoRA's) still applies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TOKENIZER_FILE = Path(__file__).parent / "tiny_tokenizer" / "tokenizer.json"
VOCAB_SIZE = 2048
CONTEXT = 2048
EOS = "<|endoftext|>"
INIT_SEED = 1234


def _common(spec: TinySpec) -> dict:
    """What every Llama-style family shares at tiny size: grouped-query attention (half as many key/value
    heads), a gated MLP of 8/3 the width (Llama's ratio), no dropout, one token for BOS/EOS/padding."""
    return {
        "vocab_size": VOCAB_SIZE, "max_position_embeddings": CONTEXT, "hidden_size": spec.width,
        "intermediate_size": (8 * spec.width) // 3, "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads, "num_key_value_heads": max(1, spec.heads // 2),
        "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0,
    }


def _gpt_bigcode(spec: TinySpec) -> dict:
    return {"vocab_size": VOCAB_SIZE, "n_positions": CONTEXT, "n_embd": spec.width, "n_layer": spec.layers,
            "n_head": spec.heads, "n_inner": 4 * spec.width, "multi_query": True, "resid_pdrop": 0.0,
            "embd_pdrop": 0.0, "attn_pdrop": 0.0, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 0}


def _head_dim(spec: TinySpec) -> int:
    return spec.width // spec.heads


# Per family: its transformers model_type and the config of a tiny model of a given shape. Each keeps
# what sets the family apart (biases, norms, fused projections, soft-capping, multipliers) and ties the
# embeddings as the family's small published models do.
FAMILIES: dict[str, tuple[str, Callable[[TinySpec], dict]]] = {
    "gptbigcode": ("gpt_bigcode", _gpt_bigcode),
    "llama": ("llama", lambda spec: {**_common(spec), "tie_word_embeddings": True}),
    "starcoder2": ("starcoder2", lambda spec: {**_common(spec), "intermediate_size": 4 * spec.width,
                                               "use_bias": True, "tie_word_embeddings": True}),
    "mistral": ("mistral", lambda spec: {**_common(spec), "head_dim": _head_dim(spec), "sliding_window": None}),
    "qwen2": ("qwen2", lambda spec: {**_common(spec), "tie_word_embeddings": True}),
    "qwen3": ("qwen3", lambda spec: {**_common(spec), "head_dim": _head_dim(spec), "tie_word_embeddings": True}),
    "gemma": ("gemma", lambda spec: {**_common(spec), "head_dim": _head_dim(spec)}),
    "gemma2": ("gemma2", lambda spec: {**_common(spec), "head_dim": _head_dim(spec),
                                       "query_pre_attn_scalar": _head_dim(spec)}),
    "phi3": ("phi3", _common),
    # Granite 3's multipliers: embeddings x12, residual branches x0.22, attention 1/head_dim, logits / 8.
    "granite": ("granite", lambda spec: {**_common(spec), "tie_word_embeddings": True, "embedding_multiplier": 12.0,
                                         "residual_multiplier": 0.22, "attention_multiplier": 1 / _head_dim(spec),
                                         "logits_scaling": 8.0}),
}


@dataclass(frozen=True)
class TinySpec:
    family: str
    width: int
    layers: int
    heads: int

    @property
    def architecture(self) -> str:
        return FAMILIES[self.family][0]

    def config(self):
        from transformers import AutoConfig

        model_type, settings = FAMILIES[self.family]
        return AutoConfig.for_model(model_type, **settings(self))


_SHAPES = {"xs": (16, 2, 2), "s": (64, 4, 4), "m": (128, 6, 4), "l": (256, 8, 8)}
TINY_MODELS: dict[str, TinySpec] = {
    f"tiny-{family}-{size}": TinySpec(family, *shape) for family in FAMILIES for size, shape in _SHAPES.items()
}


def build(name: str, dtype=None):
    """A tiny model with deterministic random weights (the same on every machine)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = TINY_MODELS[name].config()
    devices = []  # fork the RNG so building a model never shifts the caller's random stream
    with torch.random.fork_rng(devices=devices), _built_whole():
        torch.manual_seed(INIT_SEED)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype or torch.float32)
    model.config.name_or_path = name
    return model


@contextlib.contextmanager
def _built_whole():
    """Build outside DeepSpeed's `zero.Init`, so that the seeded weights are the same under ZeRO-3.

    Under ZeRO-3, accelerate registers the DeepSpeed config with transformers whatever its
    `zero3_init_flag` says, and transformers then builds every model partitioned and initialises its
    weights again module by module: another draw from the seed, another random model (its loss
    differs from one process's before any step). A tiny model needs no partitioning to be built;
    `deepspeed.initialize` partitions it afterwards."""
    from transformers.integrations import deepspeed as hf_deepspeed

    registered = hf_deepspeed._hf_deepspeed_config_weak_ref  # None unless DeepSpeed registered a config
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = registered


def tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(TOKENIZER_FILE),
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        model_max_length=CONTEXT,
    )
