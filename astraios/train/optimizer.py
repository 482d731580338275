"""The optimiser of a training run: AdamW, with one learning rate for every trainable weight unless the
method builds its own parameter groups (LoRA+: B learns faster than A)."""

from __future__ import annotations


def make_optimizer(model, method, config):
    """AdamW over the model's trainable weights, as `config.train` says (the method's groups when it has them)."""
    import torch

    train = config.train
    # fused: one kernel for all parameters (CPU and CUDA), as HF Trainer's default
    adam = {"betas": (train.adam_beta1, train.adam_beta2), "eps": train.adam_epsilon, "fused": True}
    if method.make_optimizer is not None:
        return method.make_optimizer(model, config.method, lr=config.learning_rate, weight_decay=train.weight_decay,
                                     **adam)
    return torch.optim.AdamW(parameter_groups(model, train.weight_decay), lr=config.learning_rate, **adam)


def parameter_groups(model, weight_decay: float) -> list[dict]:
    """Decay every trainable weight except biases and normalisation weights (as HF Trainer does)."""
    import torch

    no_decay = set()
    for module_name, module in model.named_modules():
        if "norm" in type(module).__name__.lower() or isinstance(module, torch.nn.LayerNorm):
            no_decay.update(f"{module_name}.{name}" if module_name else name for name, _ in module.named_parameters(recurse=False))
    decay, keep = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (keep if name in no_decay or name.endswith("bias") else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]
