"""Grid: config validation, the dry-run plan, skip / resume / retry, failure isolation, parallel jobs."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from astraios import grid as grids
from astraios import methods, models
from astraios.grid import status as grid_status
from astraios.grid.cell import JobState, read_cell_record
from astraios.cli import app
from astraios.config import ConfigError
from astraios.core.layout import CELL_FILE, CONFIG_FILE, EVAL_DIR, RESULTS_FILE
from conftest import REPO

# Seconds-long CPU training on the shipped sample.
RECIPE = {
    "model.quantization": "none",
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
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [devign], per_task: {devign: {protocl: study}}}\n",
     ["field `evaluation.per_task`", "unknown setting `protocl`", "protocol, scoring", "n_samples"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [devign], per_task: {recode-*: {n_samples: 1}}}\n",
     ["field `evaluation.per_task`", "`recode-*` matches none of the evaluated tasks (devign)"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [devign], per_task: {'*': {temperature: -1}}}\n",
     ["evaluation.per_task.*.temperature", "greater than or equal"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [devign], per_task: {devign: {protocol: studdy}}}\n",
     ["field `evaluation`", "task `devign`", "--protocol studdy: expected one of astraios, study"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [devign], dtype: bfloat16, per_task: {devign: {protocol: study}}}\n",
     ["`dtype: bfloat16`", "evaluates in float32", "`dtype: auto`"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [bigclonebench], per_task: {'*': {protocol: study, shots: 1}}}\n",
     ["task `bigclonebench`", "one-shot exemplar for bigclonebench"]),
    ("output_dir: r\nmodels: [x]\nseeds: [0, 1, 0]\n", ["field `seeds`", "listed twice"]),
    ("output_dir: r\nmodels: [x]\nseeds: [0, 1]\nrecipe: {set: {train.seed: 3}}\n",
     ["recipe.set", "`train.seed` is set for each cell by `seeds:`"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [devign], per_task: {toy-synthesize: {limit: 5}}}\n",
     ["`toy-synthesize` matches none of the evaluated tasks (devign)"]),
    ("output_dir: r\nmodels: [x]\nevaluation: {tasks: [devign], per_task: {devign: {limit: 0}}}\n",
     ["evaluation.per_task.devign.limit", "greater than or equal to 1"]),
])
def test_bad_grid_config_messages(tmp_path, text, expected):
    message = error_of(tmp_path, text)
    assert "grid.yaml" in message and "Fix" in message, message
    for fragment in expected:
        assert fragment in message, message


def test_shipped_grid_configs_are_valid():
    tiny = grids.load_grid(REPO / "configs/grid-tiny.yaml")
    assert [job.source_model for job in tiny.bases] == [f"tiny-gptbigcode-{s}" for s in ("xs", "s", "m")]
    study_methods = ["full", "lora", "ptuning", "ia3", "adapterh", "adapterp", "parallel"]
    assert {job.method for job in tiny.cells} == set(study_methods)
    assert all(job.config.model.name.endswith("/final") for job in tiny.cells)
    study = grids.load_grid(REPO / "configs/grid-astraios.yaml")
    assert [job.method for job in study.cells[:7]] == study_methods and len(study.cells) == 4 * 7 and not study.bases
    lora = next(job.config for job in study.cells if job.method == "lora")
    assert lora.train.max_steps == 200 and lora.data.seq_len == 2048 and lora.train.global_batch_size == 32
    # The study's tasks: every registered one but our own toy task, recode-nominal (each category
    # evaluates its nominal prompts) and explaindescribe (run as explainsynthesize's first step).
    from astraios import tasks as task_registry

    left_out = {"toy-synthesize", "recode-nominal", "humanevalexplaindescribe-python", "humanevalexplaindescribe-java"}
    assert set(study.config.evaluation.task_names()) == set(task_registry.names()) - left_out
    config = study.config.evaluation.eval_config(["devign", "bigclonebench"], Path("unused"), None)
    assert config.options_for("devign")["protocol"] == config.options_for("bigclonebench")["protocol"] == "study"
    assert "protocol" not in config.options_for("humanevalsynthesize-python")


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
    for row, job in zip(grid_status.plan_rows(grid), grid.jobs):
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
    record = read_cell_record(tmp_path / "runs" / "tiny-gptbigcode-xs-ia3")
    assert record["status"] == "finished" and "humanevalsynthesize-python" in record["skipped_tasks"]


def test_finished_cells_are_skipped_and_a_failed_one_is_retried(tmp_path):
    # A LoRA target that does not exist fails when the method is applied, after the run directory exists.
    path = grid_file(tmp_path, method_overrides={"lora": {"method.target_modules": ["no_such_module"]}})
    first = run(path)
    lora_dir, ia3_dir = tmp_path / "runs" / "tiny-gptbigcode-xs-lora", tmp_path / "runs" / "tiny-gptbigcode-xs-ia3"
    assert first.failed == [str(lora_dir)]
    failed = read_cell_record(lora_dir)
    assert failed["status"] == "failed" and failed["stage"] == "train" and "no_such_module" in failed["error"]
    assert read_cell_record(ia3_dir)["status"] == "finished"  # the failure did not stop the grid
    manifest = json.loads((tmp_path / "runs" / "grid.json").read_text())
    assert [job["status"] for job in manifest["jobs"]] == ["failed", "finished"]
    finished_at = (ia3_dir / "summary.json").stat().st_mtime_ns

    path = grid_file(tmp_path)  # the fix
    second = run(path)
    assert second.failed == [] and second.skipped_jobs == [str(ia3_dir)]
    assert (ia3_dir / "summary.json").stat().st_mtime_ns == finished_at
    assert read_cell_record(lora_dir)["status"] == "finished"
    assert json.loads((lora_dir / "summary.json").read_text())["steps"] == RECIPE["train.max_steps"]

    third = run(path)
    assert sorted(third.skipped_jobs) == sorted([str(lora_dir), str(ia3_dir)])


def test_interrupted_cell_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from astraios.core.io import read_jsonl
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
    assert JobState(grid.cells[0]).status == "interrupted"
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


def test_dry_run_fails_like_the_real_run_on_a_model_it_cannot_build(tmp_path):
    path = grid_file(tmp_path, models=["tiny-gptbigcode-xs", "tiny-gptbigcode-xxl"])
    result = CliRunner().invoke(app, ["grid", str(path), "--dry-run"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "unknown model `tiny-gptbigcode-xxl`" in errors[0] and "Fix:" in errors[0]
    assert "tiny-gptbigcode-xs" in result.output  # the rest of the plan is still shown
    real = run(path)  # and the real run fails exactly those cells
    assert sorted(Path(failed).name for failed in real.failed) == ["tiny-gptbigcode-xxl-ia3", "tiny-gptbigcode-xxl-lora"]


def test_grid_data_dir_option_and_partial_data_said_once(tmp_path, monkeypatch):
    monkeypatch.delenv("ASTRAIOS_DATA_DIR", raising=False)
    empty = tmp_path / "no-data"
    empty.mkdir()
    path = grid_file(tmp_path, methods=["ia3"], evaluation={"tasks": ["humanevalsynthesize-python"],
                                                             "data_dir": str(empty), "n_samples": 1, "limit": 1,
                                                             "temperature": 0, "max_new_tokens": 4})
    dry = CliRunner().invoke(app, ["grid", str(path), "--dry-run"])
    advice = " ".join(dry.output.split())
    assert "skipped humanevalsynthesize-python" in advice and "--data-dir astraios-sample" in advice  # the advice...
    result = CliRunner().invoke(app, ["grid", str(path), "--data-dir", "astraios-sample"])  # ...which exists
    assert result.exit_code == 0, result.output
    assert result.output.count("partial data: 21 of the 164 problems") == 1
    manifest = json.loads((tmp_path / "runs" / "grid.json").read_text())
    assert manifest["tasks"]["evaluated"] == ["humanevalsynthesize-python"]
    assert manifest["tasks"]["warnings"]["humanevalsynthesize-python"][0].startswith("partial data: 21 of the 164")
    no_eval = grid_file(tmp_path)
    refused = CliRunner().invoke(app, ["grid", str(no_eval), "--data-dir", str(empty)])
    assert refused.exit_code == 2 and "no `evaluation:` section" in refused.output


# ----------------------------------------------------------------------------------------------
# Per-task evaluation settings


def test_per_task_settings_apply_in_order_to_the_tasks_that_take_them(tmp_path):
    path = grid_file(tmp_path, evaluation={
        "tasks": ["humanevalsynthesize-python", "devign", "bigclonebench"], "n_samples": 20, "timeout_s": 5,
        "per_task": {"*": {"protocol": "study", "n_samples": 4}, "humaneval*": {"timeout_s": 30},
                     "bigclonebench": {"protocol": "astraios", "shots": 1}}})
    settings = grids.load_grid(path).config.evaluation
    config = settings.eval_config(settings.task_names(), tmp_path / "eval", "run")
    assert config.options_for("humanevalsynthesize-python") == {"seed": 0, "timeout_s": 30}  # no protocol: not taken
    assert config.options_for("devign") == {"seed": 0, "timeout_s": 5, "protocol": "study"}
    assert config.options_for("bigclonebench")["protocol"] == "astraios" and config.options_for("bigclonebench")["shots"] == 1
    assert config.sampling_for("humanevalsynthesize-python").n == 4 and config.sampling.n == 20
    # humanevalexplaindescribe is not listed but may be run as another task's requirement: same rules.
    assert config.sampling_for("humanevalexplaindescribe-python").n == 4
    assert settings.describe_tasks()[0] == "humanevalsynthesize-python: n_samples 4, timeout_s 30"


def stub_evaluated_cell(tmp_path, evaluation: dict):
    """A cell directory whose tasks were evaluated with `evaluation`'s settings (a stub model)."""
    from test_understanding import AnswerStub, devign_records, says_defective, write_codexglue_bigclonebench

    from astraios.core.io import write_jsonl
    from astraios.core.layout import EVAL_DIR
    from astraios.evaluation import evaluate
    from astraios.grid.evaluation import EvalPlan, EvaluationConfig

    data = tmp_path / "data"
    write_jsonl(data / "devign" / "test.jsonl", devign_records())
    write_codexglue_bigclonebench(data)
    settings = EvaluationConfig.model_validate({"data_dir": str(data), "limit": 8, **evaluation})
    plan = EvalPlan(settings, tasks=settings.task_names())
    run_dir = tmp_path / "cell"
    evaluate(settings.eval_config(plan.tasks, run_dir / EVAL_DIR, None), backend=AnswerStub(says_defective),
             progress=False)
    return run_dir, plan


def plan_with(plan, **changes):
    from astraios.grid.evaluation import EvalPlan, EvaluationConfig

    settings = EvaluationConfig.model_validate({**plan.settings.model_dump(), **changes})
    return EvalPlan(settings, tasks=plan.tasks)


def pending_tasks(run_dir, plan):
    from astraios.core.io import read_json
    from astraios.core.layout import EVAL_DIR, RESULTS_FILE
    from astraios.grid import evaluation

    return evaluation.pending_tasks(run_dir, read_json(run_dir / EVAL_DIR / RESULTS_FILE), plan)


def test_a_changed_setting_makes_only_its_tasks_pending(tmp_path):
    run_dir, plan = stub_evaluated_cell(tmp_path, {"tasks": ["devign", "bigclonebench"]})
    assert pending_tasks(run_dir, plan) == {}
    changed = plan_with(plan, per_task={"devign": {"wording": "study"}})
    assert pending_tasks(run_dir, changed) == {"devign": "evaluated with other settings: wording (None -> 'study')"}
    # Sampling does not decide these tasks' answers (greedy or log-likelihood): no re-evaluation.
    assert pending_tasks(run_dir, plan_with(plan, n_samples=5, temperature=0.8)) == {}
    assert set(pending_tasks(run_dir, plan_with(plan, limit=6))) == {"devign", "bigclonebench"}
    assert set(pending_tasks(run_dir, plan_with(plan, seed=1))) == {"devign", "bigclonebench"}


def test_results_written_before_per_task_requests_are_compared_on_the_old_settings(tmp_path):
    from astraios.core.io import read_json, write_json
    from astraios.core.layout import EVAL_DIR

    run_dir, plan = stub_evaluated_cell(tmp_path, {"tasks": ["devign"]})
    results_file = run_dir / EVAL_DIR / "results.json"
    results = read_json(results_file)
    del results["tasks"]["devign"]["request"]
    write_json(results_file, results)
    assert pending_tasks(run_dir, plan) == {}
    assert "seed (0 -> 1)" in pending_tasks(run_dir, plan_with(plan, seed=1))["devign"]
    assert "protocol (None -> 'study')" in pending_tasks(run_dir, plan_with(plan, per_task={
        "devign": {"protocol": "study"}}))["devign"]


OPENED: dict[str, int] | None = None  # path -> opens, while a test counts them


def _count_opens(event: str, args: tuple) -> None:
    if OPENED is not None and event == "open" and isinstance(args[0], (str, Path)):
        OPENED[str(args[0])] = OPENED.get(str(args[0]), 0) + 1


sys.addaudithook(_count_opens)  # every open() and os.open() reports here; counted only inside `opened_files`


@contextlib.contextmanager
def opened_files():
    global OPENED
    OPENED = {}
    try:
        yield OPENED
    finally:
        OPENED = None


def cell_reads(opened: dict[str, int], cell: Path) -> dict[str, int]:
    """How often a grid pass opened each of the files that decide a cell's fate."""
    return {name: opened.get(str(cell / name), 0) for name in (CELL_FILE, CONFIG_FILE, f"{EVAL_DIR}/{RESULTS_FILE}")}


def test_grid_re_evaluates_only_the_task_whose_settings_changed_reading_each_cell_file_once(tmp_path, monkeypatch):
    from test_understanding import devign_records, write_codexglue_bigclonebench

    from astraios.core.io import write_jsonl
    from astraios.grid import job

    data = tmp_path / "data"
    write_jsonl(data / "devign" / "test.jsonl", devign_records())
    write_codexglue_bigclonebench(data)
    evaluation = {"tasks": ["devign", "bigclonebench"], "data_dir": str(data), "limit": 4}
    run(grid_file(tmp_path, methods=["ia3"], evaluation=evaluation))
    cell = tmp_path / "runs" / "tiny-gptbigcode-xs-ia3"
    first = json.loads((cell / "eval" / "results.json").read_text())["tasks"]
    before_evaluating = []
    real_evaluate_cell = job.evaluate_cell

    def evaluate_cell(*args, **kwargs):
        before_evaluating.append(cell_reads(OPENED, cell))
        return real_evaluate_cell(*args, **kwargs)

    monkeypatch.setattr(job, "evaluate_cell", evaluate_cell)
    with opened_files():
        changed = run(grid_file(tmp_path, methods=["ia3"], evaluation={**evaluation, "per_task": {
            "devign": {"wording": "study"}}}))
    # The pass planned the cell and handed its reading to the job: each file once before the evaluation.
    assert before_evaluating == [{CELL_FILE: 1, CONFIG_FILE: 1, f"{EVAL_DIR}/{RESULTS_FILE}": 1}]
    assert not changed.failed and changed.skipped_jobs == []
    record = read_cell_record(cell)
    assert list(record["evaluated_tasks"]) == ["devign"] and "wording" in record["evaluated_tasks"]["devign"]
    second = json.loads((cell / "eval" / "results.json").read_text())["tasks"]
    assert second["bigclonebench"] == first["bigclonebench"]
    assert second["devign"]["request"]["options"]["wording"] == "study"
    with opened_files() as opened:
        again = run(grid_file(tmp_path, methods=["ia3"], evaluation={**evaluation, "per_task": {
            "devign": {"wording": "study"}}}))
    assert again.skipped_jobs == [str(cell)]
    assert cell_reads(opened, cell) == {CELL_FILE: 1, CONFIG_FILE: 1, f"{EVAL_DIR}/{RESULTS_FILE}": 1}


def test_seeds_repeat_every_cell_with_its_own_train_seed(tmp_path):
    grid = grids.load_grid(grid_file(tmp_path, methods=["lora"], seeds=[0, 5],
                                     base_warmup={"set": {"train.max_steps": 2}}))
    assert len(grid.bases) == 1  # one warmed-up base, tuned with each seed
    assert [(job.seed, job.config.train.seed, job.run_dir.name) for job in grid.cells] == [
        (0, 0, "tiny-gptbigcode-xs-lora-seed0"), (5, 5, "tiny-gptbigcode-xs-lora-seed5")]
    assert grids.load_grid(grid_file(tmp_path, methods=["lora"])).cells[0].run_dir.name == "tiny-gptbigcode-xs-lora"


def test_bases_are_evaluated_and_per_task_limits_apply(tmp_path):
    """The warmed-up base gets the cells' evaluation (the report's untuned row); a per-task `limit`
    overrides the section's. toy-synthesize is generated, so this needs no data directory."""
    path = grid_file(tmp_path, methods=["ia3"], base_warmup={"set": {"train.max_steps": 2}},
                     evaluation={"tasks": ["toy-synthesize", "humanevalsynthesize-python"], "n_samples": 1,
                                 "temperature": 0, "max_new_tokens": 4, "limit": 2, "per_task": {"toy-synthesize": {"limit": 3}},
                                 "data_dir": str(tmp_path)})
    outcome = run(path)
    assert not outcome.failed and outcome.evaluation.tasks == ["toy-synthesize"]  # no HumanEval data in tmp_path
    for run_dir in (tmp_path / "runs" / "bases" / "tiny-gptbigcode-xs", tmp_path / "runs" / "tiny-gptbigcode-xs-ia3"):
        results = json.loads((run_dir / "eval" / "results.json").read_text())
        assert results["tasks"]["toy-synthesize"]["num_documents"] == 3, run_dir
        assert results["settings"]["task_limits"] == {"toy-synthesize": 3}
        assert results["tasks"]["toy-synthesize"]["request"]["limit"] == 3
    assert sorted(run(path).skipped_jobs) == sorted(str(job.run_dir) for job in grids.load_grid(path).jobs)
    unevaluated = grid_file(tmp_path, methods=["ia3"], base_warmup={"set": {"train.max_steps": 2}, "evaluate": False})
    assert not grids.load_grid(unevaluated).bases[0].evaluated
