"""Config loading: the reference recipe, overrides, and one clear message per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from astraios.config import ConfigError, load_config
from conftest import REPO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def error_of(path, overrides=()) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return str(caught.value)


def test_reference_recipe_is_the_study():
    config = load_config(REPO / "configs/astraios.yaml")
    assert config.data.seq_len == 2048
    assert config.data.packing is True and config.data.loss_on == "all"
    assert (config.train.micro_batch_size, config.train.global_batch_size) == (1, 32)
    assert config.train.max_steps == 200 and config.train.warmup_steps == 12
    assert config.train.lr_scheduler == "cosine" and config.train.weight_decay == 0.05
    assert config.train.seed == 0 and config.train.eval_every == 10 and config.train.save_every == 10
    assert config.model.quantization == "auto"
    assert config.learning_rate == 1e-4
    assert load_config(REPO / "configs/astraios.yaml", ["method.name=full"]).learning_rate == 1e-6


def test_new_configs_default_to_answer_only_loss():
    assert load_config(None).data.loss_on == "answer"


def test_overrides_parse_yaml_values_and_fill_output_dir():
    config = load_config(None, ["train.max_steps=20", "method.name=ia3", "data.packing=true", "model.name=tiny-llama-s"])
    assert config.train.max_steps == 20 and config.data.packing is True
    assert config.method.name == "ia3"
    assert config.output_dir() == Path("runs/tiny-llama-s-ia3")


def test_method_fields_without_name_mean_the_default_method():
    assert load_config(None, ["method.r=16"]).method.r == 16


def test_source_shorthand(tmp_path):
    config = load_config(write(tmp_path, "data:\n  sources: bigcode/guanaco-commits\n"))
    assert [s.path for s in config.data.sources] == ["bigcode/guanaco-commits"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train:\n  max_step: 3\n", ["run.yaml", "train.max_step", "did you mean `max_steps`"]),
        ("method:\n  name: lora\n  alpah: 3\n", ["method.alpah", "did you mean `alpha`"]),
        ("method:\n  name: ia3\n  feedforward_modules: [x]\n", ["method", "set target_modules too"]),
        ("method:\n  name: lorra\n", ["`method`", "full, lora, ptuning, ia3"]),
        ("train:\n  max_steps: ten\n", ["train.max_steps", "valid integer", "'ten'"]),
        ("train:\n  max_steps: -5\n", ["train.max_steps", "greater than 0", "-5"]),
        ("method:\n  name: lora\n  dropout: 1.5\n", ["method.dropout", "less than 1"]),
        ("train:\n  global_batch_size: 10\n  micro_batch_size: 3\n", ["multiple of micro_batch_size"]),
        ("train:\n  warmup_steps: 50\n  max_steps: 10\n", ["warmup_steps (50) exceeds max_steps (10)"]),
        ("data:\n  loss_on: everything\n", ["data.loss_on", "'answer' or 'all'"]),
        ("data:\n  test_size: 2.5\n", ["data.test_size", "whole number"]),
        ("data:\n  sources: [{pth: x}]\n", ["data.sources.0.pth", "did you mean `path`"]),
        ("model:\n  load_in_8bit: true\nmethod:\n  name: full\n", ["full fine-tuning cannot train 8-bit"]),
        ("model:\n  quantization: 4bit\nmethod:\n  name: full\n", ["full fine-tuning cannot train 4-bit"]),
        ("model:\n  quantization: 8bit\nmethod:\n  name: qlora\n", ["method qlora trains on a 4bit base"]),
        ("model:\n  quantization: 8bit\n  load_in_8bit: false\n", ["disagree", "keep only model.quantization"]),
        ("model:\n  name: [unclosed\n", ["invalid YAML", "line"]),
        ("- a\n- b\n", ["top level must be a mapping"]),
    ],
)
def test_bad_config_messages(tmp_path, text, expected):
    message = error_of(write(tmp_path, text))
    assert "run.yaml" in message or "--set" in message
    for fragment in expected:
        assert fragment in message, message
    assert "Fix" in message


def test_missing_file_names_it(tmp_path):
    message = error_of(tmp_path / "nope.yaml")
    assert "nope.yaml" in message and "no such config file" in message


def test_override_errors_name_the_override():
    message = error_of(None, ["train.max_stepz=3"])
    assert "--set train.max_stepz=3" in message and "did you mean `max_steps`" in message
    assert "--set oops" in error_of(None, ["oops"])
    assert "--set train.max_steps.x=1" in error_of(None, ["train.max_steps.x=1"])
    assert "not a section" in error_of(None, ["train.max_steps=3", "train.max_steps.x=1"])


def test_several_problems_are_all_reported(tmp_path):
    message = error_of(write(tmp_path, "train:\n  max_steps: 0\n  seed: x\n"))
    assert "2 problems" in message and "train.max_steps" in message and "train.seed" in message


def test_switching_method_starts_its_section_from_the_new_methods_defaults(tmp_path):
    saved = tmp_path / "config.yaml"  # what a LoRA run directory holds: every LoRA field spelled out
    from astraios.core.io import write_yaml

    write_yaml(saved, load_config(None, ["method.name=lora", "method.r=16"]).to_dict())
    ia3 = load_config(saved, ["method.name=ia3"])
    assert ia3.method == load_config(None, ["method.name=ia3"]).method
    # Order on the command line does not matter: the new method's own fields apply on top of its defaults.
    tuned = load_config(saved, ["method.num_virtual_tokens=12", "method.name=ptuning"]).method
    assert tuned.name == "ptuning" and tuned.num_virtual_tokens == 12
    assert load_config(saved, ["method.name=lora"]).method.r == 16  # the same method keeps its settings
    assert "unknown key" in error_of(saved, ["method.name=ia3", "method.r=4"])  # r is LoRA's


def test_tiny_config_is_a_cpu_try_out_on_shipped_data():
    config = load_config(REPO / "configs/tiny.yaml")
    assert config.model.name.startswith("tiny-") and config.model.quantization == "none"
    assert [source.path for source in config.data.sources] == ["astraios-sample"]
    assert config.train.max_steps <= 50 and str(config.output_dir()) == "runs/tiny-gptbigcode-s-lora"
