"""Full fine-tuning: every parameter trains; the whole model is saved (safetensors)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from astraios.methods.base import Method, MethodConfig, save_pretrained


class FullConfig(MethodConfig):
    name: Literal["full"] = "full"


def apply(model, config: FullConfig):
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model


def load(base_model, directory: Path):
    """The saved directory is a complete model: its weights replace the base's."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(directory), dtype=base_model.dtype)


METHOD = Method(
    name="full",
    title="FFT",
    family="full",
    description="full fine-tuning of every parameter",
    config_class=FullConfig,
    apply=apply,
    save=save_pretrained,
    load=load,
    default_learning_rate=1e-6,
    parameter_efficient=False,
)
