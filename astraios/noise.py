"""Warnings from the libraries underneath that tell our users nothing, silenced one by one.

Each entry names the exact warning (category and message) and why it is noise; `silenced` ignores
only those, only inside its block, so every other warning still shows. Nothing here is global.
"""

from __future__ import annotations

import contextlib
import warnings

KNOWN = {
    # peft 0.21 calls transformers' deprecated checkpointing names (`is_gradient_checkpointing` on every
    # model it wraps, `gradient_checkpointing_enable` in 8-bit preparation); the deprecation is peft's
    # to follow, and our users cannot act on it. Our own code calls the new names.
    "peft_checkpointing": (FutureWarning, r"`(is_gradient_checkpointing|gradient_checkpointing_enable)` is deprecated"),
    # peft drops position ids for prompt learning (P-Tuning) and warns on every forward pass that
    # gets them, which transformers' generate always passes; our backend batches P-Tuning prompts
    # of equal length only, so positions are right without them.
    "peft_position_ids": (UserWarning, r"Position ids are not supported for parameter efficient tuning"),
}


@contextlib.contextmanager
def silenced(*names: str):
    """Ignore the named `KNOWN` warnings inside the block."""
    with warnings.catch_warnings():
        for name in names:
            category, pattern = KNOWN[name]
            warnings.filterwarnings("ignore", message=pattern, category=category)
        yield
