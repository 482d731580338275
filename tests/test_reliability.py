"""Hardening (issue 16): nothing astraios did not write is deleted, no score is wrong silently, torn
files are survived or named, and bad input is one error line, never a traceback or a silent default.
Directory locks are in test_locks.py."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from astraios import train
from astraios.cli import app
from astraios.config import ConfigError, load_config
from astraios.core.io import CorruptFileError, append_jsonl, read_json, read_jsonl, write_json, write_jsonl
from astraios.grid.cell import read_cell_record
from conftest import REPO, tiny_overrides

runner = CliRunner()


def flat(text: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(text.split())


# ----------------------------------------------------------------------------------------------
# 1. --overwrite and demo delete only what astraios wrote


def test_overwrite_and_demo_leave_a_directory_with_foreign_files_alone(tmp_path):
    target = tmp_path / "thesis"
    (target / "thesis").mkdir(parents=True)
    (target / "thesis" / "draft.tex").write_text("years of work")
    (target / "config.yaml").write_text("documentclass: article\n")  # someone else's config.yaml
    result = runner.invoke(app, ["train", str(REPO / "astraios/presets/demo.yaml"), "--set",
                                 f"train.output_dir={target}", "--overwrite"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "holds files astraios did not write (thesis/)" in flat(result.output), result.output
    result = runner.invoke(app, ["demo", "--output-dir", str(target), "--steps", "1"])
    assert result.exit_code == 1 and "nothing was removed" in flat(result.output), result.output
    assert (target / "thesis" / "draft.tex").read_text() == "years of work"
    assert (target / "config.yaml").read_text() == "documentclass: article\n"


def test_overwrite_refuses_a_parent_of_runs_and_a_config_astraios_did_not_write(tmp_path):
    from astraios.train import run_dir as run_dirs

    parent = tmp_path / "runs"
    (parent / "tiny-lora").mkdir(parents=True)
    (parent / "tiny-lora" / "config.yaml").write_text(yaml.safe_dump(load_config(None).to_dict()))
    with pytest.raises(ConfigError, match=r"did not write \(tiny-lora/\)"):
        run_dirs.clear(parent)
    lookalike = tmp_path / "lookalike"
    (lookalike / "checkpoints").mkdir(parents=True)
    (lookalike / "config.yaml").write_text("optimizer: sgd\n")
    with pytest.raises(ConfigError, match="not a run directory astraios made"):
        run_dirs.clear(lookalike)
    assert (parent / "tiny-lora" / "config.yaml").is_file() and (lookalike / "checkpoints").is_dir()
    with pytest.raises(ConfigError, match="would be the current directory"):
        load_config(None, ["train.output_dir="])


def test_overwrite_removes_every_file_of_a_previous_run_and_only_those(tmp_path):
    from astraios.core.locks import LOCK_FILE
    from astraios.train import run_dir as run_dirs

    run = tmp_path / "run"
    for directory in ("final", "checkpoints/step-000002", "eval/cache", "tensorboard", ".final.tmp"):
        (run / directory).mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump(load_config(None).to_dict()))
    for name in ("losses.jsonl", "summary.json", "grid_cell.json", ".summary.json.x1y2.tmp", LOCK_FILE):
        (run / name).write_text("{}")
    run_dirs.clear(run)
    assert [path.name for path in run.iterdir()] == [LOCK_FILE]  # the lock belongs to the run starting over
    (run / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"did not write \(notes.txt\)"):
        train.run(load_config(None, tiny_overrides(run)), show_progress=False)  # a fresh run is refused there too
    assert (run / "notes.txt").read_text() == "mine"


# ----------------------------------------------------------------------------------------------
# 2, 3. Saved generations: empty sample lists and text that is not Unicode


def synthesize_generations(documents, count: int) -> list[list[str]]:
    return [[document["prompt"] + document["canonical_solution"]] * 2 for document in documents[:count]]


def score_file(tmp_path, data_dir, generations, *extra: str):
    path = tmp_path / "generations.json"
    path.write_text(json.dumps(generations))
    output = tmp_path / "scored"
    result = runner.invoke(app, ["eval", "--tasks", "humanevalsynthesize-python", "--generations", str(path),
                                 "--data-dir", str(data_dir), "--output", str(output), "--limit",
                                 str(len(generations)), "--quiet", *extra])
    results = output / "results.json"
    entry = json.loads(results.read_text())["tasks"]["humanevalsynthesize-python"] if results.is_file() else None
    return result, entry


def test_documents_without_samples_are_an_error_or_count_as_failed(tmp_path, data_dir):
    from astraios import tasks

    documents = tasks.get("humanevalsynthesize-python").documents(data_dir)
    generations = synthesize_generations(documents, 6)
    for index in (1, 3, 4):
        generations[index] = []
    result, entry = score_file(tmp_path, data_dir, generations)
    assert result.exit_code == 1 and entry is None, result.output
    assert "3 of 6 documents have no samples (Python/1, Python/3, Python/4)" in flat(result.output)
    assert "--empty-samples failed" in flat(result.output)
    result, entry = score_file(tmp_path, data_dir, generations, "--empty-samples", "failed")
    assert result.exit_code == 0, result.output
    # Three documents pass both samples, three count as 2 failed samples: pass@1 = 3/6, over all 6.
    assert entry["metrics"] == {"pass@1": 0.5} and entry["num_documents"] == 6
    assert [row["n"] for row in entry["per_document"]] == [2] * 6
    result, _ = score_file(tmp_path, data_dir, [[] for _ in range(4)])
    assert result.exit_code == 1 and "4 of 4 documents have no samples" in flat(result.output)


def test_a_program_that_is_not_unicode_fails_alone_with_its_reason(tmp_path, data_dir):
    from astraios import tasks

    documents = tasks.get("humanevalsynthesize-python").documents(data_dir)
    generations = synthesize_generations(documents, 3)
    generations[1][0] = documents[1]["prompt"] + '    return "\udcff"\n'
    result, entry = score_file(tmp_path, data_dir, generations)
    assert result.exit_code == 0, result.output
    assert [row["passed"] for row in entry["per_document"]] == [2, 1, 2]
    assert entry["metrics"]["pass@1"] == pytest.approx((1 + 0.5 + 1) / 3)
    logs = read_jsonl(tmp_path / "scored" / "logs" / "humanevalsynthesize-python.jsonl")
    bad = next(log for log in logs if log["doc_id"] == "Python/1" and log["sample"] == 0)
    assert bad["status"] == "failed" and "lone surrogate U+DCFF" in bad["reason"]


# ----------------------------------------------------------------------------------------------
# 5. Torn checkpoints


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A 6-step run with checkpoints at steps 2 and 4, made to look stopped after step 4 (no
    summary or final weights yet), next to the summary of the whole run."""
    run_dir = tmp_path_factory.mktemp("stopped") / "run"
    summary = train.run(load_config(None, tiny_overrides(run_dir)), show_progress=False)
    (run_dir / "summary.json").rename(run_dir.parent / "whole-summary.json")
    shutil.rmtree(run_dir / "final")
    assert summary["steps"] == 6
    return run_dir


def copy_run(source: Path, run_dir: Path) -> None:
    shutil.copytree(source, run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config["train"]["output_dir"] = str(run_dir)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.mark.parametrize(("damaged", "keep", "drop_manifest"), [
    ("model.safetensors", 0.5, False),
    ("optimizer.bin", 0.5, False),
    ("custom_checkpoint_1.pkl", 0.0, False),
    ("model.safetensors", 0.5, True),  # a checkpoint from before manifests: caught when loading
])
def test_resume_falls_back_from_a_torn_checkpoint_to_the_last_whole_one(stopped_run, tmp_path, damaged, keep,
                                                                        drop_manifest, capsys):
    run_dir = tmp_path / "run"
    copy_run(stopped_run, run_dir)
    newest = run_dir / "checkpoints" / "step-000004"
    truncate(newest / damaged, keep)
    if drop_manifest:
        (newest / "manifest.json").unlink()
    summary = train.run(load_config(None, tiny_overrides(run_dir)), resume=True, show_progress=False)
    err = "".join(capsys.readouterr().err.split())  # rich wraps long paths anywhere
    assert f"checkpoint{newest}is" in err and "tryinganolderone" in err
    # With a manifest the torn file is caught before anything loads; without one, when loading it.
    assert ("unreadable(" if drop_manifest else f"torn({damaged}is") in err
    assert f"resumedfrom{run_dir}/checkpoints/step-000002(step2)" in err
    whole = json.loads((stopped_run.parent / "whole-summary.json").read_text())
    assert summary["steps"] == 6
    assert summary["final_test_loss"] == pytest.approx(whole["final_test_loss"], abs=1e-4)
    train_steps = [r["step"] for r in read_jsonl(run_dir / "losses.jsonl") if r["split"] == "train"]
    assert train_steps == [1, 2, 3, 4, 5, 6]


def test_resume_with_no_whole_checkpoint_says_so(stopped_run, tmp_path):
    run_dir = tmp_path / "run"
    copy_run(stopped_run, run_dir)
    for checkpoint in (run_dir / "checkpoints").iterdir():
        (checkpoint / "custom_checkpoint_1.pkl").write_bytes(b"")
    result = runner.invoke(app, ["train", str(run_dir / "config.yaml"), "--resume", "--quiet"])
    assert result.exit_code == 1 and "Traceback" not in result.output and "Aborted" not in result.output
    assert "no checkpoint can be resumed from" in flat(result.output) and "--overwrite" in result.output


# ----------------------------------------------------------------------------------------------
# 6. Torn jsonl tails (the generation cache, losses)


def test_a_torn_last_line_is_cut_before_the_next_append(tmp_path):
    from astraios.generate.cache import GenerationCache, Request

    cache = GenerationCache(tmp_path, {"model": "m"})
    request = Request(0, "doc-0", "prompt", 0)
    cache.add("task", "key-0", request, "first")
    with open(cache.path("task"), "a") as handle:
        handle.write('{"key": "key-1", "completion": "kil')  # killed mid-write
    for round_ in range(3):  # resumed three times, each adding a record
        resumed = GenerationCache(tmp_path, {"model": "m"})
        assert set(resumed.completions("task")) == {"key-0"} | {f"again-{i}" for i in range(round_)}
        resumed.add("task", f"again-{round_}", request, "more")
    assert len(read_jsonl(cache.path("task"))) == 4


def test_a_corrupt_cache_line_names_the_file_and_line(tmp_path):
    from astraios.generate.cache import GenerationCache

    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "task.jsonl").write_text('{"key": "a", "completion": "x"}\n{"key": "b" "completion"}\n{}\n')
    with pytest.raises(CorruptFileError, match=r"task.jsonl: line 2 is not valid JSON"):
        GenerationCache(cache_dir, {}).completions("task")
    (cache_dir / "task.jsonl").write_text('{"doc": 1}\n')
    with pytest.raises(CorruptFileError, match=r"task.jsonl: a record lacks its key"):
        GenerationCache(cache_dir, {}).completions("task")


# ----------------------------------------------------------------------------------------------
# 7. A report with unreadable cells


def test_report_leaves_out_unreadable_cells_with_a_note(tmp_path):
    from astraios.analysis import build_report
    from test_report import fake_run

    runs = tmp_path / "runs"
    for model, method in [("m1", "lora"), ("m3", "lora"), ("m7", "lora"), ("m15", "lora"), ("m1", "full")]:
        fake_run(runs, model, method, 2.0, 0.5, trainable=10)
    (runs / "m3-lora" / "eval" / "results.json").write_text('{"tasks": {"t": {"metr')  # torn
    (runs / "m7-lora" / "summary.json").write_text("")  # empty
    with open(runs / "m15-lora" / "losses.jsonl", "a") as handle:
        handle.write("not json\n{}\n")  # malformed, not the last line
    (runs / "m1-full" / "config.yaml").write_text("model: [unclosed\n")  # broken YAML
    (runs / "grid.json").write_text("")
    report = build_report(runs, tmp_path / "report")
    notes = "\n".join(report.notes)
    for cell, reason in [("m3-lora", "results.json: not valid JSON"), ("m7-lora", "summary.json: it is empty"),
                         ("m15-lora", "losses.jsonl: line 24 is not valid JSON"), ("m1-full", "unreadable files")]:
        assert f"Cell {runs / cell} is left out" in notes and reason in notes, (cell, notes)
    assert "grid's manifest is unreadable" in notes
    assert (tmp_path / "report" / "index.html").is_file()


# ----------------------------------------------------------------------------------------------
# 9. One error line instead of a traceback or a silent default


def test_bad_config_input_is_one_error_line(tmp_path):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("model:\n  name: caf\xe9\n".encode("latin-1"))
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    cases = [
        ([str(latin1)], f"{latin1}: not UTF-8 text"),
        ([str(empty)], "the file is empty, so every setting would silently take its default"),
        (["configs/astraios.yaml", "--set", "train.output_dir=runs/{foo}"],
         "placeholder other than {model} and {method}"),
        (["configs/astraios.yaml", "--set", "train.max_steps=true"],
         "field `train.max_steps`: Input should be a valid integer"),
        (["configs/astraios.yaml", "--set", "train.learning_rate=.inf"],
         "field `train.learning_rate`: Input should be a finite number"),
        (["configs/astraios.yaml", "--set", "method.alpha=true"], "field `method.alpha`: Input should be a valid number"),
    ]
    for arguments, expected in cases:
        result = runner.invoke(app, ["train", *arguments])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert expected in flat(result.output), (arguments, result.output)
    assert load_config(None, ["train.learning_rate=1e-4", "model.quantization=8bit"]).train.learning_rate == 1e-4


def test_demo_steps_are_validated_and_honoured():
    from astraios.train.demo import demo_config

    for steps in ("0", "-1"):
        result = runner.invoke(app, ["demo", "--steps", steps])
        assert result.exit_code == 2 and "Traceback" not in result.output and "--steps" in result.output
    assert (demo_config("runs/demo", 2).train.max_steps, demo_config("runs/demo", 2).train.warmup_steps) == (2, 2)
    assert demo_config("runs/demo", 1).train.warmup_steps == 1
    assert demo_config("runs/demo").train.max_steps == 40


def test_eval_timeout_is_validated_not_replaced():
    from astraios import tasks

    for value in ("0", "-3", "1e9"):
        result = runner.invoke(app, ["eval", "--tasks", "humanevalsynthesize-python", "--generations", "g.json",
                                     "--timeout", value])
        assert result.exit_code == 1 and f"--timeout {float(value)!r}" in flat(result.output), result.output
    assert tasks.get("humanevalsynthesize-python", timeout_s=0.5).timeout_s == 0.5


def test_eval_without_a_usable_sandbox_fails_before_generating(tmp_path, monkeypatch):
    """Root with no tier that may run untrusted code (forced rlimits, no user namespaces): one error
    line before any model loads or generates, not a traceback after the generation."""
    from astraios.sandbox import SandboxUnavailable
    from astraios.sandbox.isolation import Isolation

    def refused(judged=False):
        raise SandboxUnavailable("astraios.sandbox: no isolation tier works here: rlimits: the runner is root")

    monkeypatch.setattr(Isolation, "tier", refused)
    result = runner.invoke(app, ["eval", "--model", "tiny-gptbigcode-xs", "--tasks", "humanevalsynthesize-python",
                                 "--data-dir", "astraios-sample", "--limit", "1", "--output", str(tmp_path / "out")])
    assert result.exit_code == 1 and "no isolation tier works here" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "out" / "generations").exists()
    # Scoring nothing needs no sandbox: the understanding tasks and --generations-only still run.
    generations_only = runner.invoke(app, ["eval", "--model", "tiny-gptbigcode-xs", "--tasks",
                                           "humanevalsynthesize-python", "--data-dir", "astraios-sample", "--limit", "1",
                                           "--max-new-tokens", "2", "--generations-only", "--quiet",
                                           "--output", str(tmp_path / "gen")])
    assert generations_only.exit_code == 0, generations_only.output


def sandbox_cli(program: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """In a fresh process: the isolation tier is chosen once per process."""
    return subprocess.run([sys.executable, "-m", "astraios", "sandbox", "run", str(program), *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=REPO, timeout=120)


def test_sandbox_cli_settings_are_error_lines(tmp_path):
    program = tmp_path / "ok.py"
    program.write_text("print(1)\n")
    huge = sandbox_cli(program, "--timeout", "1e9")
    assert huge.returncode == 2 and "Traceback" not in huge.stderr and "--timeout" in huge.stderr
    bogus = sandbox_cli(program, env={"ASTRAIOS_SANDBOX_ISOLATION": "bogus"})
    assert bogus.returncode == 1 and "Traceback" not in bogus.stderr
    assert bogus.stderr.startswith("error: ASTRAIOS_SANDBOX_ISOLATION='bogus'") and "Fix:" in bogus.stderr
    forced = sandbox_cli(program, env={"ASTRAIOS_SANDBOX_ISOLATION": "rlimits"})
    assert "Traceback" not in forced.stderr
    if forced.returncode:  # refused (as root, rlimits alone would run programs as root): one error line
        assert forced.returncode == 1 and forced.stderr.startswith("error: astraios.sandbox: no isolation tier")
    else:
        assert json.loads(forced.stdout)["isolation"] == "rlimits"


def test_a_diverging_run_stops_with_an_error_and_valid_json(tmp_path):
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(run_dir, "train.learning_rate=1e10", "train.max_grad_norm=null")
    result = runner.invoke(app, ["train", str(REPO / "astraios/presets/demo.yaml"), "--quiet",
                                 *[f"--set={item}" for item in overrides]])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "the train loss is nan at step" in flat(result.output) and "lower train.learning_rate" in flat(result.output)
    assert not (run_dir / "summary.json").exists()
    for line in (run_dir / "losses.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda name: pytest.fail(f"bare {name} in losses.jsonl"))


def test_json_files_never_hold_bare_nan(tmp_path):
    data = {"loss": float("nan"), "curve": [1.0, float("inf"), -float("inf")], "ok": 0.5}
    write_json(tmp_path / "a.json", data)
    write_jsonl(tmp_path / "a.jsonl", [data])
    append_jsonl(tmp_path / "a.jsonl", data)
    expected = {"loss": None, "curve": [1.0, None, None], "ok": 0.5}
    strict = {"parse_constant": lambda name: pytest.fail(f"bare {name}")}
    assert json.loads((tmp_path / "a.json").read_text(), **strict) == expected
    assert [json.loads(line, **strict) for line in (tmp_path / "a.jsonl").read_text().splitlines()] == [expected] * 2
    write_jsonl(tmp_path / "b.jsonl", [{"text": "\udcff"}])  # not UTF-8 encodable: kept as a JSON escape
    assert read_jsonl(tmp_path / "b.jsonl") == [{"text": "\udcff"}]
    (tmp_path / "empty.json").write_text("")
    with pytest.raises(CorruptFileError, match="empty.json: it is empty"):
        read_json(tmp_path / "empty.json")


# ----------------------------------------------------------------------------------------------
# 11. The umask is honoured


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    from astraios.core.io import write_text

    previous = os.umask(umask)
    try:
        write_text(tmp_path / "config.yaml", "a: 1\n")
        append_jsonl(tmp_path / "losses.jsonl", {"step": 1})
    finally:
        os.umask(previous)
    for name in ("config.yaml", "losses.jsonl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def test_a_run_directory_honours_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        train.run(load_config(None, tiny_overrides(tmp_path / "run", "train.max_steps=3", "train.save_every=2")),
                  show_progress=False)
    finally:
        os.umask(previous)
    private = [str(path.relative_to(tmp_path)) for path in (tmp_path / "run").rglob("*")
               if path.is_file() and stat.S_IMODE(path.stat().st_mode) != 0o644 and "tensorboard" not in path.parts]
    assert private == []


# ----------------------------------------------------------------------------------------------
# 13. A grid with changed settings reports intact cells, it does not fail them


def test_changed_settings_leave_a_finished_cell_finished(tmp_path):
    from test_grid import RECIPE, grid_file, run

    run(grid_file(tmp_path, methods=["ia3"]))
    cell = tmp_path / "runs" / "tiny-gptbigcode-xs-ia3"
    before = (cell / "grid_cell.json").read_text()
    changed = grid_file(tmp_path, methods=["ia3"], recipe={"set": {**RECIPE, "train.max_steps": 6}})
    result = runner.invoke(app, ["grid", str(changed), "--quiet"])
    assert result.exit_code == 1, result.output
    assert (cell / "grid_cell.json").read_text() == before  # still finished, untouched
    manifest = json.loads((tmp_path / "runs" / "grid.json").read_text())
    assert manifest["jobs"][0]["status"] == "mismatch" and "train.max_steps (4 -> 6)" in manifest["jobs"][0]["error"]
    assert read_cell_record(cell)["status"] == "finished"


def test_a_grid_survives_its_own_torn_records(tmp_path):
    from test_grid import grid_file, run

    path = grid_file(tmp_path, methods=["ia3"])
    run(path)
    cell = tmp_path / "runs" / "tiny-gptbigcode-xs-ia3"
    trained = (cell / "summary.json").stat().st_mtime_ns
    (cell / "grid_cell.json").write_text('{"status": "fin')
    (tmp_path / "runs" / "grid.json").write_text("")
    outcome = run(path)
    assert not outcome.failed and (cell / "summary.json").stat().st_mtime_ns == trained  # not trained again
    assert json.loads((cell / "grid_cell.json").read_text())["status"] == "finished"  # the record is rewritten
    assert json.loads((tmp_path / "runs" / "grid.json").read_text())["jobs"][0]["status"] == "finished"


def test_changed_evaluation_settings_re_evaluate_the_task_not_a_mismatch(tmp_path, data_dir):
    """Results made with other evaluation settings are not a mismatch (that is a trained run's
    config): the grid evaluates that task again and the cell stays finished."""
    from test_grid import grid_file, run

    run(grid_file(tmp_path, methods=["ia3"]))
    cell = tmp_path / "runs" / "tiny-gptbigcode-xs-ia3"
    evaluation = {"tasks": ["humanevalsynthesize-python"], "n_samples": 1, "limit": 1, "max_new_tokens": 8,
                  "data_dir": str(data_dir)}
    write_json(cell / "eval" / "results.json", {
        "settings": {"n_samples": 1, "temperature": 0.2, "top_p": 0.95, "max_new_tokens": 8, "limit": 1, "seed": 0},
        "tasks": {"humanevalsynthesize-python": {"metrics": {"pass@1": 0.0}, "primary_metric": "pass@1"}}})
    assert run(grid_file(tmp_path, methods=["ia3"], evaluation=evaluation)).skipped_jobs == [str(cell)]  # same: done
    outcome = run(grid_file(tmp_path, methods=["ia3"], evaluation={**evaluation, "n_samples": 2}))
    assert not outcome.mismatched and not outcome.failed
    record = read_cell_record(cell)
    assert record["status"] == "finished"
    assert "n_samples (1 -> 2)" in record["evaluated_tasks"]["humanevalsynthesize-python"]


def test_a_torn_results_file_fails_its_cell_not_the_grid(tmp_path):
    from test_grid import grid_file, run

    evaluation = {"tasks": ["toy-synthesize"], "n_samples": 1, "temperature": 0, "max_new_tokens": 4, "limit": 1}
    path = grid_file(tmp_path, methods=["ia3", "lora"], evaluation=evaluation)
    assert not run(path).failed
    torn = tmp_path / "runs" / "tiny-gptbigcode-xs-ia3" / "eval" / "results.json"
    torn.write_text(torn.read_text()[:20])
    outcome = run(path)  # returns: the torn cell is recorded as failed, the other is skipped as finished
    assert outcome.failed == [str(torn.parents[1])] and "CorruptFileError" in outcome.records[str(torn.parents[1])]["error"]
    assert outcome.skipped_jobs == [str(tmp_path / "runs" / "tiny-gptbigcode-xs-lora")]


def test_eval_of_a_judged_task_under_rlimits_it_chose_fails_before_generating(tmp_path, monkeypatch):
    from astraios.sandbox.isolation import ISOLATION_ENV, Isolation

    monkeypatch.setattr(Isolation, "_tier", "rlimits")
    monkeypatch.delenv(ISOLATION_ENV, raising=False)
    result = runner.invoke(app, ["eval", "--model", "tiny-gptbigcode-xs", "--tasks", "humanevalsynthesize-python",
                                 "--data-dir", "astraios-sample", "--limit", "1", "--output", str(tmp_path / "out")])
    assert result.exit_code == 1 and "judged runs (programs scored by tests) need" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "out" / "generations").exists()
