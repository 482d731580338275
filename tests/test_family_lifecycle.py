"""Every method on a tiny model of every family: it trains, checkpoints, resumes to the same losses
and weights, generates, and exports to a plain model with the same outputs (or says why it cannot).

The default suite pairs each method with a family so that every method and every family runs at
least once; the slow suite runs every pair."""

from __future__ import annotations

import itertools
import json
import shutil

import pytest
import torch
from typer.testing import CliRunner

from astraios import methods, models, train
from astraios.cli import app
from astraios.config import load_config
from astraios.generate.export import CannotExport, export_run
from astraios.core.io import read_jsonl
from conftest import float32_approx, tiny_overrides

FAMILIES = list(models.tiny.FAMILIES)
METHODS = list(methods.METHODS)
# Method i on family i (mod the number of families): every method and every family at least once.
PAIRS = list(zip(METHODS, itertools.cycle(FAMILIES)))
REST = [(method, family) for method in METHODS for family in FAMILIES if (method, family) not in PAIRS]
TOKENS = torch.tensor([[5, 17, 300, 42, 9, 1000]])


def overrides(run_dir, method: str, family: str) -> list[str]:
    return tiny_overrides(
        run_dir, f"model.name=tiny-{family}-xs", f"method.name={method}", "data.seq_len=64",
        "data.sources=[{path: astraios-sample, limit: 16}]", "data.test_size=4", "train.max_steps=4",
        "train.save_every=2", "train.eval_every=2", "train.global_batch_size=2", "train.micro_batch_size=2",
        "train.learning_rate=3e-2",
    )


def logits(run_dir, base: str):
    model = methods.load_trained(models.load_model(base), run_dir / "final").eval()
    with torch.no_grad():
        return model(TOKENS).logits[:, -TOKENS.shape[1]:]  # P-Tuning: the real positions only


def lifecycle(tmp_path, method: str, family: str) -> None:
    base = f"tiny-{family}-xs"
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    train.run(load_config(None, overrides(whole, method, family)), show_progress=False)

    # A crash after the checkpoint of step 2: the step-2 checkpoint is all that is left of the run's progress.
    shutil.copytree(whole, resumed)
    shutil.rmtree(resumed / "final")
    (resumed / "summary.json").unlink()
    train.run(load_config(None, overrides(resumed, method, family)), resume=True, show_progress=False)
    curve = [(r["step"], r["split"]) for r in read_jsonl(whole / "losses.jsonl")]
    assert [(r["step"], r["split"]) for r in read_jsonl(resumed / "losses.jsonl")] == curve
    for before, after in zip(read_jsonl(whole / "losses.jsonl"), read_jsonl(resumed / "losses.jsonl")):
        assert after["loss"] == float32_approx(before["loss"])
    tuned = logits(whole, base)
    torch.testing.assert_close(logits(resumed, base), tuned)  # float32 defaults: rtol 1.3e-6, atol 1e-5
    if method != "full":
        with torch.no_grad():
            assert not torch.allclose(tuned, models.load_model(base)(TOKENS).logits), "training changed nothing"

    generated = CliRunner().invoke(app, ["generate", str(whole), "--prompt", "Add two numbers.", "--n", "1",
                                         "--temperature", "0", "--max-new-tokens", "4", "--json"])
    assert generated.exit_code == 0, generated.output
    assert len(json.loads(generated.output)[0]["completions"]) == 1

    if methods.get(method).cannot_merge:
        with pytest.raises(CannotExport, match="cannot be exported as a plain model"):
            export_run(whole)
        return
    from transformers import AutoModelForCausalLM

    done = export_run(whole)
    plain = AutoModelForCausalLM.from_pretrained(done["output"]).eval()
    assert plain.config.model_type == models.tiny.TINY_MODELS[base].architecture
    with torch.no_grad():
        torch.testing.assert_close(plain(TOKENS).logits, tuned, rtol=1e-5, atol=1e-5)  # merged: rounding only


@pytest.mark.parametrize("method, family", PAIRS)
def test_every_method_and_every_family_train_resume_generate_and_export(tmp_path, method, family):
    lifecycle(tmp_path, method, family)


@pytest.mark.slow
@pytest.mark.parametrize("method, family", REST)
def test_every_method_on_every_family(tmp_path, method, family):
    lifecycle(tmp_path, method, family)


def test_the_pairs_cover_every_method_and_every_family():
    assert {method for method, _ in PAIRS} == set(METHODS)
    assert {family for _, family in PAIRS} == set(FAMILIES)
