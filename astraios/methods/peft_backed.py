"""Saving and loading for the methods that peft implements (LoRA, P-Tuning, (IA)3).

peft writes `adapter_config.json` + `adapter_model.safetensors`, so a saved adapter loads with
plain `peft.PeftModel.from_pretrained` as well as with astraios.
"""

from __future__ import annotations

from pathlib import Path

from astraios.core.noise import silenced
from astraios.methods.base import Method, on_meta_device, save_pretrained


def wrap(model, peft_config):
    import peft

    # On the meta device (counting) the adapters are made there too: initialising them on the CPU first
    # takes seconds per hundred layers and changes no shape.
    shapes_only = on_meta_device(model) and not peft_config.is_prompt_learning
    with silenced("peft_checkpointing"):
        return peft.get_peft_model(model, peft_config, low_cpu_mem_usage=shapes_only)


save = save_pretrained  # peft's save_pretrained writes only the adapter


def load(base_model, directory: Path):
    import peft

    with silenced("peft_checkpointing"):
        return peft.PeftModel.from_pretrained(base_model, str(directory), is_trainable=False)


def method(config_class, title: str, description: str, apply, family: str = "reparametrization", **overrides) -> Method:
    """The registry entry of a peft-backed method: peft saves and loads it, 1e-4 as the study's PEFT rate."""
    return Method(name=config_class.model_fields["name"].default, title=title, family=family, description=description,
                  config_class=config_class, apply=apply, save=overrides.pop("save", save), load=load,
                  default_learning_rate=1e-4, **overrides)
