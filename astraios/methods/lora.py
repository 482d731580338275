"""LoRA and the methods that change one thing about it, each a registry entry on peft's `LoraConfig`.

- `lora`: LoRA (Hu et al., 2021, arXiv 2106.09685): a trainable low-rank update B·A (scaled by
  alpha / r) beside frozen Linear layers; A from Kaiming-uniform, B zero, so training starts at the
  base. Study defaults: r 8, alpha 16, dropout 0.05.
- `dora`: DoRA (Liu et al., 2024, arXiv 2402.09353): the adapted weight split into a magnitude
  vector (trainable, one value per output feature) and a direction updated by LoRA.
- `rslora`: rank-stabilised LoRA (Kalajdzievski, 2023, arXiv 2312.03732): the update scaled by
  alpha / sqrt(r) instead of alpha / r, so its size does not shrink as the rank grows (at r 8,
  alpha 16: 5.66 instead of 2).
- `pissa`: PiSSA (Meng et al., 2024, arXiv 2404.02948): A and B start from the r principal
  singular values and vectors of each adapted weight, which are subtracted from the frozen base
  (it keeps the residual), so training starts at the base; r 8, alpha = r and no dropout (the paper's).
- `loraplus`: LoRA+ (Hayou et al., 2024, arXiv 2402.12354): B learns `lr_ratio` times faster than
  A; the paper's rule of thumb is a ratio of 2^4 = 16 (peft's `create_loraplus_optimizer`).

DoRA, rsLoRA and LoRA+ keep the study's LoRA settings (r 8, alpha 16, dropout 0.05), so a
comparison with LoRA isolates the one change. Default targets: `astraios.methods.targets`
(GPTBigCode: the study's `c_attn` + `c_proj`; other families: every attention and MLP projection).

PiSSA moves the principal components out of the base weights, so its raw adapter only fits that
residual base. It is saved converted to a plain LoRA of rank 2r on the original base (peft's
`path_initial_model_for_weight_conversion`: ΔW = B·A - B0·A0), which loads, merges and serves like
any LoRA; `astraios_method.json` still says `pissa`. Its SVD needs the weights: the base is never
quantised (`base_quantization: none`; `model.quantization: auto` loads it in full precision).
DoRA trains on 8-bit bases on a GPU and on 4-bit ones anywhere; on an 8-bit base on a CPU it is
refused (`refuse_dora_base` says why).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field

from astraios.methods import peft_backed, targets
from astraios.methods.base import MethodConfig, on_meta_device, write_method_file
from astraios.core.noise import silenced

# The adapter at initialisation, kept on the model until it is saved (PiSSA's conversion needs it).
PISSA_INITIAL = "astraios_pissa_initial"


class LoraConfig(MethodConfig):
    name: Literal["lora"] = "lora"
    r: int = Field(8, gt=0, description="rank of the update")
    alpha: float = Field(16.0, gt=0, description="scaling numerator: the update is scaled by alpha / r")
    dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA input")
    target_modules: list[str] | None = Field(None, description="Linear module names; default per architecture")


class DoraConfig(LoraConfig):
    name: Literal["dora"] = "dora"


class RsLoraConfig(LoraConfig):
    name: Literal["rslora"] = "rslora"


class PissaConfig(LoraConfig):
    name: Literal["pissa"] = "pissa"
    alpha: float | None = Field(None, gt=0, description="scaling numerator; default r (scaling 1), as the paper")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the LoRA input (the paper: none)")
    svd_iterations: int | None = Field(
        None, gt=0, description="null: exact SVD of every adapted weight; N: peft's fast randomised SVD with N "
        "subspace iterations (pissa_niter_N), for large models"
    )


class LoraPlusConfig(LoraConfig):
    name: Literal["loraplus"] = "loraplus"
    lr_ratio: float = Field(16.0, ge=1, description="learning rate of B / learning rate of A (the paper: 2^4)")


def apply(model, config: LoraConfig):
    import peft

    variant = {"dora": {"use_dora": True}, "rslora": {"use_rslora": True}}.get(config.name, {})
    if config.name == "pissa" and not on_meta_device(model):  # on the meta device (counting) only shapes matter
        _check_float_weights(model)
        variant = {"init_lora_weights": f"pissa_niter_{config.svd_iterations}" if config.svd_iterations else "pissa"}
    tuned = peft_backed.wrap(
        model,
        peft.LoraConfig(task_type="CAUSAL_LM", r=config.r, lora_alpha=config.r if config.alpha is None else config.alpha,
                        lora_dropout=config.dropout,
                        target_modules=targets.lora_modules(model, config), **variant),
    )
    if config.name == "pissa":
        setattr(tuned, PISSA_INITIAL, {name: tensor.detach().clone() for name, tensor
                                       in peft.get_peft_model_state_dict(tuned).items()})
    return tuned


def refuse_dora_base(quantization: str, device_type: str | None) -> str | None:
    # peft 0.21 computes DoRA's weight norm by de-quantizing the base weight and, on a CPU, re-creating the
    # int8 parameter, which drops bitsandbytes' row scales: the layer's next forward fails inside
    # bitsandbytes. On a GPU it keeps the parameter.
    if quantization == "8bit" and device_type == "cpu":
        return ("peft re-creates each int8 weight on a CPU while it computes DoRA's weight norm, and bitsandbytes "
                "loses its scales. Fix: model.quantization: 4bit or none on a CPU (8bit on a GPU)")
    return None


def _check_float_weights(model) -> None:
    import torch

    quantized = next((name for name, parameter in model.named_parameters() if not torch.is_floating_point(parameter)), None)
    if quantized:
        raise ValueError(f"PiSSA takes the SVD of the base weights, but {quantized} is quantised. Fix: load the "
                         f"base unquantised (--set model.quantization=none) or use lora.")


def save_pissa(model, directory: Path, config: PissaConfig, base_model: str | None = None, state_dict=None) -> None:
    """Save PiSSA as the plain LoRA it amounts to on the original base (rank 2r)."""
    from safetensors.torch import save_file

    initial = getattr(model, PISSA_INITIAL, None)
    if initial is None:
        raise ValueError("this PiSSA model has no record of its initial adapter, so it cannot be converted to a LoRA "
                         "on the original base; save the model returned by apply()")
    if state_dict is not None:  # gathered from shards; the conversion reads the model's own (full) weights
        own = dict(model.named_parameters())
        if any(name in own and own[name].shape != tensor.shape for name, tensor in state_dict.items()):
            raise ValueError("PiSSA's conversion to a LoRA needs the full adapter weights on the saving process, but "
                             "they are sharded (FSDP/DeepSpeed ZeRO-3). Fix: train PiSSA without sharding, or use lora.")
    with tempfile.TemporaryDirectory(prefix="astraios-pissa-") as scratch:
        start = Path(scratch) / "initial"
        start.mkdir()
        save_file({name: tensor.contiguous() for name, tensor in initial.items()}, str(start / "adapter_model.safetensors"))
        # peft writes the initial adapter's config (as a plain LoRA) into `start` itself.
        with silenced("peft_pissa_conversion"):
            model.save_pretrained(str(directory), safe_serialization=True,
                                  path_initial_model_for_weight_conversion=str(start))
    write_method_file(directory, config, base_model)


def loraplus_optimizer(model, config: LoraPlusConfig, *, lr: float, weight_decay: float, **adam):
    """AdamW with B's learning rate `lr_ratio` times A's (peft's LoRA+ parameter groups)."""
    import torch
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(model, torch.optim.AdamW, lr=lr, loraplus_lr_ratio=config.lr_ratio,
                                     loraplus_weight_decay=weight_decay, **adam)


METHOD = peft_backed.method(LoraConfig, "LoRA", "low-rank updates beside attention and MLP projections (peft)", apply)
VARIANTS = (
    peft_backed.method(DoraConfig, "DoRA", "LoRA on the direction of each weight, plus a trainable magnitude vector "
                       "(peft)", apply, refuse_base=refuse_dora_base),
    peft_backed.method(RsLoraConfig, "rsLoRA", "LoRA scaled by alpha / sqrt(r) instead of alpha / r (peft)", apply),
    peft_backed.method(PissaConfig, "PiSSA", "LoRA started from the principal singular vectors of each weight (peft)",
                       apply, save=save_pissa, base_quantization="none"),
    peft_backed.method(LoraPlusConfig, "LoRA+", "LoRA whose B learns lr_ratio times faster than A (peft)", apply,
                       make_optimizer=loraplus_optimizer),
)
