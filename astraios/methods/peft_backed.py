"""Saving and loading for the methods that peft implements (LoRA, P-Tuning, (IA)3).

peft writes `adapter_config.json` + `adapter_model.safetensors`, so a saved adapter loads with
plain `peft.PeftModel.from_pretrained` as well as with astraios.
"""

from __future__ import annotations

from pathlib import Path

from astraios.methods.base import save_pretrained
from astraios.noise import silenced


def wrap(model, peft_config):
    import peft

    with silenced("peft_checkpointing"):
        return peft.get_peft_model(model, peft_config)


save = save_pretrained  # peft's save_pretrained writes only the adapter


def load(base_model, directory: Path):
    import peft

    with silenced("peft_checkpointing"):
        return peft.PeftModel.from_pretrained(base_model, str(directory), is_trainable=False)
