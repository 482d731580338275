"""Base models: by Hub id or local directory, the tiny families, and published code models by name.

A model name is one of
- `tiny-<family>-{xs,s,m,l}` (`astraios.models.tiny`): built from a config, random weights;
- a published model (`astraios.models.sizes`: `starcoderbase-1b`, `starcoder2-7b`, `qwen2.5-coder-7b`,
  `deepseek-coder-6.7b`, `codegemma-7b`, `phi-4`, ...): its architecture is shipped (counting and
  planning offline), weights and real config come from the Hub;
- any Hub id (`bigcode/starcoderbase-1b`) or local directory with a `config.json`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from astraios.core.hub import hub_errors, looks_local, missing_local_path
from astraios.core.noise import drop_known_log_lines
from astraios.models import tiny
from astraios.models.sizes import PUBLISHED

log = logging.getLogger(__name__)
drop_known_log_lines()  # before anything imports bitsandbytes (peft does)

KNOWN_NAMES = [*tiny.TINY_MODELS, *PUBLISHED]
# The known names in a few words: every tiny family and size, then every published model.
KNOWN_NAMES_TEXT = f"tiny-{{{','.join(tiny.FAMILIES)}}}-{{xs,s,m,l}} or {', '.join(PUBLISHED)}"
LOCAL_FIX = "pass a local model directory, or a tiny model for a CPU try-out (e.g. tiny-gptbigcode-s)"


def is_tiny(name: str) -> bool:
    return name in tiny.TINY_MODELS


def hub_location(name: str) -> str:
    """Where the weights of `name` come from: a Hub id or a local path (checked, with a clear error)."""
    if name in PUBLISHED:
        return PUBLISHED[name].hub_id
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if looks_local(name):
        raise missing_local_path(name, "model", "pass an existing directory (a run directory, its final/, a saved "
                                 f"model), a Hub id (owner/name) or one of: {KNOWN_NAMES_TEXT}.")
    if name.count("/") != 1:
        import difflib

        close = difflib.get_close_matches(name, KNOWN_NAMES, n=1)
        raise ValueError(
            f"unknown model `{name}`: not a local directory, not a Hub id (owner/name) and not one "
            f"of the known names ({KNOWN_NAMES_TEXT}). Fix: {f'did you mean `{close[0]}`? ' if close else ''}use one "
            f"of those names, a Hub id or an existing directory"
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
    if name in PUBLISHED:
        return PUBLISHED[name].config()
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


QUANTIZED = ("8bit", "4bit")
# The first bitsandbytes release tested with its CPU kernels (8-bit and 4-bit, training and generation).
BITSANDBYTES_ON_CPU = "0.50"


def quantization_plan(setting: str, parameter_efficient: bool, required: str | None = None) -> tuple[str | None, str | None]:
    """The base weights' quantization ("8bit", "4bit" or None) and a message to show when falling back.

    `auto` quantizes PEFT bases to 8 bits when CUDA and bitsandbytes are present, as the study did; on
    a machine without CUDA it means full precision without a word (there is no choice to report).
    Asked for (`8bit`, `4bit`, or a method that needs one: QLoRA's 4bit), it needs bitsandbytes and
    runs on CPU as on GPU; without bitsandbytes it fails, naming the fix.
    """
    import torch

    if not parameter_efficient or required == "none":  # a method that needs full-precision weights (PiSSA)
        return None, None
    if required or setting in QUANTIZED:
        chosen = required or setting
        if reason := _bitsandbytes_missing(torch.cuda.is_available()):
            what = "the method's" if required else f"model.quantization: {setting}"
            raise RuntimeError(f"a {chosen} base ({what}) needs {reason}. Fix: install it (pip install "
                               f"'astraios[gpu]'), or train on a base in full precision (model.quantization: none"
                               f"{', with another method' if required else ''}).")
        return chosen, None
    if setting == "none" or not torch.cuda.is_available():
        return None, None
    if reason := _bitsandbytes_missing(cuda=True):
        return None, f"8-bit base weights need {reason}; loading the base model unquantised instead."
    return "8bit", None


def _bitsandbytes_missing(cuda: bool) -> str | None:
    """What is missing for bitsandbytes here (None: it is usable)."""
    import importlib.util
    from importlib.metadata import version

    if importlib.util.find_spec("bitsandbytes") is None:
        return "bitsandbytes"
    if not cuda and _release(version("bitsandbytes")) < _release(BITSANDBYTES_ON_CPU):
        return f"bitsandbytes {BITSANDBYTES_ON_CPU} or later on a CPU (installed: {version('bitsandbytes')})"
    return None


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def quantization_config(quantization: str, compute_dtype):
    """transformers' BitsAndBytesConfig: int8 (LLM.int8()), or 4-bit NF4 with double quantization
    and `compute_dtype` matmuls, as QLoRA (Dettmers et al., 2023)."""
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        from astraios.core.noise import log_once

        # LLM.int8() quantizes activations through float16 by design; bitsandbytes says so on every matmul.
        log_once("bitsandbytes.autograd._functions", r"^MatMul8bitLt: inputs will be cast")
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)


def _keep_4bit_layout(model) -> None:
    """Keep 4-bit layers in the layout that trains. bitsandbytes (0.50) repacks a Linear4bit's weights
    for its AVX512-BF16 CPU inference kernel the first time the layer runs in eval mode, and that
    layout has no training path (the held-out loss of a training run, in eval mode, would break every
    training step after it) nor room for layers narrower than its 64-weight blocks. Without the
    repacking, eval and training also compute alike."""
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):  # bitsandbytes.nn.Linear4bit
            module.support_avx512bf16_for_cpu = False


def load_model(
    name: str,
    *,
    dtype=None,
    quantization: str | None = None,
    device_map=None,
    revision: str | None = None,
    trust_remote_code: bool = False,
):
    """Load a causal LM by name (tiny, published model, Hub id or local directory); `quantization`
    ("8bit", "4bit") loads its Linear layers through bitsandbytes onto `device_map` (default: the
    first GPU, else the CPU)."""
    import torch

    dtype = dtype or torch.float32
    if is_tiny(name):
        model = tiny.build(name, dtype=dtype)
        if not quantization:
            return model
        import tempfile

        # bitsandbytes quantizes while loading: the tiny model goes through a saved copy.
        with tempfile.TemporaryDirectory(prefix="astraios-tiny-") as directory:
            model.save_pretrained(directory)
            model = load_model(directory, dtype=dtype, quantization=quantization, device_map=device_map)
        model.config.name_or_path = name
        model.name_or_path = ""  # as built from its config: no directory (peft would look there for a config)
        return model
    from transformers import AutoModelForCausalLM

    location = model_location(name)
    kwargs = {"dtype": dtype, "revision": revision, "trust_remote_code": trust_remote_code}
    if quantization:
        kwargs["quantization_config"] = quantization_config(quantization, dtype)
        kwargs["device_map"] = device_map if device_map is not None else {"": 0 if torch.cuda.is_available() else "cpu"}
    elif device_map is not None:
        kwargs["device_map"] = device_map
    with hub_errors("model", location, LOCAL_FIX):
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    if quantization == "4bit":
        _keep_4bit_layout(model)
    model.config.name_or_path = name
    return model
