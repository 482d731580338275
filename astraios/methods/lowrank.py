"""Weight updates other than LoRA's B·A, each a registry entry on its peft config (defaults: peft's,
which are the papers'). They adapt LoRA's default targets (`astraios.methods.targets`) and merge
into the base like LoRA (`astraios export`).

- `vera`: VeRA (Kopiczko et al., 2024, arXiv 2310.11454): one pair of frozen random matrices
  shared by every adapted layer (drawn from `projection_seed`, saved with the adapter), and per
  layer two trainable scaling vectors, d (length r, starting at `d_initial`) and b (one value per
  output feature, starting at zero). r 256; trainable per layer: r + output features.
- `loha`: LoHa (Hyeon-Woo et al., 2022, FedPara, arXiv 2108.06098; LyCORIS): the update is the
  Hadamard product of two rank-r products, (B1·A1) ⊙ (B2·A2), scaled by alpha / r. r 8, alpha 8;
  trainable per layer: 2 r (in + out).
- `lokr`: LoKr (Yeh et al., 2024, arXiv 2309.14859; LyCORIS): the update is a Kronecker product
  W1 ⊗ (B·A), with W1 a small full matrix over a factorisation of the layer's shape (peft's
  `decompose_factor` -1: the factors closest to a square root) and B·A of rank r. r 8, alpha 8.

LoHa and LoKr train on 8-bit bases, not on 4-bit ones (`refuse_4bit` says why).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from astraios.methods import peft_backed, targets
from astraios.methods.base import MethodConfig


class VeraConfig(MethodConfig):
    name: Literal["vera"] = "vera"
    r: int = Field(256, gt=0, description="rank of the shared random projections")
    d_initial: float = Field(0.1, gt=0, description="initial value of the scaling vector d")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the input")
    projection_seed: int = Field(0, description="seed of the shared frozen random projections")
    target_modules: list[str] | None = Field(None, description="Linear module names; default: LoRA's")


class LoHaConfig(MethodConfig):
    name: Literal["loha"] = "loha"
    r: int = Field(8, gt=0, description="rank of each of the two products")
    alpha: float = Field(8.0, gt=0, description="scaling numerator: the update is scaled by alpha / r")
    rank_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the rank dimension while training")
    module_dropout: float = Field(0.0, ge=0, lt=1, description="probability of skipping a layer's update while training")
    target_modules: list[str] | None = Field(None, description="Linear module names; default: LoRA's")


class LoKrConfig(LoHaConfig):
    name: Literal["lokr"] = "lokr"
    r: int = Field(8, gt=0, description="rank of the low-rank Kronecker factor")


def refuse_4bit(quantization: str, device_type: str | None) -> str | None:
    # peft's LyCORIS layers (LoHa, LoKr) size their factors from the base weight's shape, which 4-bit packing
    # changes (two weights a byte, one column): the first forward fails on mismatched shapes.
    if quantization == "4bit":
        return ("peft's LoHa and LoKr layers read the base weight's shape, which 4-bit packing changes. Fix: "
                "model.quantization: 8bit or none")
    return None


def apply(model, config):
    import peft

    modules = targets.lora_modules(model, config)
    if config.name == "vera":
        peft_config = peft.VeraConfig(task_type="CAUSAL_LM", r=config.r, d_initial=config.d_initial,
                                      vera_dropout=config.dropout, projection_prng_key=config.projection_seed,
                                      save_projection=True, target_modules=modules)
    else:
        peft_class = peft.LoHaConfig if config.name == "loha" else peft.LoKrConfig
        peft_config = peft_class(task_type="CAUSAL_LM", r=config.r, alpha=config.alpha, rank_dropout=config.rank_dropout,
                                 module_dropout=config.module_dropout, target_modules=modules)
    return peft_backed.wrap(model, peft_config)


METHODS = (
    peft_backed.method(VeraConfig, "VeRA", "per-layer scaling vectors around shared frozen random projections (peft)",
                       apply),
    peft_backed.method(LoHaConfig, "LoHa", "Hadamard product of two low-rank updates (peft)", apply,
                       refuse_base=refuse_4bit),
    peft_backed.method(LoKrConfig, "LoKr", "Kronecker product of a small matrix and a low-rank update (peft)", apply,
                       refuse_base=refuse_4bit),
)
