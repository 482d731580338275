"""Methods: registry, closed-form parameter counts, architectures, save/load round trips."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from astraios import methods, models
from astraios.cli import app
from astraios.methods.accounting import parameter_table

VOCAB, POSITIONS = 49152, 8192
STARCODER = {  # name: (n_embd, n_layer, n_head), from the models' Hub config.json
    "starcoderbase-1b": (2048, 24, 16),
    "starcoderbase-3b": (2816, 36, 22),
    "starcoderbase-7b": (4096, 42, 32),
    "starcoderbase-15b": (6144, 40, 48),
}


def closed_form(d: int, layers: int, heads: int) -> dict[str, int]:
    """Parameter counts of GPTBigCode (multi-query attention, 4x MLP, tied head) written out by hand."""
    qkv = d + 2 * (d // heads)  # one query per head, one shared key and value
    per_layer = 2 * 2 * d + (d * qkv + qkv) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    base = VOCAB * d + POSITIONS * d + layers * per_layer + 2 * d
    return {
        "base": base,
        "full": base,
        "lora": layers * 8 * ((d + qkv) + (d + d) + (4 * d + d)),
        "ptuning": 30 * d + 3 * (d * d + d),
        "ia3": layers * (qkv + 4 * d),
    }


def test_issue_figures_for_starcoderbase_1b():
    rows = {row["method"]: row for row in parameter_table("starcoderbase-1b")}
    assert rows["lora"]["trainable"] == 3_588_096
    assert rows["lora"]["base_total"] == 1_137_207_296
    assert rows["full"]["trainable"] == rows["full"]["total"] == 1_137_207_296


@pytest.mark.parametrize("name", list(STARCODER))
def test_counts_match_closed_form(name):
    expected = closed_form(*STARCODER[name])
    rows = {row["method"]: row for row in parameter_table(name)}
    for method in ("full", "lora", "ptuning", "ia3"):
        assert rows[method]["trainable"] == expected[method], method
        added = 0 if method == "full" else expected[method]
        assert rows[method]["total"] == expected["base"] + added, method
        assert rows[method]["trainable_percent"] == pytest.approx(100 * expected[method] / (expected["base"] + added))


def test_llama_defaults_adapt_every_projection():
    model = models.meta_model("tiny-llama-s")
    config = model.config
    d, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    kv = config.num_key_value_heads * (d // config.num_attention_heads)
    per_layer_in_out = (d + d) + (d + kv) * 2 + (d + d) + (d + inner) * 2 + (inner + d)
    adapted = methods.apply(model, methods.get("lora").config_class())
    assert methods.count_parameters(adapted).trainable == layers * 8 * per_layer_in_out
    ia3 = methods.apply(models.meta_model("tiny-llama-s"), methods.get("ia3").config_class())
    assert methods.count_parameters(ia3).trainable == layers * (d + kv + kv + inner)


def test_unsupported_architecture_names_supported_and_fix():
    from transformers import AutoModelForCausalLM, GPT2Config

    gpt2 = AutoModelForCausalLM.from_config(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=64))
    with pytest.raises(ValueError, match=r"no default target modules for model type `gpt2`.*gpt_bigcode.*target_modules"):
        methods.apply(gpt2, methods.get("lora").config_class())
    explicit = methods.get("lora").config_class(target_modules=["c_attn"])
    assert methods.count_parameters(methods.apply(gpt2, explicit)).trainable == 8 * (32 + 96)


def test_unknown_method_lists_available():
    with pytest.raises(KeyError, match="available: full, lora, ptuning, ia3"):
        methods.get("adalora")


@pytest.mark.parametrize("name", [name for name in methods.METHODS if methods.get(name).family != "bottleneck"])
@pytest.mark.parametrize("model_name", ["tiny-gptbigcode-xs", "tiny-llama-xs"])
def test_save_and_load_round_trip_gives_identical_logits(tmp_path, name, model_name):
    method = methods.get(name)
    tuned = method.apply(models.tiny.build(model_name), method.config_class())
    torch.manual_seed(0)
    with torch.no_grad():  # move the trained weights away from their initial values
        for parameter in tuned.parameters():
            if parameter.requires_grad:
                parameter.add_(0.1 * torch.randn_like(parameter))
    tuned.eval()
    method.save(tuned, tmp_path, method.config_class(), model_name)
    reloaded = methods.load_trained(models.tiny.build(model_name), tmp_path).eval()
    tokens = torch.tensor([[5, 17, 300, 42, 9, 1000]])
    with torch.no_grad():
        torch.testing.assert_close(reloaded(tokens).logits, tuned(tokens).logits)  # float32 defaults: rtol 1.3e-6, atol 1e-5
        # P-Tuning returns logits for its virtual tokens too: compare the real positions with the base.
        real = reloaded(tokens).logits[:, -tokens.shape[1] :]
        assert not torch.allclose(real, models.tiny.build(model_name)(tokens).logits)


def test_saved_lora_loads_with_plain_peft(tmp_path):
    from peft import PeftModel

    lora = methods.get("lora")
    tuned = lora.apply(models.tiny.build("tiny-gptbigcode-xs"), lora.config_class())
    lora.save(tuned, tmp_path, lora.config_class(), "tiny-gptbigcode-xs")
    assert (tmp_path / "adapter_model.safetensors").is_file()
    loaded = PeftModel.from_pretrained(models.tiny.build("tiny-gptbigcode-xs"), str(tmp_path))
    assert methods.count_parameters(loaded).total == methods.count_parameters(tuned).total


def test_load_trained_rejects_foreign_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory saved by astraios"):
        methods.load_trained(models.tiny.build("tiny-gptbigcode-xs"), tmp_path)


def test_methods_cli_prints_the_table():
    result = CliRunner().invoke(app, ["methods", "--model", "starcoderbase-1b"])
    assert result.exit_code == 0, result.output
    for fragment in ("LoRA", "3,588,096", "1,137,207,296", "P-Tuning", "(IA)3", "FFT", "0.3145"):
        assert fragment in result.output
    failed = CliRunner().invoke(app, ["methods", "--model", "no-such-model"])
    assert failed.exit_code == 1
    assert "unknown model `no-such-model`" in failed.output and "tiny-{gptbigcode,llama," in failed.output
    assert "qwen2.5-coder-7b" in failed.output
    typo = CliRunner().invoke(app, ["methods", "--model", "qwen2.5-coder-7"])
    assert typo.exit_code == 1 and "did you mean `qwen2.5-coder-7b`?" in typo.output


def test_the_documented_methods_table_is_what_methods_prints():
    import json
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "training.md").read_text()
    table = page.split("`astraios methods --model starcoderbase-1b`", 1)[1].split("\n\n", 2)[1]
    documented = [row.strip("|").split(" | ") for row in table.splitlines()[2:]]
    result = CliRunner().invoke(app, ["methods", "--model", "starcoderbase-1b", "--json"])
    assert result.exit_code == 0, result.output
    printed = [[m["title"], m["method"], m["family"], f"{m['trainable']:,}", f"{m['total']:,}",
                f"{m['trainable_percent']:.4f}"] for m in json.loads(result.output)]
    assert [[cell.strip() for cell in row] for row in documented] == printed
    # the bottleneck section quotes the same counts
    for m in json.loads(result.output):
        if m["family"] == "bottleneck":
            assert re.search(rf"{re.escape(m['title'])} {m['trainable']:,}", page), m["title"]
