"""Tiny random-initialised models of the real architectures, for tests, the demo and CPU studies.

`tiny-gptbigcode-{xs,s,m,l}` and `tiny-llama-{xs,s,m,l}` span about two orders of magnitude in
parameters. Weights come from a fixed seed, so `build("tiny-gptbigcode-s")` is the same model on
every machine: an adapter trained on it can be loaded onto a freshly built one. They share a
2,048-token byte-level BPE tokenizer trained on the shipped instruction sample
(`scripts/build_tiny_tokenizer.py`). They have no dropout in the base (Llama has none either), so
runs compare exactly across batch shapes; methods' own dropout (LoRA's) still applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TOKENIZER_FILE = Path(__file__).parent / "tiny_tokenizer" / "tokenizer.json"
VOCAB_SIZE = 2048
CONTEXT = 2048
EOS = "<|endoftext|>"
INIT_SEED = 1234


@dataclass(frozen=True)
class TinySpec:
    architecture: str
    width: int
    layers: int
    heads: int

    def config(self):
        from transformers import GPTBigCodeConfig, LlamaConfig

        if self.architecture == "gpt_bigcode":
            return GPTBigCodeConfig(
                vocab_size=VOCAB_SIZE,
                n_positions=CONTEXT,
                n_embd=self.width,
                n_layer=self.layers,
                n_head=self.heads,
                n_inner=4 * self.width,
                multi_query=True,
                resid_pdrop=0.0,
                embd_pdrop=0.0,
                attn_pdrop=0.0,
                bos_token_id=0,
                eos_token_id=0,
                pad_token_id=0,
            )
        return LlamaConfig(
            vocab_size=VOCAB_SIZE,
            max_position_embeddings=CONTEXT,
            hidden_size=self.width,
            intermediate_size=(8 * self.width) // 3,
            num_hidden_layers=self.layers,
            num_attention_heads=self.heads,
            num_key_value_heads=max(1, self.heads // 2),
            tie_word_embeddings=True,
            bos_token_id=0,
            eos_token_id=0,
            pad_token_id=0,
        )


_SHAPES = {"xs": (16, 2, 2), "s": (64, 4, 4), "m": (128, 6, 4), "l": (256, 8, 8)}
TINY_MODELS: dict[str, TinySpec] = {
    f"tiny-{arch_name}-{size}": TinySpec(arch, *shape)
    for arch_name, arch in (("gptbigcode", "gpt_bigcode"), ("llama", "llama"))
    for size, shape in _SHAPES.items()
}


def build(name: str, dtype=None):
    """A tiny model with deterministic random weights (the same on every machine)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = TINY_MODELS[name].config()
    devices = []  # fork the RNG so building a model never shifts the caller's random stream
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(INIT_SEED)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype or torch.float32)
    model.config.name_or_path = name
    return model


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
