"""QLoRA (Dettmers et al., 2023, "QLoRA: Efficient Finetuning of Quantized LLMs", arXiv 2305.14314):
LoRA on a frozen base quantized to 4-bit NormalFloat (NF4) with double quantization, via peft and
bitsandbytes.

The paper's recipe for 7B-13B models, the defaults here: r=64, alpha=16, dropout 0.1, adapters on
every Linear layer of the transformer blocks (they found that adapting all of them, not only the
attention projections, is what matches 16-bit full fine-tuning), learning rate 2e-4 (1e-4 for 33B
and larger, with dropout 0.05). Matmuls run in the run's dtype (bf16 on a GPU) on weights
de-quantized block by block. The base is always 4-bit: `model.quantization` may be auto or 4bit
(`astraios.config` refuses others). What is saved is a plain LoRA adapter: it loads onto the
unquantized base too (evaluation does that, and `astraios export` merges it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from astraios.methods import lora, peft_backed, targets
from astraios.methods.base import Method


class QLoraConfig(lora.LoraConfig):
    name: Literal["qlora"] = "qlora"
    r: int = Field(64, gt=0, description="rank of the update")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout on the LoRA input (0.05 for 33B and larger)")
    target_modules: list[str] | None = Field(None, description="Linear module names; default: every Linear layer "
                                                               "of the transformer blocks")


def apply(model, config: QLoraConfig):
    modules = config.target_modules or targets.every_linear(*targets.family_of(model, "qlora"))
    return lora.apply(model, config.model_copy(update={"target_modules": modules}))


METHOD = Method(
    name="qlora",
    title="QLoRA",
    family="reparametrization",
    description="LoRA on every Linear layer of a 4-bit NF4 base (peft + bitsandbytes)",
    config_class=QLoraConfig,
    apply=apply,
    save=peft_backed.save,
    load=peft_backed.load,
    default_learning_rate=2e-4,
    base_quantization="4bit",
)
