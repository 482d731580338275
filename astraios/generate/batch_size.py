"""`--batch-size auto`: the most rows (prompt x sample) the transformers backend decodes at once
that fit on the device, found once per (model, device, length) and cached (astraios.core.cache).

The probe does what decoding `n` rows of `length` tokens does at its peak: it prefills `n` rows of
`length` tokens at once (keeping the KV cache) and decodes one more token for each. It starts at
`START` rows and halves on an out-of-memory error (accelerate's `find_executable_batch_size` tells
one from other errors and empties the device's cache between tries). Lengths are rounded up to a
multiple of `LENGTH_STEP`, so tasks of similar length share an answer and every length is probed
at least as long as it runs.

The answer is for the memory free when it was found: another process holding memory later can still
run out; delete the cache entry (the line printed names the size, the cache is
$ASTRAIOS_CACHE_DIR or ~/.cache/astraios) or pass a number. On the CPU an allocation the machine
cannot hold may end the process instead of raising, so there `auto` probes at most `CPU_START`.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable

from astraios.core.cache import library_versions, remembered

AUTO = "auto"
DEFAULT_BATCH_SIZE = 16  # --batch-size's default
START = 256
CPU_START = 32
LENGTH_STEP = 256
CACHE_KIND = "batch-sizes"


def parse_batch_size(value) -> int | str:
    """An --batch-size value: a whole number of rows (at least 1) or `auto`."""
    if value == AUTO:
        return AUTO
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"--batch-size {value}: not a number. Fix: a number of rows (e.g. 16) or auto.") from None
    if number < 1 or str(number) != str(value).strip():
        raise ValueError(f"--batch-size must be a whole number at least 1, or auto; got {value}")
    return number


def probe_length(longest_prompt: int, max_new_tokens: int, window: int) -> int:
    """The length a batch is probed at: the longest row, rounded up to `LENGTH_STEP`, within the window."""
    return min(window, LENGTH_STEP * math.ceil((longest_prompt + max_new_tokens) / LENGTH_STEP))


def auto_batch_size(model, length: int, announce: Callable[[str], None]) -> int:
    """The most rows of `length` tokens `model` decodes at once on its device: cached, else probed.
    `model` is the one that decodes (under prompt learning the base model, its virtual tokens in `length`)."""
    key = {"model": model_fingerprint(model), "device": device_fingerprint(model), "length": length}
    start = CPU_START if key["device"]["type"] == "cpu" else START
    values, cached = remembered(CACHE_KIND, key, lambda values: type(values.get("batch_size")) is int
                                and values["batch_size"] >= 1,
                                lambda: {"batch_size": largest_fitting(model, length, start), "start": start})
    found = values["batch_size"]
    if cached:
        announce(f"--batch-size auto: {found} rows of {length} tokens (found earlier on this device, cached)")
    else:
        announce(f"--batch-size auto: {found} rows of {length} tokens fit on {key['device']['name']}: tried from "
                 f"{start} rows{' (the most tried on a CPU)' if start == CPU_START else ''}, halving on "
                 f"out-of-memory; cached")
    return found


def largest_fitting(model, length: int, start: int) -> int:
    import torch
    from accelerate.utils import find_executable_batch_size
    from transformers import DynamicCache

    from accelerate.utils.memory import clear_device_cache

    from astraios.generate.decoding import cache_argument

    argument = cache_argument(model)
    device = next(model.parameters()).device
    size = start

    def halve() -> int:
        nonlocal size
        size //= 2
        return size

    @find_executable_batch_size(starting_batch_size=start, reduce_batch_size_fn=halve)
    def fits(rows: int) -> int:
        ids = torch.zeros((rows, length), dtype=torch.long, device=device)
        with torch.inference_mode():
            output = model(input_ids=ids, use_cache=True, logits_to_keep=1, **{argument: DynamicCache()})
            model(input_ids=ids[:, :1], use_cache=True, logits_to_keep=1, **{argument: output[argument]})
        del ids, output
        return rows

    try:
        return fits()
    except RuntimeError as error:
        if "reached zero" not in str(error):
            raise
        raise ValueError(f"--batch-size auto: not even one row of {length} tokens fits on {device}. Fix: a smaller "
                         f"--max-new-tokens, a smaller --dtype (bfloat16), or a device with more memory.") from None
    finally:
        clear_device_cache(garbage_collection=True)


def model_fingerprint(model) -> dict:
    """What decides the memory a row takes: the architecture, the weights' dtypes and sizes (an
    unmerged adapter's included) and the library versions."""
    from astraios.core.cache import digest

    config = getattr(model, "config", None)
    weights: dict[str, int] = {}
    for parameter in model.parameters():
        name = str(parameter.dtype)
        weights[name] = weights.get(name, 0) + parameter.numel()
    return {"class": type(model).__name__, "config": digest(config.to_json_string()) if config is not None else None,
            "weights": weights, "versions": library_versions()}


def device_fingerprint(model) -> dict:
    import torch

    device = next(model.parameters()).device
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        return {"type": "cuda", "name": properties.name, "memory": properties.total_memory}
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else None
    return {"type": device.type, "name": f"the {platform.machine()} {device.type.upper()}", "memory": memory}
