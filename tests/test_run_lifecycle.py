"""A run from first try to hand-off: the offline quick start, a failed start retried, resuming a
run by its directory, sampling (`astraios generate`), exporting a plain model (`astraios export`)
and the loggers (TensorBoard, wandb)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
import types
import warnings

import pytest
import torch
from saved_methods import fake_run_dir
from typer.testing import CliRunner

from astraios import methods, models, train
from astraios.cli import app
from astraios.config import ConfigError, load_config
from astraios.generate.export import EXPORT_FILE, CannotExport, export_run
from astraios.core.io import read_jsonl
from conftest import REPO, float32_approx, tiny_overrides

runner = CliRunner()
NOISE = ("8-bit", "bitsandbytes", "FutureWarning", "is_gradient_checkpointing", "Position ids", "Traceback")


def sets(overrides: list[str]) -> list[str]:
    return [argument for override in overrides for argument in ("--set", override)]


def test_quick_start_trains_and_evaluates_offline_with_shipped_files_only(tmp_path, monkeypatch):
    """The README's quick start, shortened: configs/tiny.yaml, then eval on the shipped sample."""
    monkeypatch.delenv("ASTRAIOS_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    trained = runner.invoke(app, ["train", str(REPO / "configs" / "tiny.yaml"), "--quiet",
                                  *sets(["train.max_steps=2", "train.eval_every=2", "train.warmup_steps=1"])])
    assert trained.exit_code == 0, trained.output
    assert not [word for word in NOISE if word in trained.output], trained.output
    run_dir = "runs/tiny-gptbigcode-s-lora"
    evaluated = runner.invoke(app, ["eval", "--model", run_dir, "--tasks", "humanevalsynthesize-python",
                                    "--data-dir", "astraios-sample", "--limit", "2", "--n-samples", "1",
                                    "--max-new-tokens", "8", "--quiet"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "warning: humanevalsynthesize-python: partial data: 21 of the 164 problems" in evaluated.output
    assert "pass@1 0.0000" in evaluated.output and "2x1" in evaluated.output
    assert not [word for word in NOISE if word in evaluated.output], evaluated.output
    results = json.loads((tmp_path / run_dir / "eval" / "results.json").read_text())
    assert results["tasks"]["humanevalsynthesize-python"]["warnings"] == [
        "partial data: 21 of the 164 problems: scores are not comparable with the full benchmark's"]


def test_a_run_that_failed_before_its_first_step_is_simply_retried(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match="exceeds the model's context"):
        train.run(load_config(None, tiny_overrides(run_dir, "data.seq_len=100000")), show_progress=False)
    assert (run_dir / "config.yaml").is_file()  # written before the data failed
    # The corrected command, without any flag, and then --resume with yet another config: both just start.
    train.run(load_config(None, tiny_overrides(run_dir, "train.max_steps=2")), show_progress=False)
    assert load_config(run_dir / "config.yaml").train.max_steps == 2
    with pytest.raises(ConfigError, match="already holds a run"):  # a step is done now: protected again
        train.run(load_config(None, tiny_overrides(run_dir, "train.max_steps=3")), show_progress=False)

    failed = tmp_path / "failed-again"
    with pytest.raises(ValueError):
        train.run(load_config(None, tiny_overrides(failed, "data.seq_len=100000")), show_progress=False)
    summary = train.run(load_config(None, tiny_overrides(failed, "train.max_steps=2")), resume=True,
                        show_progress=False)
    assert summary["steps"] == 2


def test_train_run_dir_resume_uses_the_runs_own_config_from_anywhere(tmp_path, monkeypatch):
    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(first)
    overrides = tiny_overrides("runs/r")  # relative, as users write it
    whole = runner.invoke(app, ["train", str(REPO / "configs" / "tiny.yaml"), "--quiet", *sets(overrides)])
    assert whole.exit_code == 0, whole.output
    run_dir = first / "runs" / "r"
    expected = read_jsonl(run_dir / "losses.jsonl")
    # A crash after step 4's checkpoint: the run's outputs are gone, its checkpoints remain.
    (run_dir / "summary.json").unlink()
    import shutil

    shutil.rmtree(run_dir / "final")
    monkeypatch.chdir(elsewhere)
    resumed = runner.invoke(app, ["train", str(run_dir), "--resume", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert "resumed from" in resumed.output and str(run_dir) in resumed.output
    assert not (elsewhere / "runs").exists()  # the run stayed where it is
    again = read_jsonl(run_dir / "losses.jsonl")
    assert [(r["step"], r["split"]) for r in again] == [(r["step"], r["split"]) for r in expected]
    assert [r["loss"] for r in again] == float32_approx([r["loss"] for r in expected])
    refused = runner.invoke(app, ["train", str(run_dir)])
    assert refused.exit_code == 1 and "already holds a run" in refused.output
    not_a_run = runner.invoke(app, ["train", str(elsewhere)])
    assert not_a_run.exit_code == 2 and "directory without config.yaml" in not_a_run.output


def test_quantization_auto_on_a_cpu_says_nothing(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("on a GPU, auto may choose 8-bit")
    assert models.quantization_plan("auto", parameter_efficient=True) == (None, None)
    assert models.quantization_plan("8bit", parameter_efficient=False) == (None, None)
    # Asked for, a quantized base runs on a CPU (bitsandbytes' CPU kernels), or fails saying what is missing.
    monkeypatch.setattr(models, "_bitsandbytes_missing", lambda cuda: "bitsandbytes")
    with pytest.raises(RuntimeError, match=r"a 8bit base \(model.quantization: 8bit\) needs bitsandbytes"):
        models.quantization_plan("8bit", parameter_efficient=True)
    with pytest.raises(RuntimeError, match=r"a 4bit base \(the method's\) needs bitsandbytes"):
        models.quantization_plan("auto", parameter_efficient=True, required="4bit")


@pytest.mark.parametrize("method", ["lora", "ptuning"])
def test_training_with_gradient_checkpointing_warns_nothing(tmp_path, method):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train.run(load_config(None, tiny_overrides(tmp_path / "run", f"method.name={method}", "train.max_steps=1",
                                                   "train.warmup_steps=0", "model.gradient_checkpointing=true",
                                                   "train.eval_every=1")), show_progress=False)
    assert not [f"{w.category.__name__}: {w.message}" for w in caught
                if issubclass(w.category, (FutureWarning, DeprecationWarning)) or "osition ids" in str(w.message)]


def test_prompt_learning_generation_raises_no_position_ids_warning():
    from astraios.generate.huggingface import TransformersBackend

    model = methods.apply(models.load_model("tiny-gptbigcode-xs"), methods.get("ptuning").config_class())
    backend = TransformersBackend(model, models.load_tokenizer("tiny-gptbigcode-xs"), batch_size=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend.generate(["def f(x):", "def g(y):"], n=1, temperature=0, max_new_tokens=3)
        backend.loglikelihood([("Answer:", " YES")])
    assert not [str(w.message) for w in caught if "osition ids" in str(w.message)]


# ----------------------------------------------------------------------------------------------
# astraios generate


def test_generate_samples_completions_in_the_training_template(tmp_path):
    run_dir = fake_run_dir(tmp_path / "run", "lora")
    result = runner.invoke(app, ["generate", str(run_dir), "--prompt", "Reverse a string.", "--prompt", "Add two numbers.",
                                 "--n", "2", "--max-new-tokens", "6", "--temperature", "0", "--json"])
    assert result.exit_code == 0, result.output
    outputs = json.loads(result.output)
    assert [item["prompt"] for item in outputs] == ["Reverse a string.", "Add two numbers."]
    assert outputs[0]["input"] == "Question: Reverse a string.\n\nAnswer: "
    assert all(len(item["completions"]) == 2 and item["completions"][0] == item["completions"][1] for item in outputs)
    raw = runner.invoke(app, ["generate", str(run_dir), "--prompt", "def f(x):", "--raw", "--n", "1",
                              "--max-new-tokens", "4", "--json"])
    assert raw.exit_code == 0 and json.loads(raw.output)[0]["input"] == "def f(x):"
    wrong = runner.invoke(app, ["generate", str(run_dir), "--prompt", "x", "--dtype", "float33"])
    assert wrong.exit_code == 1 and "error: --dtype float33: unknown. Fix:" in wrong.output


# ----------------------------------------------------------------------------------------------
# astraios export


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_export_merges_linear_methods_into_a_plain_model(tmp_path, method):
    from transformers import AutoModelForCausalLM

    run_dir = fake_run_dir(tmp_path / "run", method)
    result = runner.invoke(app, ["export", str(run_dir)])
    assert result.exit_code == 0, result.output
    output = run_dir / "export"
    assert (output / "model.safetensors").is_file() and (output / "tokenizer.json").is_file()
    assert not (output / "adapter_config.json").exists()
    plain = AutoModelForCausalLM.from_pretrained(str(output)).eval()
    tuned = methods.load_trained(models.load_model("tiny-gptbigcode-xs"), run_dir / "final").eval()
    tokens = torch.tensor([[5, 17, 300, 42, 9, 1000]])
    with torch.no_grad():
        torch.testing.assert_close(plain(tokens).logits, tuned(tokens).logits)  # merged: equal up to rounding
        assert not torch.allclose(plain(tokens).logits, models.load_model("tiny-gptbigcode-xs")(tokens).logits)
    assert json.loads((output / EXPORT_FILE).read_text())["method"] == method
    assert runner.invoke(app, ["export", str(run_dir)]).exit_code == 0  # an earlier export is replaced


@pytest.mark.parametrize("method, reason", [("ptuning", "virtual tokens"), ("adapterp", "non-linear blocks")])
def test_export_refuses_methods_that_cannot_merge_and_says_why(tmp_path, method, reason):
    run_dir = fake_run_dir(tmp_path / "run", method)
    with pytest.raises(CannotExport, match=reason):
        export_run(run_dir)
    result = runner.invoke(app, ["export", str(run_dir)])
    assert result.exit_code == 1 and "cannot be exported as a plain model" in result.output and "Fix:" in result.output
    assert not (run_dir / "export").exists()


def test_export_of_full_fine_tuning_copies_the_model(tmp_path):
    from transformers import AutoModelForCausalLM

    run_dir = fake_run_dir(tmp_path / "run", "full")
    done = export_run(run_dir, tmp_path / "plain")
    assert "already is a plain model" in done["how"]
    assert not (tmp_path / "plain" / "astraios_method.json").exists()
    AutoModelForCausalLM.from_pretrained(str(tmp_path / "plain"))
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "draft.tex").write_text("mine")
    with pytest.raises(ValueError, match="not written by astraios export"):
        export_run(run_dir, foreign)
    assert (foreign / "draft.tex").read_text() == "mine"


# ----------------------------------------------------------------------------------------------
# Loggers


class FakeWandbRun:
    def __init__(self, **kwargs):
        self.init = kwargs
        self.logged: list[tuple[int, dict]] = []
        self.summary: dict = {}
        self.finished = False

    def log(self, values, step):
        self.logged.append((step, dict(values)))

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_wandb(monkeypatch):
    module = types.ModuleType("wandb")
    module.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
    module.runs = []

    def init(**kwargs):
        module.runs.append(FakeWandbRun(**kwargs))
        return module.runs[-1]

    module.init = init
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


def test_wandb_gets_every_loss_of_the_run(tmp_path, fake_wandb):
    run_dir = tmp_path / "run"
    summary = train.run(load_config(None, tiny_overrides(run_dir, "train.log_to=[wandb]")), show_progress=False)
    (run,) = fake_wandb.runs
    run_id = (run_dir / "wandb_run_id").read_text().strip()
    assert run.init["id"] == run_id and run.init["resume"] == "allow" and run.init["name"] == "run"
    assert run.init["config"]["method"]["name"] == "lora" and run.finished
    records = read_jsonl(run_dir / "losses.jsonl")  # the run's own record, read independently
    train_logged = [(step, values["loss/train"]) for step, values in run.logged if "loss/train" in values]
    test_logged = [(step, values["loss/test"]) for step, values in run.logged if "loss/test" in values]
    assert train_logged == [(r["step"], r["loss"]) for r in records if r["split"] == "train" and r["step"]]
    assert test_logged == [(r["step"], r["loss"]) for r in records if r["split"] == "test"]
    assert run.summary["final_test_loss"] == summary["final_test_loss"]


def test_wandb_requested_but_missing_fails_before_training(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed: find_spec gives None, import fails
    assert importlib.util.find_spec("wandb") is None
    with pytest.raises(ConfigError, match=r"wandb, which is not installed. Fix: pip install 'astraios\[wandb\]'"):
        train.run(load_config(None, tiny_overrides(tmp_path / "run", "train.log_to=[wandb]")), show_progress=False)
    assert not (tmp_path / "run").exists()


def test_real_wandb_offline_writes_its_run_in_the_run_directory(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="wandb not installed: pip install 'astraios[wandb]'")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = tmp_path / "run"
    train.run(load_config(None, tiny_overrides(run_dir, "train.log_to=[wandb]", "train.max_steps=2")),
              show_progress=False)
    run_id = (run_dir / "wandb_run_id").read_text().strip()
    written = list((run_dir / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert written and written[0].stat().st_size > 0


def test_tensorboard_gets_the_same_records_under_the_same_names(tmp_path, monkeypatch):
    from astraios.train import loggers

    written = []

    class FakeWriter:
        def add_scalar(self, name, value, step):
            written.append((name, step, value))

        def close(self):
            written.append("closed")

    monkeypatch.setattr(loggers, "_tensorboard", lambda run_dir: FakeWriter())
    run_dir = tmp_path / "run"
    train.run(load_config(None, tiny_overrides(run_dir, "train.max_steps=2", "train.eval_every=2")),
              show_progress=False)
    records = read_jsonl(run_dir / "losses.jsonl")
    assert [(name, step, value) for name, step, value in written[:-1] if name.startswith("loss/")] == [
        (f"loss/{r['split']}", r["step"], r["loss"]) for r in records]  # the step-0 test loss too
    assert {name for name, *_ in written[:-1]} == {"loss/train", "loss/test", "lr", "grad_norm", "tokens_per_second"}
    assert written[-1] == "closed"


def test_real_tensorboard_holds_the_run_s_losses(tmp_path):
    """TensorBoard is installed with astraios (the default logger): its event files hold losses.jsonl's numbers."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "run"
    train.run(load_config(None, tiny_overrides(run_dir, "train.max_steps=2", "train.eval_every=2")), show_progress=False)
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    records = read_jsonl(run_dir / "losses.jsonl")
    logged = [(event.step, event.value) for event in events.Scalars("loss/test")]
    assert logged == [(r["step"], pytest.approx(r["loss"], rel=1e-6)) for r in records if r["split"] == "test"]


def test_tensorboard_asked_for_but_missing_is_one_warning_at_the_start(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    run_dir = tmp_path / "run"
    train.run(load_config(None, tiny_overrides(run_dir, "train.max_steps=1")), show_progress=False)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "tensorboard package is not installed" in warnings[0]
    assert not (run_dir / "tensorboard").exists() and (run_dir / "summary.json").is_file()


def test_ctrl_c_in_train_says_the_step_and_the_resume_command(tmp_path, monkeypatch):
    from astraios.train import loop

    real_step, calls = loop._train_step, []

    def interrupted_at_the_fourth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "_train_step", interrupted_at_the_fourth)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(REPO / "astraios/presets/demo.yaml"), "--quiet",
                                      *[arg for o in tiny_overrides(run_dir) for arg in ("--set", o)]])
    assert result.exit_code == 130
    assert f"interrupted at step 3 of 6; the run resumes from its checkpoint at step 2: astraios train {run_dir} " \
           f"--resume" in " ".join(result.output.split())
    monkeypatch.setattr(loop, "_train_step", real_step)
    resumed = CliRunner().invoke(app, ["train", str(run_dir), "--resume", "--quiet"])
    assert resumed.exit_code == 0, resumed.output
