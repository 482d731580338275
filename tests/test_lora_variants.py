"""The methods after LoRA: each one's defining change checked against an independent computation
(rsLoRA's scaling, PiSSA's start and its conversion to a LoRA, LoRA+'s learning rates, VeRA's frozen
projections), and the vLLM backend's choice between its own LoRA and a merged copy."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from astraios import methods, models, train
from astraios.config import load_config
from conftest import tiny_overrides

TOKENS = torch.tensor([[5, 17, 300, 42, 9, 1000]])


def adapted(method: str, model_name: str = "tiny-llama-xs", **settings):
    return methods.apply(models.tiny.build(model_name), methods.get(method).config_class(**settings))


def moved(model, scale: float = 0.1, seed: int = 0):
    """The model with every trainable weight moved, as if trained."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def test_rslora_scales_by_alpha_over_the_square_root_of_the_rank():
    q_proj = adapted("rslora").base_model.model.model.layers[0].self_attn.q_proj
    assert q_proj.scaling["default"] == pytest.approx(16 / math.sqrt(8))
    lora = adapted("lora").base_model.model.model.layers[0].self_attn.q_proj
    assert lora.scaling["default"] == pytest.approx(16 / 8)


def test_pissa_starts_at_the_base_and_moves_the_principal_components_out_of_it():
    base = models.tiny.build("tiny-llama-xs").eval()
    model = adapted("pissa").eval()
    with torch.no_grad():
        torch.testing.assert_close(model(TOKENS).logits, base(TOKENS).logits, rtol=1e-5, atol=1e-5)
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    original = base.model.layers[0].self_attn.q_proj.weight
    # The update B·A holds the r largest singular values of the original weight; the base keeps the rest.
    update = layer.lora_B["default"].weight @ layer.lora_A["default"].weight * layer.scaling["default"]
    singular = torch.linalg.svdvals(original)
    torch.testing.assert_close(torch.linalg.svdvals(update)[:8], singular[:8], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(torch.linalg.svdvals(layer.base_layer.weight)[:8], singular[8:16], rtol=1e-4, atol=1e-6)


def test_pissa_is_saved_as_a_plain_lora_of_twice_the_rank_on_the_original_base(tmp_path):
    config = methods.get("pissa").config_class(r=4)  # alpha defaults to r: scaling 1
    model = moved(adapted("pissa", r=4))
    methods.get("pissa").save(model, tmp_path, config, "tiny-llama-xs")
    saved = json.loads((tmp_path / "adapter_config.json").read_text())
    assert saved["r"] == 8 and saved["init_lora_weights"] is True and saved["lora_alpha"] == 8  # same scaling 1
    assert json.loads((tmp_path / "astraios_method.json").read_text())["method"] == "pissa"
    # Plain LoRA arithmetic on the untouched base weight gives the trained PiSSA weight.
    weights = load_file(str(tmp_path / "adapter_model.safetensors"))
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    plain = models.tiny.build("tiny-llama-xs").model.layers[0].self_attn.q_proj.weight
    merged = plain + weights[f"{prefix}.lora_B.weight"] @ weights[f"{prefix}.lora_A.weight"] * (8 / 8)
    layer = model.base_model.model.model.layers[0].self_attn.q_proj
    trained = layer.base_layer.weight + layer.lora_B["default"].weight @ layer.lora_A["default"].weight
    torch.testing.assert_close(merged, trained, rtol=1e-5, atol=1e-6)


def test_pissa_refuses_a_quantised_base():
    model = models.tiny.build("tiny-llama-xs")
    layer = model.model.layers[0].self_attn.q_proj
    layer.weight = torch.nn.Parameter(layer.weight.data.to(torch.int8), requires_grad=False)
    with pytest.raises(ValueError, match=r"quantised.*model.quantization=none"):
        methods.apply(model, methods.get("pissa").config_class())


def test_loraplus_moves_b_lr_ratio_times_as_far_as_lora_in_its_first_step(tmp_path):
    """Adam's first step moves every weight with a gradient by its learning rate (m / sqrt(v) = ±1), and
    B starts at zero: after one step |B| is the learning rate of B."""
    def first_step(method: str, *extra: str) -> torch.Tensor:
        run = tmp_path / method
        train.run(load_config(None, tiny_overrides(
            run, "model.name=tiny-llama-xs", f"method.name={method}", "train.max_steps=1", "train.warmup_steps=0",
            "train.lr_scheduler=constant", "train.weight_decay=0", "train.learning_rate=1e-3", "train.max_grad_norm=null",
            *extra)), show_progress=False)
        weights = load_file(str(run / "final" / "adapter_model.safetensors"))
        return torch.cat([tensor.flatten() for name, tensor in weights.items() if "lora_B" in name])

    lora, plus = first_step("lora"), first_step("loraplus", "method.lr_ratio=16")
    assert lora.abs().max().item() == pytest.approx(1e-3, rel=1e-3)
    assert plus.abs().max().item() == pytest.approx(16e-3, rel=1e-3)


def test_loraplus_groups_keep_weight_decay_and_biases_apart():
    model = adapted("loraplus")
    optimizer = methods.get("loraplus").make_optimizer(model, methods.get("loraplus").config_class(), lr=1e-4,
                                                       weight_decay=0.05, betas=(0.9, 0.999), eps=1e-8)
    names = {id(parameter): name for name, parameter in model.named_parameters()}
    by_name = {names[id(p)]: group for group in optimizer.param_groups for p in group["params"]}
    assert all(by_name[name]["lr"] == pytest.approx(1.6e-3) for name in by_name if "lora_B" in name)
    assert all(by_name[name]["lr"] == pytest.approx(1e-4) for name in by_name if "lora_A" in name)
    assert {group["weight_decay"] for group in optimizer.param_groups if group["params"]} == {0.05}
    assert len(by_name) == sum(parameter.requires_grad for parameter in model.parameters())


def test_vera_projections_are_shared_frozen_and_saved(tmp_path):
    model = moved(adapted("vera", r=16))
    counts = methods.count_parameters(model)
    layers, d, kv, inner = 2, 16, 8, 42
    outputs = (d + kv + kv + d + inner + inner + d)  # q, k, v, o, gate, up, down
    assert counts.trainable == layers * (7 * 16 + outputs)
    config = methods.get("vera").config_class(r=16)
    methods.get("vera").save(model, tmp_path, config, "tiny-llama-xs")
    saved = load_file(str(tmp_path / "adapter_model.safetensors"))
    assert any("vera_A" in name for name in saved) and any("vera_B" in name for name in saved)
    reloaded = methods.load_trained(models.tiny.build("tiny-llama-xs"), tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(TOKENS).logits, model(TOKENS).logits)


@pytest.mark.parametrize("method, merged", [("lora", False), ("pissa", False), ("dora", True), ("rslora", True),
                                            ("loha", True), ("ia3", True)])
def test_vllm_runs_plain_lora_itself_and_merges_the_rest(tmp_path, monkeypatch, method, merged):
    import sys
    import types

    from astraios.generate import resolve, vllm_offline
    from saved_methods import save_method

    # A stand-in for vLLM's LoRARequest: the decision is astraios', not vLLM's.
    fake = types.ModuleType("vllm.lora.request")
    fake.LoRARequest = lambda name, number, path: ("lora-request", path)
    for module in ("vllm", "vllm.lora"):
        monkeypatch.setitem(sys.modules, module, types.ModuleType(module))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", fake)
    monkeypatch.setenv("ASTRAIOS_CACHE_DIR", str(tmp_path / "cache"))  # where merged models are cached
    directory = save_method(tmp_path / method, method)
    model, request, how = vllm_offline._plan(resolve("tiny-gptbigcode-xs", str(directory)))
    if merged:
        assert request is None and "merged with transformers" in how and (tmp_path / "cache") in __import__("pathlib").Path(model).parents
    else:
        assert request == ("lora-request", str(directory)) and how == "vLLM LoRA"


@pytest.mark.parametrize("override, message", [
    (["method.name=pissa", "model.quantization=8bit"], "method pissa trains on an unquantised base, but model.quantization "
                                                       "is 8bit"),
    (["method.name=loha", "model.quantization=4bit"], "method loha cannot train on 4bit bases: peft's LoHa and LoKr "
                                                      "layers read the base weight's shape"),
    (["method.name=lokr", "model.quantization=4bit"], "method lokr cannot train on 4bit bases"),
    (["method.name=loraplus", "method.lr_ratio=0.5"], "`method.lr_ratio`: Input should be greater than or equal to 1"),
    (["method.name=lora", "method.lr_ratio=16"], "`method.lr_ratio`: unknown key"),  # only LoRA+ has one
    (["method.name=pissa", "method.svd_iterations=0"], "`method.svd_iterations`: Input should be greater than 0"),
])
def test_config_errors_name_the_field_and_a_fix(override, message):
    from astraios.config import ConfigError

    with pytest.raises(ConfigError, match="Fix:") as caught:
        load_config(None, override)
    assert message in str(caught.value)


def test_pissa_loads_its_base_in_full_precision_even_where_auto_would_quantise(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # where `auto` means an 8-bit PEFT base
    pissa = methods.get("pissa")
    assert models.quantization_plan("auto", pissa.parameter_efficient, pissa.base_quantization) == (None, None)
