"""Default target modules of every method for every model family, as data in one place.

A family is a transformers `model_type`. Each family's decoder layer is described once by the
roles of its modules, with the names the transformers implementation really has (the tests build
a tiny model of every family and check that each name matches a module):

| family                    | attention inputs   | attention output | MLP inputs         | MLP output  |
|---------------------------|--------------------|------------------|--------------------|-------------|
| gpt_bigcode (StarCoder)   | attn.c_attn (fused)| attn.c_proj      | mlp.c_fc           | mlp.c_proj  |
| starcoder2                | q/k/v_proj         | o_proj           | mlp.c_fc           | mlp.c_proj  |
| llama, mistral, qwen2, qwen3, gemma, gemma2, granite | q/k/v_proj | o_proj | gate_proj, up_proj | down_proj |
| phi3 (Phi-3, Phi-4)       | qkv_proj (fused)   | o_proj           | gate_up_proj (fused)| down_proj  |

Every method's defaults follow from the roles by one rule each:

- LoRA and its variants (DoRA, rsLoRA, PiSSA, LoRA+, VeRA, LoHa, LoKr): GPTBigCode keeps the
  study's `c_attn` + `c_proj` (attention inputs, attention output, MLP output); every other family
  adapts every attention and MLP projection, the practice since QLoRA (Dettmers et al., 2023)
  found that adapting all linear layers is needed to match full fine-tuning.
- QLoRA: every Linear layer of the blocks in every family, GPTBigCode's `mlp.c_fc` included (the
  paper's recipe; the LM head is not adapted).
- (IA)3: rescale the attention inputs' outputs (queries, keys and values) and the MLP output
  projection's input (peft's `feedforward_modules`), as the study did on `c_attn` + `mlp.c_proj`.
- Bottleneck adapters (see `astraios.methods.bottleneck` for the two placements): `astraios` puts
  AdapterH before the MLP inputs and after the MLP output, AdapterP after the MLP output, Parallel
  beside the attention inputs; `classic` puts AdapterH after the attention output and the MLP
  output, AdapterP after the MLP output, Parallel beside the whole `mlp` block.
- P-Tuning and full fine-tuning need no targets: they apply to any causal LM.

Mixture-of-experts families (qwen3_moe, qwen2_moe, mixtral, deepseek_v2/v3, granitemoe, ...) are
refused: transformers stores their experts as fused 3-D parameters (`mlp.experts.gate_up_proj`),
not Linear layers, so none of these methods can adapt an expert, and adapting only attention and
the shared parts would be a different method from the one measured on dense models. The refusal is
one line naming the fix (explicit `method.target_modules`, or full fine-tuning / P-Tuning).
"""

from __future__ import annotations

from dataclasses import dataclass

from astraios.methods.base import model_type

LINEAR_TARGETS_FIX = (
    "Set `method.target_modules` to the names of the Linear modules to adapt, "
    "e.g. --set method.target_modules='[q_proj,v_proj]'."
)
# Config fields that say a model routes tokens to experts.
EXPERT_FIELDS = ("num_experts", "num_local_experts", "n_routed_experts")


@dataclass(frozen=True)
class Layer:
    """The module names of one decoder layer, by role (a name matches the end of a dotted module name)."""

    attention_in: tuple[str, ...]
    attention_out: str
    mlp_in: tuple[str, ...]
    mlp_out: str

    @property
    def projections(self) -> list[str]:
        return [*self.attention_in, self.attention_out, *self.mlp_in, self.mlp_out]


_LLAMA_LAYER = Layer(("q_proj", "k_proj", "v_proj"), "o_proj", ("gate_proj", "up_proj"), "down_proj")
FAMILIES: dict[str, Layer] = {
    "gpt_bigcode": Layer(("attn.c_attn",), "attn.c_proj", ("mlp.c_fc",), "mlp.c_proj"),
    "starcoder2": Layer(("q_proj", "k_proj", "v_proj"), "o_proj", ("mlp.c_fc",), "mlp.c_proj"),
    **dict.fromkeys(("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "granite"), _LLAMA_LAYER),
    "phi3": Layer(("qkv_proj",), "o_proj", ("gate_up_proj",), "down_proj"),
}


class UnsupportedModel(ValueError):
    """A method has no default targets for this model (unknown family, or mixture of experts)."""


def lora(layer: Layer, family: str) -> list[str]:
    if family == "gpt_bigcode":  # the study's c_attn + c_proj: no LoRA on the MLP input
        return [*layer.attention_in, layer.attention_out, layer.mlp_out]
    return layer.projections


def lora_modules(model, config) -> list[str]:
    """The modules a LoRA-like method adapts: its own `target_modules`, else LoRA's defaults for the family."""
    return config.target_modules or lora(*family_of(model, config.name))


def every_linear(layer: Layer, family: str) -> list[str]:
    return layer.projections


def ia3(layer: Layer, family: str) -> tuple[list[str], list[str]]:
    """(target modules, feed-forward modules: those whose input rather than output is rescaled)."""
    return [*layer.attention_in, layer.mlp_out], [layer.mlp_out]


def bottleneck(layer: Layer, method: str, placement: str) -> dict[str, list[str]]:
    """Modules to adapt by role (series_before, series_after, parallel)."""
    if method == "adapterp":
        return {"series_after": [layer.mlp_out]}
    if placement == "astraios":
        if method == "adapterh":
            return {"series_before": list(layer.mlp_in), "series_after": [layer.mlp_out]}
        return {"parallel": list(layer.attention_in)}
    if method == "adapterh":
        return {"series_after": [layer.attention_out, layer.mlp_out]}
    return {"parallel": ["mlp"]}


def family_of(model, method: str, fix: str = LINEAR_TARGETS_FIX) -> tuple[Layer, str]:
    """The model's family and its layer description, or a one-line refusal ending in `fix`."""
    kind = model_type(model)
    config = getattr(model, "config", None)
    experts = next((getattr(config, field) for field in EXPERT_FIELDS if (getattr(config, field, None) or 0) > 1), None)
    if experts:
        raise UnsupportedModel(
            f"method `{method}` cannot adapt model type `{kind}`: a mixture of {experts} experts, stored as fused 3-D "
            f"parameters that no adapter can attach to; adapting only attention would be another method than the "
            f"one measured on dense models. Fix: use full or ptuning, or set `method.target_modules` yourself "
            f"(e.g. the attention projections)."
        )
    if kind not in FAMILIES:
        raise UnsupportedModel(
            f"method `{method}` has no default target modules for model type `{kind}` (supported: "
            f"{', '.join(sorted(FAMILIES))}). {fix}"
        )
    return FAMILIES[kind], kind
