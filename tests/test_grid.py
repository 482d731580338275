"""Grid: config validation, the dry-run plan, skip / resume / retry, failure isolation, parallel jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from astraios import grid as grids
from astraios import methods, models
from astraios.cli import app
from astraios.config import ConfigError
from conftest import REPO

# Seconds-long CPU training on the shipped sample.
RECIPE = {
    "model.load_in_8bit": False,
    "data.sources": [{"path": "astraios-sample", "limit": 40}],
    "data.seq_len": 64,
    "data.test_size": 8,
    "train.max_steps": 4,
    "train.global_batch_size": 4,
    "train.micro_batch_size": 4,
    "train.warmup_steps": 1,
    "train.eval_every": 2,
    "train.save_every": 2,
    "train.learning_rate": 1.0e-2,
}


def grid_file(tmp_path: Path, **fields) -> Path:
    config = {"output_dir": str(tmp_path / "runs"), "models": ["tiny-gptbigcode-xs"], "methods": ["lora", "ia3"],
              "recipe": {"set": dict(RECIPE)}, **fields}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(path: Path) -> grids.GridOutcome:
    return grids.run_grid(grids.load_grid(path), show_progress=False, gpus=[])


def error_of(tmp_path: Path, text: str) -> str:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        grids.load_grid(path)
    return str(caught.value)


# ----------------------------------------------------------------------------------------------
# Config


@pytest.mark.parametrize(("text", "expected"), [
    ("models: [tiny-gptbigcode-xs]\n", ["field `output_dir`", "required"]),
    ("output_dir: r\nmodels: []\n", ["field `models`", "at least 1"]),
    ("output_dir: r\nmodels: [x]\nmethod: [lora]\n", ["field `method`", "did you mean `methods`"]),
    ("output_dir: r\nmodels: [x]\nmethods: [lora, lorra]\n", ["field `methods`", "unknown method `lorra`",
                                                               "did you mean `lora`"]),
    ("output_dir: r\nmodels: [a/x, b/x]\n", ["field `models`", "share the run directory name x"]),
    ("output_dir: r\nmodels: [x]\nmethods: [lora]\nmethod_overrides: {ia3: {train.max_steps: 3}}\n",
     ["method_overrides names ia3", "not in `methods`"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [humanevalsynthesize-pyton]}\n",
     ["field `evaluation.tasks`", "did you mean `humanevalsynthesize-python`"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {temperature: -1}\n", ["evaluation.temperature", "greater than or equal"]),
    ("output_dir: r\nmodels: [x]\nrecipe: {set: {train.max_stepz: 3}}\n",
     ["grid.yaml (recipe.set, method full)", "train.max_stepz", "did you mean `max_steps`"]),
    ("output_dir: r\nmodels: [x]\nrecipe: {set: {model.name: y}}\n", ["recipe.set", "set by the grid",
                                                                       "list the models under `models:`"]),
    ("output_dir: r\nmodels: [x]\nrecipe: {set: {method.r: 16}}\n", ["recipe.set", "method_overrides"]),
    ("output_dir: r\nmodels: [x]\nmethods: [lora]\nmethod_overrides: {lora: {method.alpah: 3}}\n",
     ["method_overrides.lora", "method.alpah", "did you mean `alpha`"]),
    ("output_dir: r\nmodels: [x]\nrecipe: {config: missing.yaml}\n", ["recipe.config", "missing.yaml does not exist"]),
    ("output_dir: r\nmodels: [x]\nbase_warmup: {steps: 3}\n", ["base_warmup.steps", "use one of: set"]),
    ("- a\n", ["top level must be a mapping", "configs/grid-tiny.yaml"]),
    ("output_dir: r\nmodels: [x]\nseeds: [0, 1, 0]\n", ["field `seeds`", "listed twice"]),
    ("output_dir: r\nmodels: [x]\nseeds: [0, 1]\nrecipe: {set: {train.seed: 3}}\n",
     ["recipe.set", "`train.seed` is set for each cell by `seeds:`"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [devign], limits: {toy-synthesize: 5}}\n",
     ["`limits` names toy-synthesize", "not among `tasks`"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [devign], limits: {devign: 0}}\n", ["at least 1"]),
])
def test_bad_grid_config_messages(tmp_path, text, expected):
    message = error_of(tmp_path, text)
    assert "grid.yaml" in message and "Fix" in message, message
    for fragment in expected:
        assert fragment in message, message


def test_shipped_grid_configs_are_valid():
    tiny = grids.load_grid(REPO / "configs/grid-tiny.yaml")
    assert [job.source_model for job in tiny.bases] == [f"tiny-gptbigcode-{s}" for s in ("xs", "s", "m", "l")]
    assert {job.method for job in tiny.cells} == set(methods.METHODS)
    assert all(job.config.model.name.endswith("/final") for job in tiny.cells)
    study = grids.load_grid(REPO / "configs/grid-astraios.yaml")
    assert len(study.cells) == 4 * len(methods.METHODS) and not study.bases
    lora = next(job.config for job in study.cells if job.method == "lora")
    assert lora.train.max_steps == 200 and lora.data.seq_len == 2048 and lora.train.global_batch_size == 32
    assert study.config.evaluation.task_names() == __import__("astraios.tasks", fromlist=["names"]).names()


def test_recipe_layers_and_method_overrides(tmp_path):
    grid = grids.load_grid(grid_file(tmp_path, methods=["full", "lora"], method_overrides={
        "full": {"train.learning_rate": 1e-3}, "lora": {"method.r": 4}},
        base_warmup={"set": {"train.max_steps": 3, "data.loss_on": "all"}}))
    base, = grid.bases
    assert base.config.method.name == "full" and base.config.train.max_steps == 3 and base.config.data.loss_on == "all"
    assert base.config.train.learning_rate == 1e-2  # the recipe's, as the warm-up does not set it
    full, lora = grid.cells
    assert full.config.train.learning_rate == 1e-3 and lora.config.train.learning_rate == 1e-2
    assert lora.config.method.r == 4 and lora.config.train.max_steps == 4 and lora.config.data.loss_on == "answer"
    assert lora.config.model.name == str(base.run_dir / "final") and lora.depends_on == str(base.run_dir)
    assert lora.run_dir == tmp_path / "runs" / "tiny-gptbigcode-xs-lora"


def test_dry_run_counts_parameters_like_the_real_model(tmp_path):
    grid = grids.load_grid(grid_file(tmp_path, models=["tiny-gptbigcode-xs", "tiny-gptbigcode-s"],
                                     method_overrides={"lora": {"method.r": 4}}))
    for row, job in zip(grids.plan_rows(grid), grid.jobs):
        real = methods.count_parameters(methods.apply(models.tiny.build(job.source_model), job.config.method))
        assert (row["trainable"], row["total"], row["status"]) == (real.trainable, real.total, "pending")
    result = CliRunner().invoke(app, ["grid", str(tmp_path / "grid.yaml"), "--dry-run"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "4 cells" in output and "tiny-gptbigcode-s" in output and "1,408" in output
    assert f"run directories: {tmp_path / 'runs'}/MODEL-METHOD" in output
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------------------------
# Running


def test_missing_task_data_is_a_recorded_skip(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    path = grid_file(tmp_path, methods=["ia3"], evaluation={"tasks": ["humanevalsynthesize-python"],
                                                             "data_dir": str(empty), "n_samples": 1})
    outcome = run(path)
    assert not outcome.failed and outcome.evaluation.tasks == []
    assert "HumanEvalPack Python data not found" in outcome.evaluation.skipped["humanevalsynthesize-python"]
    manifest = json.loads((tmp_path / "runs" / "grid.json").read_text())
    assert "humanevalsynthesize-python" in manifest["tasks"]["skipped"]
    record = grids.read_cell_record(tmp_path / "runs" / "tiny-gptbigcode-xs-ia3")
    assert record["status"] == "finished" and "humanevalsynthesize-python" in record["skipped_tasks"]


def test_finished_cells_are_skipped_and_a_failed_one_is_retried(tmp_path):
    # A LoRA target that does not exist fails when the method is applied, after the run directory exists.
    path = grid_file(tmp_path, method_overrides={"lora": {"method.target_modules": ["no_such_module"]}})
    first = run(path)
    lora_dir, ia3_dir = tmp_path / "runs" / "tiny-gptbigcode-xs-lora", tmp_path / "runs" / "tiny-gptbigcode-xs-ia3"
    assert first.failed == [str(lora_dir)]
    failed = grids.read_cell_record(lora_dir)
    assert failed["status"] == "failed" and failed["stage"] == "train" and "no_such_module" in failed["error"]
    assert grids.read_cell_record(ia3_dir)["status"] == "finished"  # the failure did not stop the grid
    manifest = json.loads((tmp_path / "runs" / "grid.json").read_text())
    assert [job["status"] for job in manifest["jobs"]] == ["failed", "finished"]
    finished_at = (ia3_dir / "summary.json").stat().st_mtime_ns

    path = grid_file(tmp_path)  # the fix
    second = run(path)
    assert second.failed == [] and second.skipped_jobs == [str(ia3_dir)]
    assert (ia3_dir / "summary.json").stat().st_mtime_ns == finished_at
    assert grids.read_cell_record(lora_dir)["status"] == "finished"
    assert json.loads((lora_dir / "summary.json").read_text())["steps"] == RECIPE["train.max_steps"]

    third = run(path)
    assert sorted(third.skipped_jobs) == sorted([str(lora_dir), str(ia3_dir)])


def test_interrupted_cell_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from astraios.io import read_jsonl
    from astraios.train import loop

    real_step = loop._train_step
    calls = []

    def interrupted_step(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # after the step-2 checkpoint
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "_train_step", interrupted_step)
    path = grid_file(tmp_path, methods=["lora"])
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C stops the grid; the cell stays resumable
        run(path)
    run_dir = tmp_path / "runs" / "tiny-gptbigcode-xs-lora"
    grid = grids.load_grid(path)
    assert grids.job_status(grid.cells[0]) == "interrupted"
    monkeypatch.setattr(loop, "_train_step", real_step)
    calls.clear()
    outcome = run(path)
    assert not outcome.failed
    train_steps = [r["step"] for r in read_jsonl(run_dir / "losses.jsonl") if r["split"] == "train"]
    assert train_steps == [1, 2, 3, 4]  # steps 1-2 kept from the first attempt, 3-4 from the resumed one


def test_changed_recipe_is_not_mixed_with_finished_cells(tmp_path):
    run(grid_file(tmp_path, methods=["ia3"]))
    changed = grid_file(tmp_path, methods=["ia3"], recipe={"set": {**RECIPE, "train.max_steps": 6}})
    outcome = run(changed)
    error = outcome.records[str(tmp_path / "runs" / "tiny-gptbigcode-xs-ia3")]["error"]
    assert "config differs from the grid's" in error and "train.max_steps (4 -> 6)" in error and "Fix" in error


def test_a_failed_base_warmup_fails_its_cells_with_the_reason(tmp_path):
    path = grid_file(tmp_path, methods=["ia3"], base_warmup={"set": {"train.max_steps": 2}})
    grid = grids.load_grid(path)
    grid.bases[0].config.model.name = "tiny-gptbigcode-nonexistent"  # fails when the base loads
    outcome = grids.run_grid(grid, show_progress=False, gpus=[])
    cell_error = outcome.records[str(grid.cells[0].run_dir)]["error"]
    assert len(outcome.failed) == 2 and "base warm-up" in cell_error and "did not finish" in cell_error


@pytest.mark.slow
def test_parallel_jobs_run_in_their_own_processes(tmp_path):
    path = grid_file(tmp_path)
    outcome = grids.run_grid(grids.load_grid(path), show_progress=False, gpus=["", ""])  # two CPU-only slots
    assert not outcome.failed and len(outcome.records) == 2
    for record in outcome.records.values():
        assert record["status"] == "finished"


def test_seeds_repeat_every_cell_with_its_own_train_seed(tmp_path):
    grid = grids.load_grid(grid_file(tmp_path, methods=["lora"], seeds=[0, 5],
                                     base_warmup={"set": {"train.max_steps": 2}}))
    assert len(grid.bases) == 1  # one warmed-up base, tuned with each seed
    assert [(job.seed, job.config.train.seed, job.run_dir.name) for job in grid.cells] == [
        (0, 0, "tiny-gptbigcode-xs-lora-seed0"), (5, 5, "tiny-gptbigcode-xs-lora-seed5")]
    assert grids.load_grid(grid_file(tmp_path, methods=["lora"])).cells[0].run_dir.name == "tiny-gptbigcode-xs-lora"


def test_bases_are_evaluated_and_per_task_limits_apply(tmp_path):
    """The warmed-up base gets the cells' evaluation (the report's untuned row); `limits` overrides
    `limit` per task. toy-synthesize is generated, so this needs no data directory."""
    path = grid_file(tmp_path, methods=["ia3"], base_warmup={"set": {"train.max_steps": 2}},
                     evaluation={"tasks": ["toy-synthesize", "humanevalsynthesize-python"], "n_samples": 1,
                                 "temperature": 0, "max_new_tokens": 4, "limit": 2, "limits": {"toy-synthesize": 3},
                                 "data_dir": str(tmp_path)})
    outcome = run(path)
    assert not outcome.failed and outcome.evaluation.tasks == ["toy-synthesize"]  # no HumanEval data in tmp_path
    for run_dir in (tmp_path / "runs" / "bases" / "tiny-gptbigcode-xs", tmp_path / "runs" / "tiny-gptbigcode-xs-ia3"):
        results = json.loads((run_dir / "eval" / "results.json").read_text())
        assert results["tasks"]["toy-synthesize"]["num_documents"] == 3, run_dir
        assert results["settings"]["task_limits"] == {"toy-synthesize": 3}
    assert sorted(run(path).skipped_jobs) == sorted(str(job.run_dir) for job in grids.load_grid(path).jobs)
    unevaluated = grid_file(tmp_path, methods=["ia3"], base_warmup={"set": {"train.max_steps": 2}, "evaluate": False})
    assert not grids.load_grid(unevaluated).bases[0].evaluated
