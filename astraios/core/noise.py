"""Warnings from the libraries underneath that tell our users nothing, silenced one by one.

Each entry names the exact warning (category and message) and why it is noise; `silenced` ignores
only those, only inside its block, so every other warning still shows. Nothing here is global, except
`log_once`: a fact a library logs on every call is said once per process, and `DROPPED_LOG_LINES`.
"""

from __future__ import annotations

import contextlib
import logging
import re
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
    # Saving PiSSA as a LoRA loads its initial adapter beside the trained one for a moment, and peft warns
    # against PiSSA next to other adapters: the conversion it recommends is what is running.
    "peft_pissa_conversion": (UserWarning, r"PiSSA changes the base weights of the model"),
}


@contextlib.contextmanager
def silenced(*names: str):
    """Ignore the named `KNOWN` warnings inside the block."""
    with warnings.catch_warnings():
        for name in names:
            category, pattern = KNOWN[name]
            warnings.filterwarnings("ignore", message=pattern, category=category)
        yield


# Log lines that tell our users nothing, dropped from the named logger (before its library is imported).
DROPPED_LOG_LINES = {
    # bitsandbytes 0.50 on an AVX512-BF16 CPU looks, when imported (peft imports it), for an optional
    # faster 4-bit kernel on the Hub (the `kernels` package) and says so when it is not there; its own
    # kernel runs instead, and astraios keeps 4-bit layers off that inference path anyway.
    "bitsandbytes.backends.cpu.ops": r"^Failed to load CPU gemm_4bit_forward from kernels-community",
}


class OnceFilter:
    """A logging filter that lets the first `keep` records matching `pattern` through and drops the rest:
    for a library that logs the same fact on every call (bitsandbytes' 8-bit matmul, each forward pass)."""

    def __init__(self, pattern: str, keep: int = 1):
        self.pattern = re.compile(pattern)
        self.left = keep

    def filter(self, record) -> bool:
        if not self.pattern.search(record.getMessage()):
            return True
        self.left -= 1
        return self.left >= 0


def log_once(logger_name: str, pattern: str, keep: int = 1) -> None:
    """Install (once per logger and pattern) an `OnceFilter` on the named logger."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(item, OnceFilter) and item.pattern.pattern == pattern for item in logger.filters):
        logger.addFilter(OnceFilter(pattern, keep))


def drop_known_log_lines() -> None:
    for logger_name, pattern in DROPPED_LOG_LINES.items():
        log_once(logger_name, pattern, keep=0)
