"""The registry of tuning methods: name -> `Method` (see `astraios.methods.base`).

Adding a method is one new module defining a config class and a `METHOD`, plus one line below.
The first seven are the study's; STUDY_METHODS names them (the grids that reproduce it list them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Union

from pydantic import Field

from astraios.methods import bottleneck, full, ia3, lora, lowrank, ptuning, qlora
from astraios.methods.base import (
    Method,
    MethodConfig,
    ParameterCount,
    count_parameters,
    read_method_file,
)

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        full.METHOD,
        lora.METHOD,
        ptuning.METHOD,
        ia3.METHOD,
        *bottleneck.METHODS,  # adapterh, adapterp, parallel: the study's seven end here
        qlora.METHOD,
        *lora.VARIANTS,  # dora, rslora, pissa, loraplus
        *lowrank.METHODS,  # vera, loha, lokr
    )
}


STUDY_METHODS = ("full", "lora", "ptuning", "ia3", "adapterh", "adapterp", "parallel")


def get(name: str) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown method `{name}`; available: {', '.join(METHODS)}")
    return METHODS[name]


def config_type():
    """The pydantic type of `method:` in a run config: one config class per method, chosen by `name`."""
    classes = tuple(method.config_class for method in METHODS.values())
    return Annotated[Union[classes], Field(discriminator="name")]  # noqa: UP007 (runtime tuple)


def apply(model, config: MethodConfig):
    return get(config.name).apply(model, config)


def load_trained(base_model, directory: str | Path):
    """Rebuild a tuned model from its base and a directory saved by `Method.save`."""
    saved = read_method_file(Path(directory))
    return get(saved["method"]).load(base_model, Path(directory))


__all__ = [
    "METHODS",
    "STUDY_METHODS",
    "Method",
    "MethodConfig",
    "ParameterCount",
    "apply",
    "config_type",
    "count_parameters",
    "get",
    "load_trained",
]
