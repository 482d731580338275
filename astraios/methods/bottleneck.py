"""Bottleneck adapters: AdapterH, AdapterP and Parallel, one family in one module (no peft fork).

A bottleneck block computes `up(act(down(dropout(x)))) * scaling` (down: d_in -> b, up: b -> d_out,
no biases) and is attached to a named module of the base model in one of three roles:

- `series_before`: on the module's input, `module(x + block(x))`;
- `series_after`: on its output, `h = module(x); h + block(h)`;
- `parallel`: beside it, `module(x) + block(x)` (down from its input width, up to its output width).

`placement` picks the default target modules (for every family: `astraios.methods.targets`):

`astraios` (default) reproduces the study, which used LLM-Adapters' tuner: adapters wrap Linear
layers by name, both projections drawn from N(0, 0.02) (`init: normal`).

| method   | GPTBigCode                               | Llama family (and every gated-MLP family)      |
|----------|------------------------------------------|------------------------------------------------|
| adapterh | series_before mlp.c_fc, series_after mlp.c_proj | series_before gate_proj, up_proj; series_after down_proj |
| adapterp | series_after mlp.c_proj                  | series_after down_proj                         |
| parallel | parallel attn.c_attn                     | parallel q_proj, k_proj, v_proj                |

`classic` follows the papers, with `init: zero_up` (down Kaiming-uniform, up zero) so the adapted
model equals the base exactly at step 0:

- Houlsby et al. (2019): series adapters after the attention output projection and after the
  feed-forward output (`attn.c_proj` + `mlp.c_proj`; `o_proj` + `down_proj`);
- Pfeiffer et al. (2021): after the feed-forward output only;
- He et al. (2022) parallel adapter: beside the whole feed-forward block (`mlp`), reading the
  block's input and adding to its output.

Why the study differs: LLM-Adapters attaches to Linear layers, not to sub-layers, so its AdapterH
puts the first adapter on the feed-forward *input* (before `c_fc`, widths d -> b -> d) instead of
after attention, and its Parallel adapter sits beside the fused QKV projection (attention) rather
than the feed-forward block. AdapterP lands where Pfeiffer's does; only the initialisation
differs. N(0, 0.02) on both projections also means the study's models differ from their base
before the first step, which `zero_up` avoids.

Design: an adapter is a child module (`bottleneck`) of the module it adapts, run by forward
hooks, so the base keeps its parameter names and any module is adapted the same way (nn.Linear,
bitsandbytes' Linear8bitLt, a whole MLP block). Adapter weights are float32 on the adapted
module's device whatever the base dtype: they are the only weights that train (bf16 master
weights lose small updates), and the block casts its input to float32 and its result back, so
it runs beside 8-bit or bf16 bases.

Saved: `bottleneck_adapters.safetensors` (adapter weights only), `bottleneck_config.json` (the
config, with target modules resolved to full module names) and `astraios_method.json`.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from astraios.methods import targets as family_targets
from astraios.methods.base import Method, MethodConfig, model_type, write_method_file

Role = Literal["series_before", "series_after", "parallel"]
NonLinearity = Literal["tanh", "relu", "gelu", "gelu_tanh", "silu", "sigmoid"]
ADAPTER_ATTRIBUTE = "bottleneck"
WEIGHTS_FILE = "bottleneck_adapters.safetensors"
CONFIG_FILE = "bottleneck_config.json"
ROLE_TARGETS_FIX = (
    "Fix: set `method.target_modules` to the modules to adapt by role (series_before, series_after, parallel), "
    "e.g. --set method.target_modules='{series_after: [mlp.down_proj]}'."
)

class BottleneckConfig(MethodConfig):
    """Settings shared by the three bottleneck methods; `name` picks the default placement table."""

    placement: Literal["astraios", "classic"] = Field(
        "astraios", description="default targets: astraios = the study's, classic = the papers'"
    )
    bottleneck_size: int = Field(256, gt=0, description="width b of the bottleneck")
    non_linearity: NonLinearity = Field("tanh", description="activation between the projections")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the adapter input")
    scaling: float | Literal["learned"] = Field(1.0, description="factor on the adapter output, or `learned` (a scalar per adapter)")
    init: Literal["normal", "zero_up"] = Field(
        "normal",
        description="normal = N(0, 0.02) on both projections (the study); zero_up = up starts at zero, "
        "so the model equals its base at step 0. Default: normal for astraios, zero_up for classic",
    )
    target_modules: dict[Role, list[str]] | None = Field(
        None,
        description="modules to adapt per role, e.g. {series_after: [mlp.c_proj]}; a name matches a module "
        "whose dotted name ends with it. Default: per placement and architecture",
    )

    @model_validator(mode="before")
    @classmethod
    def _init_follows_placement(cls, data):
        if isinstance(data, dict) and "init" not in data:
            data = {**data, "init": "zero_up" if data.get("placement") == "classic" else "normal"}
        return data

    @field_validator("scaling", mode="before")
    @classmethod
    def _number_or_learned(cls, value):
        if isinstance(value, str) and value != "learned":
            raise ValueError(f"scaling must be a number or `learned` (got {value!r}). Fix: e.g. scaling: 1.0")
        return value

    @field_validator("target_modules", mode="before")
    @classmethod
    def _roles_given(cls, value):
        if isinstance(value, (list, str)):
            raise ValueError(
                f"target_modules maps roles to module names (got {value!r}). Fix: e.g. "
                f"{{series_after: [mlp.c_proj]}}; roles: series_before, series_after, parallel"
            )
        return value

    @field_validator("target_modules")
    @classmethod
    def _each_module_in_one_role(cls, value):
        if value is None:
            return value
        if not any(value.values()):
            raise ValueError("target_modules names no module. Fix: give at least one, e.g. {series_after: [mlp.c_proj]}")
        seen: dict[str, str] = {}
        for role, names in value.items():
            for name in names:
                if name in seen:
                    raise ValueError(f"`{name}` is listed under both {seen[name]} and {role}. Fix: give each module one role")
                seen[name] = role
        return value


class AdapterHConfig(BottleneckConfig):
    name: Literal["adapterh"] = "adapterh"


class AdapterPConfig(BottleneckConfig):
    name: Literal["adapterp"] = "adapterp"


class ParallelConfig(BottleneckConfig):
    name: Literal["parallel"] = "parallel"


CONFIG_CLASSES: dict[str, type[BottleneckConfig]] = {
    config_class.model_fields["name"].default: config_class
    for config_class in (AdapterHConfig, AdapterPConfig, ParallelConfig)
}


@functools.cache
def _bottleneck_class():
    """The adapter nn.Module, defined on first use so that importing the registry never imports torch."""
    import torch
    from torch import nn

    activations = {
        "tanh": nn.Tanh,
        "relu": nn.ReLU,
        "gelu": nn.GELU,
        "gelu_tanh": functools.partial(nn.GELU, approximate="tanh"),
        "silu": nn.SiLU,
        "sigmoid": nn.Sigmoid,
    }

    class Bottleneck(nn.Module):
        """`up(act(down(dropout(x)))) * scaling` in float32, attached to one module in one role."""

        def __init__(self, role: str, in_features: int, out_features: int, config: BottleneckConfig, device):
            super().__init__()
            self.role = role
            self.dropout = nn.Dropout(config.dropout)
            self.down = nn.Linear(in_features, config.bottleneck_size, bias=False, device=device, dtype=torch.float32)
            self.activation = activations[config.non_linearity]()
            self.up = nn.Linear(config.bottleneck_size, out_features, bias=False, device=device, dtype=torch.float32)
            if config.scaling == "learned":
                self.scaling = nn.Parameter(torch.ones((), device=device, dtype=torch.float32))
            else:
                self.scaling = config.scaling
            if config.init == "normal":
                nn.init.normal_(self.down.weight, mean=0.0, std=0.02)
                nn.init.normal_(self.up.weight, mean=0.0, std=0.02)
            else:  # zero_up: `down` keeps nn.Linear's Kaiming-uniform init
                nn.init.zeros_(self.up.weight)

        def forward(self, x):
            h = self.down(self.dropout(x.to(self.down.weight.dtype)))
            return (self.up(self.activation(h)) * self.scaling).to(x.dtype)

        def extra_repr(self) -> str:
            return f"role={self.role}"

        def attach(self, module) -> None:
            module.add_module(ADAPTER_ATTRIBUTE, self)
            # Bound methods as hooks: a deep copy of the model rebinds them to the copied adapter.
            if self.role == "series_before":
                module.register_forward_pre_hook(self._adapt_input)
            else:
                module.register_forward_hook(self._adapt_output)

        def _adapt_input(self, module, args):
            x = _first_input(module, args)
            return (x + self(x), *args[1:])

        def _adapt_output(self, module, args, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"a {self.role} bottleneck adapter needs its module to return one tensor, but "
                    f"{type(module).__name__} returned {type(output).__name__}; target a Linear layer instead"
                )
            source = output if self.role == "series_after" else _first_input(module, args)
            return output + self(source).to(output.dtype)

    def _first_input(module, args):
        if not args:
            raise TypeError(
                f"bottleneck adapters read the first positional input of the adapted module, but "
                f"{type(module).__name__} was called with keyword arguments only; target a module called positionally"
            )
        return args[0]

    Bottleneck.__qualname__ = "Bottleneck"  # picklable as astraios.methods.bottleneck.Bottleneck
    return Bottleneck


def __getattr__(name: str):
    if name == "Bottleneck":
        return _bottleneck_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def apply(model, config: BottleneckConfig):
    """Attach the configured adapters to `model` (in place), freeze everything else, return it."""
    targets = config.target_modules or family_targets.bottleneck(
        family_targets.family_of(model, config.name, fix=ROLE_TARGETS_FIX)[0], config.name, config.placement
    )
    found = _find_targets(model, targets)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    bottleneck = _bottleneck_class()
    for name, module, role in found:
        in_features, out_features = _features(model, name, module)
        widths = {
            "series_before": (in_features, in_features),
            "series_after": (out_features, out_features),
            "parallel": (in_features, out_features),
        }[role]
        bottleneck(role, *widths, config, device=_device(module)).attach(module)
    return model


def _find_targets(model, targets: dict[str, list[str]]) -> list[tuple[str, object, str]]:
    """(module name, module, role) for every module a target name matches, or a clear error."""
    import torch

    modules = dict(model.named_modules())
    found = []
    for role, names in targets.items():
        for target in names:
            matches = [name for name in modules if name == target or name.endswith(f".{target}")]
            if not matches:
                linear = sorted({".".join(name.split(".")[-2:]) for name, module in modules.items() if isinstance(module, torch.nn.Linear)})
                raise ValueError(
                    f"bottleneck target `{target}` ({role}) matches no module of this {model_type(model)} model; "
                    f"a name matches the end of a module's dotted name. Fix: use one of this model's Linear layers "
                    f"({', '.join(linear)}) or a block such as `mlp`"
                )
            found += [(name, modules[name], role) for name in matches]
    names = [name for name, _, _ in found]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"modules matched by more than one bottleneck target: {', '.join(twice)}. Fix: give each module one role")
    if adapted := [name for name, module, _ in found if ADAPTER_ATTRIBUTE in module._modules]:
        raise ValueError(f"{adapted[0]} already has a bottleneck adapter. Fix: apply the method to a fresh base model")
    return found


def _features(model, name: str, module) -> tuple[int, int]:
    """Input and output widths: a Linear's own; a block of layers (such as `mlp`) is taken to map
    hidden states to hidden states."""
    import torch

    if isinstance(module, torch.nn.Linear):  # includes bitsandbytes' Linear8bitLt
        return module.in_features, module.out_features
    hidden = getattr(model.config, "hidden_size", None)
    if hidden is None or next(module.children(), None) is None:
        raise ValueError(
            f"`{name}` is a {type(module).__name__}: bottleneck adapters attach to Linear layers or to "
            f"blocks that map hidden states to hidden states (such as `mlp`). Fix: target one of those"
        )
    return hidden, hidden


def _device(module):
    import torch

    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _adapter_parameter_names(model) -> list[str]:
    return [name for name, _ in model.named_parameters() if f".{ADAPTER_ATTRIBUTE}." in f".{name}"]


def save(model, directory: Path, config: BottleneckConfig, base_model: str | None = None, state_dict=None) -> None:
    from safetensors.torch import save_file

    from astraios.core.io import write_json

    names = _adapter_parameter_names(model)
    if not names:
        raise ValueError("the model has no bottleneck adapters to save; save the model returned by apply()")
    source = state_dict if state_dict is not None else dict(model.named_parameters())
    if missing := [name for name in names if name not in source]:
        raise ValueError(f"the state dict lacks adapter weights, e.g. {missing[0]}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_file({name: source[name].detach().cpu().contiguous() for name in names}, str(directory / WEIGHTS_FILE))
    # Full module names make loading exact, whatever the architecture or the names' original form.
    resolved: dict[str, list[str]] = {}
    for name, module in model.named_modules():
        if isinstance(module, _bottleneck_class()):
            resolved.setdefault(module.role, []).append(name.removesuffix(f".{ADAPTER_ATTRIBUTE}"))
    write_json(directory / CONFIG_FILE, config.model_copy(update={"target_modules": resolved}).model_dump())
    write_method_file(directory, config, base_model)


def load(base_model, directory: Path):
    """The base with the saved adapters attached and their weights loaded (frozen, for inference)."""
    import torch
    from safetensors.torch import load_file

    directory = Path(directory)
    saved = json.loads((directory / CONFIG_FILE).read_text())
    config = CONFIG_CLASSES[saved["name"]].model_validate(saved)
    with torch.random.fork_rng(devices=[]):  # the initial draws are overwritten: leave the caller's RNG alone
        model = apply(base_model, config)
    weights = load_file(str(directory / WEIGHTS_FILE))
    expected = set(_adapter_parameter_names(model))
    unexpected = model.load_state_dict(weights, strict=False).unexpected_keys
    missing = sorted(expected - set(weights))
    if missing or unexpected:
        raise ValueError(
            f"{directory / WEIGHTS_FILE} does not match the adapters built on this base model (missing: "
            f"{missing[:3]}, unexpected: {unexpected[:3]}); was it saved from another base?"
        )
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _method(config_class: type[BottleneckConfig], title: str, description: str) -> Method:
    return Method(
        name=config_class.model_fields["name"].default,
        title=title,
        family="bottleneck",
        description=description,
        config_class=config_class,
        apply=apply,
        save=save,
        load=load,
        default_learning_rate=1e-4,
        cannot_merge="its adapters are new non-linear blocks (down-projection, activation, up-projection) that no "
                     "weight of the base can absorb",
    )


METHODS = (
    _method(AdapterHConfig, "AdapterH", "series bottleneck adapters on the feed-forward input and output (Houlsby)"),
    _method(AdapterPConfig, "AdapterP", "one series bottleneck adapter after the feed-forward output (Pfeiffer)"),
    _method(ParallelConfig, "Parallel", "a bottleneck adapter beside the attention QKV projection (He et al.)"),
)
