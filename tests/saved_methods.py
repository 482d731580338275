"""Helpers for the evaluation tests: tiny models with lively outputs, and methods saved the way
training saves them (a method directory, or a whole run directory)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from astraios import methods
from astraios.models import load_model, load_tokenizer


def lively(name: str):
    """A tiny model whose weights are scaled up so greedy decoding does not repeat one token:
    output that changes token by token makes padding or batching mistakes visible."""
    model = load_model(name)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(8.0)
    return model


def save_method(directory: Path, name: str, base: str = "tiny-gptbigcode-xs") -> Path:
    method = methods.get(name)
    config = method.config_class()
    model = methods.apply(load_model(base), config)
    if name != "full":  # as if trained: adapters that change the outputs (LoRA's B starts at zero)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.requires_grad:
                    parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.5)
    method.save(model, directory, config, base_model=base)
    load_tokenizer(base).save_pretrained(str(directory))
    return directory


def fake_run_dir(root: Path, method: str) -> Path:
    """A run directory as training writes it: config.yaml and final/ (the saved method)."""
    root.mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump({"model": {"name": "tiny-gptbigcode-xs"}, "method": {"name": method}}))
    save_method(root / "final", method)
    return root
