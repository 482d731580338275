"""Model families: every shipped architecture's parameters and every method's trainable parameters
against closed forms written out by hand from the architectures; default targets name real modules;
mixture-of-experts models are refused with one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from astraios import methods, models
from astraios.cli import app
from astraios.methods import targets
from astraios.methods.accounting import parameter_table

# name: (family, width d, layers, heads, kv heads, head size, MLP width f, vocabulary, tied head), from each
# model's config.json; StarCoderBase-style GPTBigCode models: (family, d, layers, heads).
PUBLISHED = {
    "starcoder2-3b": ("starcoder2", 3072, 30, 24, 2, 128, 12288, 49152, True),
    "starcoder2-7b": ("starcoder2", 4608, 32, 36, 4, 128, 18432, 49152, True),
    "starcoder2-15b": ("starcoder2", 6144, 40, 48, 4, 128, 24576, 49152, True),
    "qwen2.5-coder-0.5b": ("qwen2", 896, 24, 14, 2, 64, 4864, 151936, True),
    "qwen2.5-coder-1.5b": ("qwen2", 1536, 28, 12, 2, 128, 8960, 151936, True),
    "qwen2.5-coder-3b": ("qwen2", 2048, 36, 16, 2, 128, 11008, 151936, True),
    "qwen2.5-coder-7b": ("qwen2", 3584, 28, 28, 4, 128, 18944, 152064, False),
    "qwen2.5-coder-14b": ("qwen2", 5120, 48, 40, 8, 128, 13824, 152064, False),
    "qwen2.5-coder-32b": ("qwen2", 5120, 64, 40, 8, 128, 27648, 152064, False),
    "qwen3-0.6b": ("qwen3", 1024, 28, 16, 8, 128, 3072, 151936, True),
    "qwen3-1.7b": ("qwen3", 2048, 28, 16, 8, 128, 6144, 151936, True),
    "qwen3-4b": ("qwen3", 2560, 36, 32, 8, 128, 9728, 151936, True),
    "qwen3-8b": ("qwen3", 4096, 36, 32, 8, 128, 12288, 151936, False),
    "qwen3-14b": ("qwen3", 5120, 40, 40, 8, 128, 17408, 151936, False),
    "qwen3-32b": ("qwen3", 5120, 64, 64, 8, 128, 25600, 151936, False),
    "deepseek-coder-1.3b": ("llama", 2048, 24, 16, 16, 128, 5504, 32256, False),
    "deepseek-coder-6.7b": ("llama", 4096, 32, 32, 32, 128, 11008, 32256, False),
    "deepseek-coder-33b": ("llama", 7168, 62, 56, 8, 128, 19200, 32256, False),
    "codellama-7b": ("llama", 4096, 32, 32, 32, 128, 11008, 32016, False),
    "codellama-13b": ("llama", 5120, 40, 40, 40, 128, 13824, 32016, False),
    "codellama-34b": ("llama", 8192, 48, 64, 8, 128, 22016, 32000, False),
    "codellama-70b": ("llama", 8192, 80, 64, 8, 128, 28672, 32016, False),
    "codestral-22b": ("mistral", 6144, 56, 48, 8, 128, 16384, 32768, False),
    "codegemma-2b": ("gemma", 2048, 18, 8, 1, 256, 16384, 256000, True),
    "codegemma-7b": ("gemma", 3072, 28, 16, 16, 256, 24576, 256000, True),
    "gemma-2-2b": ("gemma2", 2304, 26, 8, 4, 256, 9216, 256000, True),
    "gemma-2-9b": ("gemma2", 3584, 42, 16, 8, 256, 14336, 256000, True),
    "gemma-2-27b": ("gemma2", 4608, 46, 32, 16, 128, 36864, 256000, True),
    "phi-3-mini": ("phi3", 3072, 32, 32, 32, 96, 8192, 32064, False),
    "phi-3-medium": ("phi3", 5120, 40, 40, 10, 128, 17920, 32064, False),
    "phi-4": ("phi3", 5120, 40, 40, 10, 128, 17920, 100352, False),
    "phi-4-mini": ("phi3", 3072, 32, 24, 8, 128, 8192, 200064, True),
    "granite-3b-code": ("granite-code", 2560, 32, 32, 32, 80, 10240, 49152, True),
    "granite-8b-code": ("granite-code", 4096, 36, 32, 8, 128, 14336, 49152, True),
    "granite-3.1-2b": ("granite", 2048, 40, 32, 8, 64, 8192, 49155, True),
    "granite-3.1-8b": ("granite", 4096, 40, 32, 8, 128, 12800, 49155, True),
}
GPT_BIGCODE = {  # (d, layers, heads); vocabulary 49,152, 8,192 learned positions, 4x MLP, tied head
    "starcoderbase-1b": (2048, 24, 16),
    "starcoderbase-15b": (6144, 40, 48),
    "granite-20b-code": (6144, 52, 48),
    "granite-34b-code": (6144, 88, 48),
}
# One size per family: the default suite checks every method there, the slow one everywhere.
ONE_PER_FAMILY = ["starcoderbase-1b", "starcoder2-3b", "qwen2.5-coder-0.5b", "qwen3-0.6b", "deepseek-coder-1.3b",
                  "codestral-22b", "codegemma-2b", "gemma-2-2b", "phi-3-mini", "granite-3b-code", "granite-3.1-2b"]


def layer_shapes(name: str) -> dict:
    """Per layer: the projections (input, output) by role, and the parameters outside them."""
    if name in GPT_BIGCODE:
        d, layers, heads = GPT_BIGCODE[name]
        qkv = d + 2 * (d // heads)  # multi-query: one key and one value head
        return {"family": "gpt_bigcode", "d": d, "layers": layers, "mlp_width": 4 * d,
                "attention_in": [(d, qkv)], "attention_out": (d, d), "mlp_in": [(d, 4 * d)], "mlp_out": (4 * d, d),
                # biases of the four Linear layers and two LayerNorms per layer; embeddings, positions, final norm
                "per_layer_extra": qkv + d + 4 * d + d + 2 * 2 * d, "outside": 49152 * d + 8192 * d + 2 * d}
    family, d, layers, heads, kv, head, f, vocab, tied = PUBLISHED[name]
    q, k = heads * head, kv * head
    attention_in = [(d, q + 2 * k)] if family == "phi3" else [(d, q), (d, k), (d, k)]
    mlp_in = [(d, 2 * f)] if family == "phi3" else [(d, f)] if family == "starcoder2" else [(d, f), (d, f)]
    norms = {"gemma2": 4 * d, "starcoder2": 2 * 2 * d, "qwen3": 2 * d + 2 * head}.get(family, 2 * d)
    biases = {"qwen2": q + 2 * k,  # on queries, keys and values only
              "starcoder2": q + 2 * k + d + f + d,  # every Linear layer
              "granite-code": q + 2 * k + d + 2 * f + d}.get(family, 0)  # attention_bias and mlp_bias
    final_norm = 2 * d if family == "starcoder2" else d
    return {"family": family, "d": d, "layers": layers, "mlp_width": f, "attention_in": attention_in,
            "attention_out": (q, d), "mlp_in": mlp_in, "mlp_out": (f, d), "per_layer_extra": norms + biases,
            "outside": vocab * d * (1 if tied else 2) + final_norm}


def base_closed_form(name: str) -> int:
    shapes = layer_shapes(name)
    linear = [*shapes["attention_in"], shapes["attention_out"], *shapes["mlp_in"], shapes["mlp_out"]]
    per_layer = sum(i * o for i, o in linear) + shapes["per_layer_extra"]
    return shapes["layers"] * per_layer + shapes["outside"]


def lokr_factors(dimension: int) -> tuple[int, int]:
    """LoKr's split of a dimension into m <= n, m * n = dimension, as close to a square as possible."""
    m = max(i for i in range(1, math.isqrt(dimension) + 1) if dimension % i == 0)
    return m, dimension // m


def lokr(i: int, o: int, r: int = 8) -> int:
    """Trainable parameters of one LoKr layer: W1 full over the first factors; W2 low-rank (B·A) over the
    second factors unless r reaches half their larger side, where it is full."""
    (in_m, in_n), (out_l, out_k) = lokr_factors(i), lokr_factors(o)
    w2 = out_k * in_n if r >= max(out_k, in_n) / 2 else r * (out_k + in_n)
    return out_l * in_m + w2


def methods_closed_form(name: str) -> dict[str, int]:
    shapes = layer_shapes(name)
    d, layers = shapes["d"], shapes["layers"]
    all_linear = [*shapes["attention_in"], shapes["attention_out"], *shapes["mlp_in"], shapes["mlp_out"]]
    # LoRA's targets: GPTBigCode keeps the study's (no MLP input); every other family adapts every projection.
    adapted = ([*shapes["attention_in"], shapes["attention_out"], shapes["mlp_out"]]
               if shapes["family"] == "gpt_bigcode" else all_linear)
    b = 256  # bottleneck width
    lora = layers * 8 * sum(i + o for i, o in adapted)
    return {
        "qlora": layers * 64 * sum(i + o for i, o in all_linear),  # r 64 on every Linear of the blocks, the paper's
        "lora": lora, "rslora": lora, "pissa": lora, "loraplus": lora,
        "dora": lora + layers * sum(o for _, o in adapted),  # plus one magnitude per output feature
        "vera": layers * sum(256 + o for _, o in adapted),  # vectors d (length r) and b (one per output)
        "loha": layers * 2 * 8 * sum(i + o for i, o in adapted),
        "lokr": layers * sum(lokr(i, o) for i, o in adapted),
        "ptuning": 30 * d + 3 * (d * d + d),  # 30 virtual tokens + a 3-layer MLP encoder of width d
        "ia3": layers * (sum(o for _, o in shapes["attention_in"]) + shapes["mlp_width"]),
        "adapterh": layers * (len(shapes["mlp_in"]) + 1) * 2 * d * b,
        "adapterp": layers * 2 * d * b,
        "parallel": layers * sum(i * b + b * o for i, o in shapes["attention_in"]),
    }


def check_table(name: str, method_names) -> None:
    base = base_closed_form(name)
    expected = methods_closed_form(name)
    assert set(expected) == set(methods.METHODS) - {"full"}  # a closed form for every registered method
    rows = {row["method"]: row for row in parameter_table(name)}
    assert rows["full"]["trainable"] == rows["full"]["total"] == rows["full"]["base_total"] == base
    for method in method_names:
        assert rows[method]["trainable"] == expected[method], method
        assert rows[method]["total"] == base + expected[method], method


@pytest.mark.parametrize("name", ONE_PER_FAMILY)
def test_every_method_counts_its_closed_form_on_every_family(name):
    check_table(name, [name for name in methods.METHODS if name != "full"])


@pytest.mark.parametrize("name", [*PUBLISHED, *GPT_BIGCODE])
def test_every_shipped_size_matches_its_closed_form(name):
    base = methods.count_parameters(models.meta_model(name)).total
    assert base == base_closed_form(name)
    lora = methods.count_parameters(methods.apply(models.meta_model(name), methods.get("lora").config_class()))
    assert lora.trainable == methods_closed_form(name)["lora"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(PUBLISHED) | set(GPT_BIGCODE) - set(ONE_PER_FAMILY)))
def test_every_method_on_every_shipped_size(name):
    check_table(name, [name for name in methods.METHODS if name != "full"])


def test_methods_prints_every_count_offline(offline):
    result = CliRunner().invoke(app, ["methods", "--model", "qwen2.5-coder-7b", "--json"])
    assert result.exit_code == 0, result.output
    printed = {row["method"]: (row["trainable"], row["total"]) for row in json.loads(result.output)}
    base = base_closed_form("qwen2.5-coder-7b")
    expected = {"full": (base, base)} | {method: (trainable, base + trainable)
                                         for method, trainable in methods_closed_form("qwen2.5-coder-7b").items()}
    assert printed == expected


@pytest.mark.parametrize("name, total, non_embedding", [
    # "Number of Parameters" and "(Non-Embedding)" on each model card, in billions to two decimals (the cards
    # round 3.0859 up and 7.6156 down: within 0.01).
    ("qwen2.5-coder-1.5b", 1.54, 1.31), ("qwen2.5-coder-3b", 3.09, 2.77), ("qwen2.5-coder-7b", 7.61, 6.53),
])
def test_qwen_coder_counts_agree_with_the_model_cards(name, total, non_embedding):
    counted = methods.count_parameters(models.meta_model(name)).total
    family, d, *_, vocab, tied = PUBLISHED[name]
    assert abs(counted / 1e9 - total) < 0.01
    assert abs((counted - vocab * d * (1 if tied else 2)) / 1e9 - non_embedding) < 0.01


def test_the_table_names_every_shipped_model():
    shipped = set(models.sizes.PUBLISHED) - {"starcoderbase", "starcoderbase-3b", "starcoderbase-7b",
                                             "qwen3-coder-30b-a3b"}  # the StarCoders: tests/test_methods.py
    assert shipped == set(PUBLISHED) | set(GPT_BIGCODE)


# ----------------------------------------------------------------------------------------------
# Targets are real module names; mixture-of-experts refused


def test_every_family_has_tiny_models_and_a_size_checked_by_default():
    assert {spec.architecture for spec in models.tiny.TINY_MODELS.values()} == set(targets.FAMILIES)
    assert {models.model_config(name).model_type for name in ONE_PER_FAMILY} == set(targets.FAMILIES)


@pytest.mark.parametrize("family", list(models.tiny.FAMILIES))
def test_every_role_names_a_module_of_every_layer(family):
    model = models.tiny.build(f"tiny-{family}-xs")
    layer = targets.FAMILIES[model.config.model_type]
    names = [name for name, _ in model.named_modules()]
    layers = model.config.num_hidden_layers
    for target in layer.projections:
        matches = [name for name in names if name.endswith(f".{target}")]
        assert len(matches) == layers, target
        assert all(isinstance(model.get_submodule(name), torch.nn.Linear) for name in matches), target
    # Every Linear layer of a decoder layer has a role: nothing is left out of "every projection".
    linear = {name.split(".", 3)[3] for name, module in model.named_modules()
              if isinstance(module, torch.nn.Linear) and ".0." in name and "lm_head" not in name}
    assert {name for name in linear if not any(name.endswith(target) for target in layer.projections)} == set()


def test_a_mixture_of_experts_is_refused_in_one_line():
    result = CliRunner().invoke(app, ["methods", "--model", "qwen3-coder-30b-a3b"])
    assert result.exit_code == 0, result.output
    assert "30,532,122,624" in result.output  # full fine-tuning still counts every expert
    refusals = [line for line in result.output.splitlines() if "cannot adapt model type `qwen3_moe`" in line]
    assert len(refusals) == 1 and refusals[0].startswith("lora, ia3, adapterh")
    assert "128 experts" in refusals[0] and "Fix:" in refusals[0]
    rows = {row["method"]: row for row in parameter_table("qwen3-coder-30b-a3b")}
    assert rows["ptuning"]["trainable"] == 30 * 2048 + 3 * (2048 * 2048 + 2048)
    assert rows["lora"]["trainable"] is None and "mixture of 128 experts" in rows["lora"]["refused"]
    explicit = methods.get("lora").config_class(target_modules=["q_proj", "v_proj"])
    counts = methods.count_parameters(methods.apply(models.meta_model("qwen3-coder-30b-a3b"), explicit))
    assert counts.trainable == 48 * 8 * ((2048 + 4096) + (2048 + 512))  # explicit targets are the user's call


def test_an_unknown_family_lists_the_known_ones():
    from transformers import AutoModelForCausalLM, GPT2Config

    gpt2 = AutoModelForCausalLM.from_config(GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=64))
    with pytest.raises(targets.UnsupportedModel, match=r"`gpt2` \(supported: gemma, gemma2, gpt_bigcode, granite, "
                                                       r"llama, mistral, phi3, qwen2, qwen3, starcoder2\)"):
        methods.apply(gpt2, methods.get("dora").config_class())


def test_the_documented_counts_are_the_closed_forms():
    page = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    shipped = page.split("The shipped names", 1)[1].split("\n\n", 2)[1]
    rows = {cells[0].strip("`"): cells for cells in ([cell.strip() for cell in row.strip("|").split("|")]
                                                     for row in shipped.splitlines()[2:])}
    checked = set(rows) & (set(PUBLISHED) | set(GPT_BIGCODE))
    assert checked == set(PUBLISHED) | set(GPT_BIGCODE) - {"starcoderbase-15b"}  # documented as `starcoderbase`
    for name in checked:
        assert rows[name][3:5] == [f"{base_closed_form(name):,}", f"{methods_closed_form(name)['lora']:,}"], name
    printed = page.split("$ astraios methods --model qwen2.5-coder-7b\n", 1)[1].split("```", 1)[0]
    table = {cells[1]: cells[3:5] for cells in ([cell.strip() for cell in line.split("│")[1:-1]]
                                                 for line in printed.splitlines())}
    base = base_closed_form("qwen2.5-coder-7b")
    expected = {"full": (base, base)} | {method: (trainable, base + trainable)
                                         for method, trainable in methods_closed_form("qwen2.5-coder-7b").items()}
    assert table == {method: [f"{trainable:,}", f"{total:,}"] for method, (trainable, total) in expected.items()}
