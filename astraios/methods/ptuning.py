"""P-Tuning (Liu et al., 2021): trainable virtual tokens produced by an MLP prompt encoder, via peft.

Study default: 30 virtual tokens, MLP reparameterisation whose hidden size equals the model
width; the encoder's parameters count as trainable (peft keeps them in the saved adapter).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from astraios.methods import peft_backed
from astraios.methods.base import MethodConfig


class PTuningConfig(MethodConfig):
    name: Literal["ptuning"] = "ptuning"
    num_virtual_tokens: int = Field(30, gt=0, description="virtual tokens prepended to every input")
    encoder: Literal["MLP", "LSTM"] = Field("MLP", description="prompt encoder reparameterisation")
    encoder_hidden_size: int | None = Field(None, gt=0, description="default: the model's hidden size")


def apply(model, config: PTuningConfig):
    import peft

    hidden = config.encoder_hidden_size or model.config.hidden_size
    return peft_backed.wrap(
        model,
        peft.PromptEncoderConfig(
            task_type="CAUSAL_LM",
            num_virtual_tokens=config.num_virtual_tokens,
            encoder_reparameterization_type=config.encoder,
            encoder_hidden_size=hidden,
        ),
    )


METHOD = peft_backed.method(
    PTuningConfig, "P-Tuning", "virtual tokens from an MLP prompt encoder (peft)", apply, family="prompt",
    cannot_merge="its virtual tokens are extra inputs made by a prompt encoder, not a change to any weight",
)
