"""(IA)3 (Liu et al., 2022): learned vectors that rescale activations, via peft.

Study defaults for GPTBigCode: scale the output of `c_attn` (keys, values and queries) and the
input of the feed-forward output projection `mlp.c_proj`; every other family gets the same roles
(`astraios.methods.targets`), e.g. q/k/v_proj plus down_proj as the feed-forward module.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from astraios.methods import peft_backed, targets
from astraios.methods.base import MethodConfig


class IA3Config(MethodConfig):
    name: Literal["ia3"] = "ia3"
    target_modules: list[str] | None = Field(None, description="modules to rescale; default per architecture")
    feedforward_modules: list[str] | None = Field(
        None, description="targets whose input (not output) is rescaled; default per architecture"
    )

    @model_validator(mode="after")
    def _feedforward_within_targets(self):
        if self.feedforward_modules and not self.target_modules:
            raise ValueError(
                "feedforward_modules is set but target_modules is not. Fix: set target_modules too "
                "(feedforward_modules must be a subset of it)"
            )
        if self.feedforward_modules and not set(self.feedforward_modules) <= set(self.target_modules):
            raise ValueError("feedforward_modules must be a subset of target_modules. Fix: add them to target_modules")
        return self


def apply(model, config: IA3Config):
    import peft

    if config.target_modules:
        modules, feedforward = config.target_modules, config.feedforward_modules or []
    else:
        modules, feedforward = targets.ia3(*targets.family_of(model, "ia3"))
    return peft_backed.wrap(
        model,
        peft.IA3Config(task_type="CAUSAL_LM", target_modules=modules, feedforward_modules=feedforward),
    )


METHOD = peft_backed.method(IA3Config, "(IA)3", "learned vectors rescaling attention and feed-forward activations (peft)",
                            apply, family="scaling")
