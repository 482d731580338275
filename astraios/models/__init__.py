"""Base models: by Hub id or local directory, the tiny family, and the StarCoder sizes.

A model name is one of
- `tiny-gptbigcode-{xs,s,m,l}` / `tiny-llama-{xs,s,m,l}`: built from a config, random weights;
- `starcoderbase-1b|3b|7b|15b` (and `starcoderbase`): the real configs, weights from the Hub;
- any Hub id (`bigcode/starcoderbase-1b`) or local directory with a `config.json`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from astraios.hub import hub_errors, looks_local, missing_local_path
from astraios.models import tiny
from astraios.models.sizes import STARCODER_SIZES

log = logging.getLogger(__name__)

KNOWN_NAMES = [*tiny.TINY_MODELS, *STARCODER_SIZES]
LOCAL_FIX = "pass a local model directory, or a tiny model for a CPU try-out (e.g. tiny-gptbigcode-s)"


def is_tiny(name: str) -> bool:
    return name in tiny.TINY_MODELS


def hub_location(name: str) -> str:
    """Where the weights of `name` come from: a Hub id or a local path (checked, with a clear error)."""
    if name in STARCODER_SIZES:
        return STARCODER_SIZES[name].hub_id
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if looks_local(name):
        raise missing_local_path(name, "model", "pass an existing directory (a run directory, its final/, a saved "
                                 f"model), a Hub id (owner/name) or one of: {', '.join(KNOWN_NAMES)}.")
    if name.count("/") != 1:
        raise ValueError(
            f"unknown model `{name}`: not a local directory, not a Hub id (owner/name) and not one "
            f"of the known names ({', '.join(KNOWN_NAMES)}). Fix: use one of those names, a Hub id or an "
            f"existing directory"
        )
    return name


def model_location(name: str) -> str:
    """`hub_location` for a whole model: a local directory must hold a config.json."""
    location = hub_location(name)
    path = Path(location)
    if path.is_dir() and not (path / "config.json").is_file():
        raise ValueError(f"model {name}: {path} has no config.json, so it is not a saved model. Fix: pass the "
                         f"directory `save_pretrained` wrote (of a training run: RUN_DIR/final after full "
                         f"fine-tuning; an adapter's final/ goes to --adapter or `astraios eval --model RUN_DIR`).")
    return location


def model_config(name: str, revision: str | None = None, trust_remote_code: bool = False):
    """The architecture config of a model, without reading any weights."""
    if is_tiny(name):
        return tiny.TINY_MODELS[name].config()
    if name in STARCODER_SIZES:
        return STARCODER_SIZES[name].config()
    from transformers import AutoConfig

    location = model_location(name)
    with hub_errors("model", location, LOCAL_FIX):
        return AutoConfig.from_pretrained(location, revision=revision, trust_remote_code=trust_remote_code)


def meta_model(name: str, revision: str | None = None, trust_remote_code: bool = False):
    """The model on the meta device: real parameter shapes, no memory, no weights (for counting)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = model_config(name, revision, trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    model.config.name_or_path = name
    return model


def context_length(config) -> int | None:
    for key in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    return None


def load_tokenizer(name: str, revision: str | None = None, trust_remote_code: bool = False):
    if is_tiny(name):
        return tiny.tokenizer()
    from transformers import AutoTokenizer

    location = hub_location(name)
    with hub_errors("the tokenizer of model", location, LOCAL_FIX):
        tokenizer = AutoTokenizer.from_pretrained(location, revision=revision, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:  # StarCoder and Llama ship without one
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def resolve_dtype(setting: str, parameter_efficient: bool):
    """`auto`: bf16 frozen base weights on a bf16-capable GPU for PEFT methods; fp32 otherwise
    (full fine-tuning keeps fp32 master weights and trains in bf16 autocast on a GPU)."""
    import torch

    if setting != "auto":
        return getattr(torch, setting)
    if parameter_efficient and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def eight_bit_plan(setting: bool | str, parameter_efficient: bool) -> tuple[bool, str | None]:
    """Whether to load base weights in 8-bit, and a message to show when falling back.

    `auto` uses 8-bit for PEFT methods when CUDA and bitsandbytes are present, as the study did; on
    a machine without CUDA it means full precision without a word (there is no choice to report).
    """
    if setting is False or not parameter_efficient:
        return False, None
    import importlib.util

    import torch

    if setting == "auto" and not torch.cuda.is_available():
        return False, None

    missing = []
    if not torch.cuda.is_available():
        missing.append("a CUDA GPU")
    if importlib.util.find_spec("bitsandbytes") is None:
        missing.append("bitsandbytes (pip install 'astraios[gpu]')")
    if not missing:
        return True, None
    reason = f"8-bit base weights need {' and '.join(missing)}"
    if setting is True:
        raise RuntimeError(f"model.load_in_8bit is true but {reason}. Fix: set model.load_in_8bit: auto or false.")
    return False, f"{reason}; loading the base model unquantised instead."


def load_model(
    name: str,
    *,
    dtype=None,
    load_in_8bit: bool = False,
    device_map=None,
    revision: str | None = None,
    trust_remote_code: bool = False,
):
    """Load a causal LM by name (tiny, StarCoder size, Hub id or local directory)."""
    import torch

    dtype = dtype or torch.float32
    if is_tiny(name):
        return tiny.build(name, dtype=dtype)
    from transformers import AutoModelForCausalLM

    location = model_location(name)
    kwargs = {"dtype": dtype, "revision": revision, "trust_remote_code": trust_remote_code}
    if load_in_8bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
        kwargs["device_map"] = device_map if device_map is not None else {"": 0}
    elif device_map is not None:
        kwargs["device_map"] = device_map
    with hub_errors("model", location, LOCAL_FIX):
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    model.config.name_or_path = name
    return model
