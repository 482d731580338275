"""Saving and loading for the methods that peft implements (LoRA, P-Tuning, (IA)3).

peft writes `adapter_config.json` + `adapter_model.safetensors`, so a saved adapter loads with
plain `peft.PeftModel.from_pretrained` as well as with astraios.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

from astraios.methods.base import save_pretrained


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


save = save_pretrained  # peft's save_pretrained writes only the adapter


def load(base_model, directory: Path):
    import peft

    with _quiet():
        return peft.PeftModel.from_pretrained(base_model, str(directory), is_trainable=False)
