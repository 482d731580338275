"""LoRA (Hu et al., 2021): trainable low-rank updates B·A beside frozen Linear layers, via peft.

Study defaults for GPTBigCode: r=8, alpha=16, dropout 0.05 on `c_attn` and both `c_proj`
(attention output and MLP output). For Llama-family models the equivalent is every attention and
MLP projection.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from astraios.methods import peft_backed
from astraios.methods.base import Method, MethodConfig, default_targets

DEFAULT_TARGETS = {
    "gpt_bigcode": ["c_attn", "c_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


class LoraConfig(MethodConfig):
    name: Literal["lora"] = "lora"
    r: int = Field(8, gt=0, description="rank of the update")
    alpha: float = Field(16.0, gt=0, description="scaling numerator: the update is scaled by alpha / r")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA input")
    target_modules: list[str] | None = Field(None, description="Linear module names; default per architecture")


def apply(model, config: LoraConfig):
    import peft

    targets = config.target_modules or default_targets(model, DEFAULT_TARGETS, "lora")
    return peft_backed.wrap(
        model,
        peft.LoraConfig(
            task_type="CAUSAL_LM",
            r=config.r,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=targets,
        ),
    )


METHOD = Method(
    name="lora",
    title="LoRA",
    family="reparametrization",
    description="low-rank updates beside attention and MLP projections (peft)",
    config_class=LoraConfig,
    apply=apply,
    save=peft_backed.save,
    load=peft_backed.load,
    default_learning_rate=1e-4,
)
