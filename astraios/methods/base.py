"""The protocol every tuning method follows, and the helpers they share.

A method is one module that defines a pydantic config (its hyper-parameters, with the study's
defaults) and a `Method` record: how to apply it to a base model, save only what it trains, and
load that back onto a fresh base. Heavy libraries (peft) are imported inside those functions so
that reading and validating a config stays fast and never loads a model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from astraios.core.io import read_json, write_json
from astraios.core.schema import Strict

METHOD_FILE = "astraios_method.json"


class MethodConfig(Strict):
    """Base of every method's config; `name` is the registry key and YAML discriminator."""

    name: str


@dataclass(frozen=True)
class Method:
    name: str
    title: str
    family: str
    description: str
    config_class: type[MethodConfig]
    # apply(model, config): adds the method's modules (in place or wrapped), freezes the rest.
    apply: Callable[..., object]
    # save(model, directory, config, base_model=None, state_dict=None): writes only what the
    # method trains (plus astraios_method.json); `state_dict` is the gathered one under FSDP/DeepSpeed.
    save: Callable[..., None]
    # load(base_model, directory): rebuilds the tuned model from a fresh base and a `save`d directory.
    load: Callable[..., object]
    default_learning_rate: float
    # Parameter-efficient methods freeze the base, so it may be quantized (model.quantization).
    parameter_efficient: bool = True
    # The base precision the method is defined with (QLoRA: 4bit; PiSSA: none, its SVD needs the weights);
    # None: model.quantization decides.
    base_quantization: str | None = None
    # refuse_base(quantization, device_type): why the method cannot train on a base quantized so ("8bit",
    # "4bit") on that device ("cpu", "cuda"; None while a config is read, before any device), ending with
    # the fix; None: it can. Only where the libraries it runs on fail there (LoHa/LoKr on 4-bit).
    refuse_base: Callable[[str, str | None], str | None] | None = None
    # Why the trained part cannot be folded into the base weights (`astraios export`); None: it can.
    cannot_merge: str | None = None
    # make_optimizer(model, config, lr=, weight_decay=, betas=, eps=, fused=): a method's own AdamW parameter
    # groups (LoRA+); None: one learning rate for every trainable weight (the training loop's groups).
    make_optimizer: Callable[..., object] | None = None


@dataclass(frozen=True)
class ParameterCount:
    trainable: int
    total: int

    @property
    def trainable_percent(self) -> float:
        return 100.0 * self.trainable / self.total if self.total else 0.0


def count_parameters(model) -> ParameterCount:
    """Trainable and total parameters of a (possibly adapted) model, each shared tensor counted once.

    A weight DeepSpeed's ZeRO-3 has partitioned (a model loaded under ZeRO-3) holds an empty tensor on
    this process: its size is its `ds_numel`."""
    trainable = total = 0
    seen: set[int] = set()
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        size = getattr(parameter, "ds_numel", None) or parameter.numel()
        total += size
        if parameter.requires_grad:
            trainable += size
    return ParameterCount(trainable=trainable, total=total)


def on_meta_device(model) -> bool:
    """Whether the model is a shape-only copy (parameter accounting), not one to train."""
    return any(parameter.is_meta for parameter in model.parameters())


def model_type(model) -> str:
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) or type(model).__name__


def write_method_file(directory: Path, config: MethodConfig, base_model: str | None) -> None:
    write_json(
        Path(directory) / METHOD_FILE,
        {"method": config.name, "base_model": base_model, "config": config.model_dump()},
    )


def save_pretrained(model, directory: Path, config: MethodConfig, base_model: str | None = None, state_dict=None) -> None:
    """`Method.save` for models whose own `save_pretrained` writes what they train (full, peft)."""
    model.save_pretrained(str(directory), state_dict=state_dict, safe_serialization=True)
    write_method_file(directory, config, base_model)


def read_method_file(directory: Path) -> dict:
    content = read_json(Path(directory) / METHOD_FILE)
    if content is None:
        raise FileNotFoundError(
            f"{directory} is not a directory saved by astraios (no {METHOD_FILE}); pass the `final` "
            f"directory of a run, e.g. runs/my-run/final"
        )
    return content
