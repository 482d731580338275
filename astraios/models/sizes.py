"""The real StarCoderBase family, known by name so parameter accounting needs no download.

Values are those of each model's `config.json` on the Hub (GPTBigCode, multi-query attention,
4x MLP, vocabulary 49,152, context 8,192). `meta_model` builds them on the meta device: the
shapes are real, no memory is allocated and no weights are read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StarCoderSize:
    hub_id: str
    n_embd: int
    n_layer: int
    n_head: int

    def config(self):
        from transformers import GPTBigCodeConfig

        return GPTBigCodeConfig(
            vocab_size=49152,
            n_positions=8192,
            n_embd=self.n_embd,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_inner=4 * self.n_embd,
            multi_query=True,
            activation_function="gelu_pytorch_tanh",
            bos_token_id=0,
            eos_token_id=0,
        )


STARCODER_SIZES: dict[str, StarCoderSize] = {
    "starcoderbase-1b": StarCoderSize("bigcode/starcoderbase-1b", n_embd=2048, n_layer=24, n_head=16),
    "starcoderbase-3b": StarCoderSize("bigcode/starcoderbase-3b", n_embd=2816, n_layer=36, n_head=22),
    "starcoderbase-7b": StarCoderSize("bigcode/starcoderbase-7b", n_embd=4096, n_layer=42, n_head=32),
    "starcoderbase": StarCoderSize("bigcode/starcoderbase", n_embd=6144, n_layer=40, n_head=48),
}
# The study calls the 15.5B model "15B" or "16B".
STARCODER_SIZES["starcoderbase-15b"] = STARCODER_SIZES["starcoderbase"]
