"""Bottleneck adapters (AdapterH, AdapterP, Parallel): placements, counts, identity, save/load, training."""

from __future__ import annotations

import pytest
import torch

from astraios import methods, models
from astraios.config import ConfigError, load_config
from astraios.methods import bottleneck
from conftest import tiny_overrides

BOTTLENECK_METHODS = ["adapterh", "adapterp", "parallel"]
TINY = ["tiny-gptbigcode-s", "tiny-llama-s"]

# (n_embd, n_layer, n_head) of each StarCoderBase, from the Hub configs.
STARCODER = {
    "starcoderbase-1b": (2048, 24, 16),
    "starcoderbase-3b": (2816, 36, 22),
    "starcoderbase-7b": (4096, 42, 32),
    "starcoderbase-15b": (6144, 40, 48),
}


def closed_form(width: int, layers: int, heads: int, b: int = 256) -> dict[str, int]:
    """The study's trainable parameters: no biases, AdapterH = 2 series d->b->d adapters per layer,
    AdapterP = 1, Parallel = d->b->qkv beside c_attn (multi-query: one key and one value head)."""
    square = 2 * width * b
    qkv = width + 2 * (width // heads)
    return {"adapterh": 2 * layers * square, "adapterp": layers * square, "parallel": layers * (width * b + b * qkv)}


def adapted(model_name: str, method: str, **settings):
    return methods.apply(models.tiny.build(model_name), methods.get(method).config_class(**settings))


def roles(model) -> dict[str, str]:
    """Adapted module name -> role."""
    return {
        name.removesuffix(".bottleneck"): module.role
        for name, module in model.named_modules()
        if isinstance(module, bottleneck.Bottleneck)
    }


def adapter_names(model) -> set[str]:
    return {name for name, _ in model.named_parameters() if ".bottleneck." in name}


def test_registered_after_ia3_in_order():
    names = list(methods.METHODS)
    assert names[names.index("ia3") + 1 :][:3] == BOTTLENECK_METHODS


def test_study_numbers_for_starcoderbase_1b():
    assert closed_form(*STARCODER["starcoderbase-1b"]) == {
        "adapterh": 50_331_648,
        "adapterp": 25_165_824,
        "parallel": 26_738_688,
    }


@pytest.mark.parametrize("size", STARCODER)
def test_trainable_parameters_match_closed_form(size):
    expected = closed_form(*STARCODER[size])
    base_total = methods.count_parameters(models.meta_model(size)).total
    for method in BOTTLENECK_METHODS:
        counts = methods.count_parameters(methods.apply(models.meta_model(size), methods.get(method).config_class()))
        assert counts.trainable == expected[method], method
        assert counts.total == base_total + expected[method], method


def test_accounting_lists_every_method():
    from astraios.methods.accounting import parameter_table

    table = {row["method"]: row["trainable"] for row in parameter_table("starcoderbase-1b")}
    assert list(table) == [*methods.STUDY_METHODS, "qlora", "dora", "rslora", "pissa", "loraplus", "vera", "loha", "lokr"]
    assert list(methods.STUDY_METHODS) == ["full", "lora", "ptuning", "ia3", *BOTTLENECK_METHODS]
    assert [table[m] for m in BOTTLENECK_METHODS] == [50_331_648, 25_165_824, 26_738_688]
    # QLoRA, r=64 on every Linear of 24 blocks of width 2,048 (fused multi-query c_attn 2,048 -> 2,304, MLP 8,192):
    # r x (in + out) per layer: c_attn 4,352 + attn.c_proj 4,096 + c_fc 10,240 + mlp.c_proj 10,240.
    assert table["qlora"] == 24 * 64 * (4_352 + 4_096 + 10_240 + 10_240)


@pytest.mark.parametrize(
    "model_name, placement, method, expected",
    [
        ("tiny-gptbigcode-s", "astraios", "adapterh", {"mlp.c_fc": "series_before", "mlp.c_proj": "series_after"}),
        ("tiny-gptbigcode-s", "astraios", "adapterp", {"mlp.c_proj": "series_after"}),
        ("tiny-gptbigcode-s", "astraios", "parallel", {"attn.c_attn": "parallel"}),
        ("tiny-llama-s", "astraios", "adapterh", {"mlp.gate_proj": "series_before", "mlp.up_proj": "series_before", "mlp.down_proj": "series_after"}),
        ("tiny-llama-s", "astraios", "adapterp", {"mlp.down_proj": "series_after"}),
        ("tiny-llama-s", "astraios", "parallel", {"self_attn.q_proj": "parallel", "self_attn.k_proj": "parallel", "self_attn.v_proj": "parallel"}),
        ("tiny-gptbigcode-s", "classic", "adapterh", {"attn.c_proj": "series_after", "mlp.c_proj": "series_after"}),
        ("tiny-gptbigcode-s", "classic", "adapterp", {"mlp.c_proj": "series_after"}),
        ("tiny-gptbigcode-s", "classic", "parallel", {"mlp": "parallel"}),
        ("tiny-llama-s", "classic", "adapterh", {"self_attn.o_proj": "series_after", "mlp.down_proj": "series_after"}),
        ("tiny-llama-s", "classic", "parallel", {"mlp": "parallel"}),
    ],
)
def test_default_placements(model_name, placement, method, expected):
    model = adapted(model_name, method, placement=placement)
    found = roles(model)
    layers = {name.split(".")[2] for name in found}  # model.layers.N... / transformer.h.N...
    assert len(layers) == model.config.num_hidden_layers
    per_layer = {name.split(".", 3)[3]: role for name, role in found.items()}
    assert per_layer == expected
    assert len(found) == len(expected) * model.config.num_hidden_layers


def test_init_follows_placement_unless_set():
    config_class = methods.get("adapterh").config_class
    assert config_class().init == "normal"
    assert config_class(placement="classic").init == "zero_up"
    assert config_class(placement="classic", init="normal").init == "normal"


def test_study_init_draws_both_projections_from_normal():
    torch.manual_seed(0)
    model = adapted("tiny-llama-m", "adapterp")
    for name, parameter in model.named_parameters():
        if ".bottleneck." in name:
            assert abs(parameter.std().item() - 0.02) < 0.002, name


@pytest.mark.parametrize("model_name", TINY)
@pytest.mark.parametrize("method", BOTTLENECK_METHODS)
@pytest.mark.parametrize("placement", ["astraios", "classic"])
def test_zero_up_is_the_base_model_at_step_0(model_name, method, placement):
    ids = torch.randint(0, models.tiny.VOCAB_SIZE, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = models.tiny.build(model_name).eval()(ids).logits
        model = adapted(model_name, method, placement=placement, init="zero_up").eval()
        assert torch.equal(model(ids).logits, base)
        study = adapted(model_name, method, placement=placement, init="normal").eval()
        assert not torch.equal(study(ids).logits, base)  # the hooks do run


@pytest.mark.parametrize("model_name", TINY)
@pytest.mark.parametrize("method", BOTTLENECK_METHODS)
def test_gradients_reach_only_adapter_weights(model_name, method):
    model = adapted(model_name, method, scaling="learned")
    ids = torch.randint(0, models.tiny.VOCAB_SIZE, (2, 24), generator=torch.Generator().manual_seed(0))
    model(input_ids=ids, labels=ids).loss.backward()
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    with_grad = {name for name, parameter in model.named_parameters() if parameter.grad is not None}
    assert trainable == with_grad == adapter_names(model)
    assert any(name.endswith("bottleneck.scaling") for name in trainable)
    for name, parameter in model.named_parameters():
        if parameter.grad is not None:
            assert parameter.grad.abs().sum() > 0, name


def test_adapters_run_in_float32_beside_a_bf16_base():
    model = methods.apply(models.tiny.build("tiny-gptbigcode-s", dtype=torch.bfloat16), methods.get("adapterh").config_class())
    ids = torch.randint(0, models.tiny.VOCAB_SIZE, (2, 16), generator=torch.Generator().manual_seed(0))
    output = model(input_ids=ids, labels=ids)
    assert output.logits.dtype == torch.bfloat16
    output.loss.backward()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            assert parameter.dtype == parameter.grad.dtype == torch.float32, name


@pytest.mark.parametrize("model_name, method", [("tiny-gptbigcode-s", "adapterh"), ("tiny-llama-s", "parallel")])
def test_save_and_reload_give_identical_logits(tmp_path, model_name, method):
    config = methods.get(method).config_class(scaling="learned", non_linearity="gelu")
    model = methods.apply(models.tiny.build(model_name), config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:  # as if trained: every adapter weight moves, the scalars too
                parameter.add_(torch.randn_like(parameter) * 0.05)
    methods.get(method).save(model, tmp_path, config, model_name)
    assert {path.name for path in tmp_path.iterdir()} == {
        "astraios_method.json",
        bottleneck.CONFIG_FILE,
        bottleneck.WEIGHTS_FILE,
    }
    from safetensors.torch import load_file

    assert set(load_file(str(tmp_path / bottleneck.WEIGHTS_FILE))) == adapter_names(model)

    rng = torch.random.get_rng_state()
    reloaded = methods.load_trained(models.tiny.build(model_name), tmp_path).eval()
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert methods.count_parameters(reloaded).trainable == 0
    ids = torch.randint(0, models.tiny.VOCAB_SIZE, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(reloaded(ids).logits, model(ids).logits)


def test_reload_onto_another_architecture_fails_clearly(tmp_path):
    config = methods.get("adapterp").config_class()
    methods.get("adapterp").save(adapted("tiny-llama-s", "adapterp"), tmp_path, config)
    with pytest.raises(ValueError, match="matches no module of this gpt_bigcode model"):
        methods.load_trained(models.tiny.build("tiny-gptbigcode-s"), tmp_path)


def test_applying_twice_fails_clearly():
    model = adapted("tiny-gptbigcode-s", "adapterp")
    with pytest.raises(ValueError, match="already has a bottleneck adapter"):
        methods.apply(model, methods.get("adapterp").config_class())


def tiny_gpt2():
    from transformers import AutoModelForCausalLM, GPT2Config

    return AutoModelForCausalLM.from_config(
        GPT2Config(n_embd=16, n_layer=2, n_head=2, vocab_size=64, bos_token_id=0, eos_token_id=0)
    )


@pytest.mark.parametrize("method", BOTTLENECK_METHODS)
def test_unsupported_architecture_names_supported_ones_and_the_fix(method):
    with pytest.raises(ValueError) as caught:
        methods.apply(tiny_gpt2(), methods.get(method).config_class())
    message = str(caught.value)
    assert "`gpt2`" in message
    assert "gpt_bigcode" in message and "llama" in message
    assert "method.target_modules" in message and "series_after" in message


def test_explicit_targets_adapt_any_architecture():
    model = methods.apply(tiny_gpt2(), methods.get("parallel").config_class(target_modules={"parallel": ["mlp"]}))
    assert roles(model) == {"transformer.h.0.mlp": "parallel", "transformer.h.1.mlp": "parallel"}
    assert model(torch.tensor([[1, 2, 3]])).logits.shape == (1, 3, 64)


@pytest.mark.parametrize(
    "targets, message",
    [
        ({"series_after": ["mlp.nothing"]}, "matches no module"),
        ({"series_after": ["c_proj"], "parallel": ["mlp.c_proj"]}, "more than one bottleneck target"),
        ({"series_after": ["ln_1"]}, "attach to Linear layers or to blocks"),
    ],
)
def test_bad_explicit_targets_fail_clearly(targets, message):
    with pytest.raises(ValueError, match=message):
        adapted("tiny-gptbigcode-s", "adapterp", target_modules=targets)


@pytest.mark.parametrize(
    "override, message",
    [
        ("method.placement=papers", "'astraios' or 'classic'"),
        ("method.bottleneck_size=0", "greater than 0"),
        ("method.non_linearity=swish", "'tanh', 'relu'"),
        ("method.dropout=1", "less than 1"),
        ("method.scaling=big", "number or `learned`"),
        ("method.init=xavier", "'normal' or 'zero_up'"),
        ("method.target_modules=[c_fc]", "maps roles to module names"),
        ("method.target_modules={middle: [c_fc]}", "'series_before', 'series_after' or 'parallel'"),
        ("method.target_modules={series_after: []}", "names no module"),
        ("method.target_modules={series_after: [c_fc], parallel: [c_fc]}", "both series_after and parallel"),
    ],
)
def test_config_errors_name_the_field_and_a_fix(override, message):
    with pytest.raises(ConfigError) as caught:
        load_config(None, ["method.name=adapterh", override])
    assert message in str(caught.value)
    assert "Fix" in str(caught.value)


@pytest.mark.parametrize("model_name", TINY)
@pytest.mark.parametrize("method", BOTTLENECK_METHODS)
def test_training_lowers_the_test_loss(tmp_path, model_name, method):
    from astraios import train

    overrides = tiny_overrides(
        tmp_path,
        f"model.name={model_name}",
        f"method.name={method}",
        "data.loss_on=all",
        "train.max_steps=12",
        "train.eval_every=12",
        "train.save_every=100",
        "train.learning_rate=3e-2",
    )
    summary = train.run(load_config(None, overrides), overwrite=True, show_progress=False)
    # A random base barely moves (its frozen head bounds the logits), but the adapters must move it.
    assert summary["final_test_loss"] < summary["initial_test_loss"] - 0.01
    reloaded = methods.load_trained(models.tiny.build(model_name), tmp_path / "final")
    assert len(adapter_names(reloaded)) > 0


@pytest.mark.parametrize("quantization", ["8bit", "4bit"])
def test_adapters_beside_a_quantized_base(quantization):
    """On a GPU (bf16) where there is one, else on the CPU (float32): bitsandbytes runs on both."""
    bnb = pytest.importorskip("bitsandbytes")
    cuda = torch.cuda.is_available()
    base = models.load_model("tiny-llama-s", dtype=torch.bfloat16 if cuda else torch.float32,
                             quantization=quantization).eval()
    ids = torch.randint(0, models.tiny.VOCAB_SIZE, (2, 24), generator=torch.Generator().manual_seed(0))
    ids = ids.to(next(base.parameters()).device)
    with torch.no_grad():
        expected = base(ids).logits
    model = methods.apply(base, methods.get("adapterh").config_class(init="zero_up"))
    quantized = {"8bit": bnb.nn.Linear8bitLt, "4bit": bnb.nn.Linear4bit}[quantization]
    assert isinstance(model.model.layers[0].mlp.down_proj, quantized)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, expected)
    model(input_ids=ids, labels=ids).loss.backward()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            assert parameter.dtype == torch.float32 and parameter.grad is not None, name
