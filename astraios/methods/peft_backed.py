"""Saving and loading for the methods that peft implements (LoRA, P-Tuning, (IA)3).

peft writes `adapter_config.json` + `adapter_model.safetensors`, so a saved adapter loads with
plain `peft.PeftModel.from_pretrained` as well as with astraios.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from astraios.methods.base import MethodConfig, write_method_file


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        # peft still calls transformers' deprecated `is_gradient_checkpointing`; nothing for users to act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def wrap(model, peft_config):
    import peft

    with _quiet():
        return peft.get_peft_model(model, peft_config)


def save(model, directory: Path, config: MethodConfig, base_model: str | None = None, state_dict=None) -> None:
    model.save_pretrained(str(directory), state_dict=state_dict, safe_serialization=True)
    write_method_file(directory, config, base_model)


def load(base_model, directory: Path):
    import peft

    with _quiet():
        return peft.PeftModel.from_pretrained(base_model, str(directory), is_trainable=False)
