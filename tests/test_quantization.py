"""Quantized bases (model.quantization: 8bit, 4bit; QLoRA), really run through bitsandbytes: on the
GPU where there is one, else on the CPU (bitsandbytes 0.50 has CPU kernels for both).

Cheap checks run in the default suite: the layers are quantized (the int8 and NF4 weights equal an
independent quantization of the float weights), LoRA and QLoRA train, resume and load onto the
unquantized base, and a quantized model generates. The full matrix, every PEFT method on an 8-bit
and on a 4-bit base, is marked `accelerated` (`make test-accelerated`).
"""

from __future__ import annotations

import shutil

import pytest
import torch

from astraios import methods, models, train
from astraios.config import load_config
from astraios.core.io import read_jsonl
from conftest import float32_approx, tiny_overrides

bnb = pytest.importorskip("bitsandbytes")

PEFT_METHODS = [name for name, method in methods.METHODS.items() if method.parameter_efficient]
QUANTIZATIONS = ["8bit", "4bit"]
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
# Step sizes that move each method visibly in a dozen steps of a tiny base (as tests/test_train.py). LoRA+
# moves B 16 times as fast as A: at 1e-2 (B at 0.16) its test loss rises; 2e-3 gives B 3.2e-2.
LEARNING_RATES = {"ia3": "1e-1", "loraplus": "2e-3"}


def _trains_on(method: str, quantization: str) -> bool:
    entry = methods.get(method)
    return (entry.base_quantization in (None, quantization)
            and not (entry.refuse_base and entry.refuse_base(quantization, DEVICE)))
# NF4's 16 levels on [-1, 1] (Dettmers et al., 2023, appendix E): a weight lands on the nearest, so
# it moves by at most half the widest gap times its block's absmax.
NF4_LEVELS = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
              -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
              0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
              0.7229568362236023, 1.0]


@pytest.mark.parametrize("name", ["tiny-gptbigcode-s", "tiny-llama-s"])
@pytest.mark.parametrize("quantization", QUANTIZATIONS)
def test_linear_layers_are_quantized(name, quantization):
    reference = models.load_model(name)
    model = models.load_model(name, quantization=quantization)
    weights = dict(reference.named_parameters())
    kind = {"8bit": bnb.nn.Linear8bitLt, "4bit": bnb.nn.Linear4bit}[quantization]
    linear = {module_name: module for module_name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    assert linear and all(isinstance(module, kind) for module_name, module in linear.items() if module_name != "lm_head")
    for module_name, module in linear.items():
        if module_name == "lm_head":
            continue
        original = weights[f"{module_name}.weight"].detach().to(module.weight.device)
        if quantization == "8bit":
            # LLM.int8(): each output row scaled by its absmax to [-127, 127] and rounded.
            assert module.weight.dtype == torch.int8
            expected = torch.round(original * 127 / original.abs().amax(dim=1, keepdim=True))
            assert (module.weight.float() - expected).abs().max() <= 1  # float16 rounding of the scale
        else:
            # NF4: packed two to a byte; de-quantized, every weight is within half a level gap of its block.
            assert module.weight.dtype == torch.uint8 and module.weight.numel() * 2 == original.numel()
            restored = bnb.functional.dequantize_4bit(module.weight.data, module.weight.quant_state).float()
            blocks = original.flatten().view(-1, 64)
            gap = max(b - a for a, b in zip(NF4_LEVELS, NF4_LEVELS[1:]))
            # Double quantization stores each block's absmax in 8 bits too: off by up to ~1% of it (0.7% seen).
            bound = blocks.abs().amax(dim=1, keepdim=True) * (gap / 2 + 0.01)
            assert ((restored.flatten().view(-1, 64) - blocks).abs() <= bound).all()


def _run(run_dir, method: str, quantization: str, base: str, resume: bool = False) -> dict:
    config = load_config(None, tiny_overrides(
        run_dir, f"model.name={base}", f"method.name={method}", f"model.quantization={quantization}",
        f"train.learning_rate={LEARNING_RATES.get(method, '1e-2')}", "train.max_steps=12", "train.eval_every=6",
        "train.save_every=6", *(["method.dropout=0"] if "lora" in method else []),
    ))
    return train.run(config, resume=resume, show_progress=False)


def _curve(run_dir) -> list[tuple]:
    return [(r["step"], r["split"], r["loss"]) for r in read_jsonl(run_dir / "losses.jsonl")]


def _check_quantized_training(tmp_path, base: str, method: str, quantization: str):
    """Loss falls; resumed from its checkpoint the run ends as the uninterrupted one; the adapter
    loads onto the unquantized base and changes its outputs. Returns the run directory."""
    whole = tmp_path / "whole"
    summary = _run(whole, method, quantization, base)
    assert summary["base_quantization"] == quantization
    assert summary["final_train_loss"] < summary["first_train_loss"] - 0.05, summary
    assert summary["final_test_loss"] < summary["initial_test_loss"], summary

    resumed = tmp_path / "resumed"
    shutil.copytree(whole, resumed)
    shutil.rmtree(resumed / "final")
    (resumed / "summary.json").unlink()
    _run(resumed, method, quantization, base, resume=True)  # from the step-6 checkpoint
    assert [point[:2] for point in _curve(resumed)] == [point[:2] for point in _curve(whole)]
    assert [point[2] for point in _curve(resumed)] == float32_approx([point[2] for point in _curve(whole)])

    trained = methods.load_trained(models.load_model(base), whole / "final")
    assert not any(isinstance(module, (bnb.nn.Linear8bitLt, bnb.nn.Linear4bit)) for module in trained.modules())
    ids = torch.tensor([[5, 17, 33, 250, 7]])
    with torch.no_grad():
        tuned, plain = trained(input_ids=ids).logits[:, -5:], models.load_model(base)(input_ids=ids).logits
    assert torch.isfinite(tuned).all() and not torch.allclose(tuned, plain)
    return whole


@pytest.mark.parametrize(("method", "quantization"), [("lora", "8bit"), ("qlora", "4bit")])
def test_lora_and_qlora_train_on_quantized_bases_and_generate(tmp_path, warm_base, method, quantization):
    from astraios.generate import create_backend, resolve

    run_dir = _check_quantized_training(tmp_path, warm_base, method, quantization)
    # Evaluation loads the base unquantized with the adapter merged; the quantized model generates too.
    backend = create_backend("transformers", resolve(str(run_dir)), batch_size=2)
    texts = backend.generate(["def add(a, b):", "# sort a list"], n=2, temperature=0.8, max_new_tokens=8)
    assert [len(row) for row in texts] == [2, 2] and all(isinstance(text, str) for row in texts for text in row)
    assert backend.describe()["adapter_merged"] is True
    quantized = methods.load_trained(models.load_model(warm_base, quantization=quantization), run_dir / "final")
    ids = torch.tensor([[5, 17, 33]], device=next(quantized.parameters()).device)
    output = quantized.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=6, do_sample=False)
    assert output.shape == (1, 9)


@pytest.mark.accelerated
@pytest.mark.parametrize(("method", "quantization"), [(method, quantization) for method in PEFT_METHODS
                                                      for quantization in QUANTIZATIONS if _trains_on(method, quantization)])
def test_every_peft_method_trains_on_a_quantized_base(tmp_path, warm_base, method, quantization):
    _check_quantized_training(tmp_path, warm_base, method, quantization)


def test_the_refused_pairs_are_the_known_library_limits():
    refused = {(method, quantization) for method in PEFT_METHODS for quantization in QUANTIZATIONS
               if methods.get(method).base_quantization in (None, quantization) and not _trains_on(method, quantization)}
    assert refused == {("loha", "4bit"), ("lokr", "4bit"), *([("dora", "8bit")] if DEVICE == "cpu" else [])}


@pytest.mark.skipif(DEVICE != "cpu", reason="DoRA on an 8-bit base is refused on a CPU only")
def test_dora_on_an_8bit_base_is_refused_on_a_cpu_before_the_run_directory_exists(tmp_path):
    from astraios.config import ConfigError

    with pytest.raises(ConfigError, match="method dora cannot train on 8bit bases on cpu: .* Fix: model.quantization: "
                                          "4bit or none"):
        _run(tmp_path / "run", "dora", "8bit", "tiny-gptbigcode-s")
    assert not (tmp_path / "run").exists()
