"""Parameter accounting: every method's trainable and total parameters on a given base model, and
the compute a training run needs.

Models are built on the meta device (real shapes, no memory, no weights), so the table for the
15.5B StarCoder takes seconds on a laptop. Trainable % = trainable / all parameters of the adapted
model, as in the study's Figure 2. A method with no default targets for the model (a mixture of
experts, an unknown family) gets a row that says why instead of counts.

Training FLOPs per token of a decoder with N matmul parameters, L layers of width d, context T:
- full fine-tuning: 6N + 12 L d T (forward 2N; backward 2N for activation gradients, 2N for weight
  gradients; 12 L d T for the attention scores and the weighted sum, forward and backward, with
  no discount for the causal mask, as PaLM);
- a parameter-efficient method: 4 N_frozen + 6 N_trainable + 12 L d T: frozen weights need no
  weight gradient, but gradients still flow through them to the adapters below. It is an upper
  bound: autograd skips activation gradients below the first trainable module (under 1% for LoRA
  and about 2% for AdapterP on a 24-layer model).
N counts every parameter but the position embeddings (a lookup); a tied input embedding is the
output projection's matmul. Tested against torch's FlopCounterMode on a StarCoder-shaped model
(tests/test_gpu_check.py); `astraios gpu-check` measures MFU with it, `astraios grid --dry-run`
costs each cell with it. The attention term takes the query width to be d (Gemma's and Qwen3's
wider heads make it a slight underestimate).

Building them needs torch, transformers and peft, whose imports alone take seconds, so each count is
cached on disk (the user cache directory, or $ASTRAIOS_CACHE_DIR) under a fingerprint of everything
that changes it: the model's architecture (a built-in name, or the bytes of its config.json), the
method and its options, astraios's model and method code and the astraios, torch, transformers and
peft versions. `astraios methods` and `astraios grid --dry-run` answer from it without importing torch.
"""

from __future__ import annotations

import copy
import functools
import hashlib
from pathlib import Path

import astraios
from astraios import methods, models
from astraios.core.cache import library_versions, remembered
from astraios.methods.base import MethodConfig, ParameterCount
from astraios.methods.targets import UnsupportedModel

CACHE_KIND = "parameter-counts"
SHAPE_KIND = "model-shapes"
COUNTED_CODE = ("models", "methods")  # the packages whose code decides a count (architectures, adapters)


def parameter_table(model_name: str) -> list[dict]:
    base_total = parameter_count(model_name).total
    rows = []
    for method in methods.METHODS.values():
        row = {"method": method.name, "title": method.title, "family": method.family,
               "description": method.description, "base_total": base_total}
        try:
            counts = parameter_count(model_name, method.config_class())
        except UnsupportedModel as refusal:  # raised before anything is cached: a refusal is never stored
            rows.append({**row, "trainable": None, "total": None, "trainable_percent": None, "refused": str(refusal)})
            continue
        rows.append({**row, "trainable": counts.trainable, "total": counts.total,
                     "trainable_percent": counts.trainable_percent})
    return rows


def training_flops_per_token(matmul_parameters: int, trainable_parameters: int, layers: int, width: int,
                             context: int, *, full: bool) -> float:
    """FLOPs of one training token (forward and backward) for the formula above."""
    attention = 12 * layers * width * context
    if full:
        return 6 * matmul_parameters + attention
    frozen = matmul_parameters - trainable_parameters
    return 4 * frozen + 6 * trainable_parameters + attention


def model_shape(config) -> tuple[int, int, int]:
    """(layers, width, position-embedding parameters) of a transformers config (GPTBigCode or Llama-style)."""
    layers = getattr(config, "n_layer", None) or config.num_hidden_layers
    width = getattr(config, "n_embd", None) or config.hidden_size
    # Learned absolute positions (GPTBigCode's wpe) are a lookup; rotary models (Llama) have none.
    positions = getattr(config, "n_positions", 0) * width if getattr(config, "model_type", "") == "gpt_bigcode" else 0
    return layers, width, positions


def architecture_shape(model_name: str) -> tuple[int, int, int]:
    """`model_shape` of a model by name, cached under the same key as its counts (a warm cache
    imports no transformers)."""
    values, _ = remembered(SHAPE_KIND, count_key(model_name, None), _valid_shape,
                           lambda: {"shape": list(model_shape(models.model_config(model_name)))})
    return tuple(values["shape"])


def _valid_shape(values: dict) -> bool:
    shape = values.get("shape")
    return isinstance(shape, list) and len(shape) == 3 and all(type(value) is int and value >= 0 for value in shape)


def training_flops(shape: tuple[int, int, int], counts: ParameterCount, *, tokens: int, context: int,
                   full: bool) -> float:
    """FLOPs of a training run of `tokens` tokens in sequences of `context` on a model of `shape`
    (`model_shape`) adapted to `counts`."""
    layers, width, positions = shape
    return tokens * training_flops_per_token(counts.total - positions, counts.trainable, layers, width, context,
                                             full=full)


def parameter_count(model_name: str, method: MethodConfig | None = None) -> ParameterCount:
    """Parameters of `model_name` adapted by `method` (None: the base itself), from the cache when it
    holds them; otherwise counted on the meta device and cached. A torn or foreign entry is recounted."""
    def count() -> dict:
        base = _meta_base(model_name)
        counts = methods.count_parameters(base if method is None else methods.apply(copy.deepcopy(base), method))
        return {"trainable": counts.trainable, "total": counts.total}

    values, _ = remembered(CACHE_KIND, count_key(model_name, method), _valid, count)
    return ParameterCount(values["trainable"], values["total"])


def _valid(values: dict) -> bool:
    trainable, total = values.get("trainable"), values.get("total")
    return type(trainable) is int and type(total) is int and 0 <= trainable <= total


def count_key(model_name: str, method: MethodConfig | None) -> dict | None:
    """Everything a count depends on; None when the model's architecture cannot be read without
    building it (a Hub id whose config.json is not in the Hugging Face cache yet)."""
    architecture = _architecture(model_name)
    if architecture is None:
        return None
    return {"model": architecture, "method": None if method is None else method.model_dump(mode="json"),
            "code": _code_digest(), "versions": library_versions()}


def _architecture(model_name: str) -> dict | None:
    if models.is_tiny(model_name) or model_name in models.PUBLISHED:
        return {"builtin": model_name}  # its config is astraios code, in the code digest
    location = Path(models.model_location(model_name))  # unknown names fail here as when building
    if location.is_dir():
        files = [location / "config.json", *sorted(location.glob("*.py"))]  # *.py: remote code
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(str(location), "config.json")
        if not isinstance(cached, str):
            return None
        files = [Path(cached)]
    return {"source": str(location), "config": _files_digest(files, location if location.is_dir() else None)}


@functools.lru_cache(maxsize=None)
def _code_digest() -> str:
    package = Path(astraios.__file__).parent
    return _files_digest(sorted(path for name in COUNTED_CODE for path in (package / name).rglob("*.py")), package)


def _files_digest(files: list[Path], root: Path | None) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(root) if root else file.name}\0".encode())
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _meta_base(model_name: str):
    """The base on the meta device, built once per model (methods adapt a copy)."""
    return models.meta_model(model_name)
