"""Commands that would lose a run, replace files astraios did not write, or take a value that cannot
be right refuse with one line naming what and the fix (issue 21, items 4, 6, 8, 9 and 10)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from astraios.cli import app
from astraios.train.demo import DEMO_CONFIG, check_replaceable, demo_config

runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def finished_run(run_dir: Path, config) -> Path:
    """A run directory as a finished training leaves it (weights stand-in included)."""
    (run_dir / "final").mkdir(parents=True)
    (run_dir / "final" / "adapter_model.safetensors").write_bytes(b"weights")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict()))
    (run_dir / "summary.json").write_text("{}")
    return run_dir


# ----------------------------------------------------------------------------- 4. demo


def test_demo_refuses_to_replace_a_run_that_is_not_a_demo(tmp_path):
    from astraios.config import load_config

    precious = finished_run(tmp_path / "precious", load_config(DEMO_CONFIG, [f"train.output_dir={tmp_path / 'precious'}",
                                                                            "method.name=ia3"]))
    before = sorted(path.relative_to(precious) for path in precious.rglob("*"))
    result = runner.invoke(app, ["demo", "--output-dir", str(precious), "--steps", "1"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    message = flat(result.output)
    assert "holds a run that is not a demo" in message and "method.name" in message and "--overwrite" in message
    assert sorted(path.relative_to(precious) for path in precious.rglob("*")) == before
    check_replaceable(demo_config(str(precious)), overwrite=True)  # --overwrite replaces it


def test_demo_replaces_a_previous_demo_whatever_its_steps(tmp_path):
    previous = finished_run(tmp_path / "demo", demo_config(str(tmp_path / "demo"), steps=2))
    check_replaceable(demo_config(str(previous)), overwrite=False)
    check_replaceable(demo_config(str(previous), steps=7), overwrite=False)


# ----------------------------------------------------------------------------- 8. non-finite sampling


@pytest.mark.parametrize("flag", ["--temperature", "--top-p"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_eval_and_generate_refuse_a_non_finite_sampling_value(tmp_path, flag, value):
    evaluation = runner.invoke(app, ["eval", "--model", "tiny-gptbigcode-xs", "--tasks", "toy-synthesize", flag, value,
                                     "--output", str(tmp_path / "out"), "--quiet"])
    generation = runner.invoke(app, ["generate", "tiny-gptbigcode-xs", "--prompt", "def f():", flag, value])
    for result in (evaluation, generation):
        assert result.exit_code != 0 and "Traceback" not in result.output, result.output
        assert flag in result.output and value in result.output.lower(), result.output
    assert not (tmp_path / "out").exists()


def test_a_grid_refuses_a_non_finite_per_task_temperature(tmp_path):
    from astraios import grid as grids
    from astraios.config import ConfigError

    path = tmp_path / "grid.yaml"
    path.write_text("output_dir: runs\nmodels: [tiny-gptbigcode-xs]\nmethods: [lora]\n"
                    "evaluation: {tasks: [toy-synthesize], per_task: {toy-synthesize: {temperature: .inf}}}\n")
    with pytest.raises(ConfigError, match="temperature"):
        grids.load_grid(path)


# ----------------------------------------------------------------------------- 6, 9. perturb

RECORD = {"task_id": "T/0", "prompt": 'def f(x):\n    """Return x."""\n', "canonical_solution": "    return x\n",
          "test": "def check(candidate):\n    assert candidate(1) == 1\n", "entry_point": "f"}


def perturb_cli(*args: str):
    return runner.invoke(app, ["perturb", *args, "--transformations", "DeadCode", "--seeds", "1", "--quiet"])


def test_perturb_overwrite_removes_only_what_perturb_wrote(tmp_path):
    source = tmp_path / "problems.jsonl"
    source.write_text(json.dumps(RECORD) + "\n")
    output = tmp_path / "mydata"
    assert perturb_cli(str(source), "--output", str(output)).exit_code == 0
    notes = output / "recode" / "NOTES.txt"
    notes.write_text("my notes")
    written = sorted(str(path.relative_to(output)) for path in output.rglob("*"))
    result = perturb_cli(str(source), "--output", str(output), "--overwrite")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "did not write (NOTES.txt)" in flat(result.output) and "nothing was removed" in flat(result.output)
    assert notes.read_text() == "my notes"
    assert sorted(str(path.relative_to(output)) for path in output.rglob("*")) == written
    notes.unlink()
    assert perturb_cli(str(source), "--output", str(output), "--overwrite").exit_code == 0
    assert (output / "recode" / "perturb_report.json").is_file()


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def write_problems(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


@pytest.mark.parametrize(("make", "expected"), [
    (lambda d: write_problems(d / "p.jsonl", [RECORD, "[1, 2, 3]"]), ["p.jsonl:2", "a JSON list, not an object"]),
    (lambda d: write_bytes(d / "p.jsonl.gz", (json.dumps(RECORD) + "\n").encode()), ["p.jsonl.gz", "not a gzip file"]),
    (lambda d: write_bytes(d / "p.jsonl.gz", gzip.compress("".join(
        json.dumps({**RECORD, "task_id": f"T/{n}"}) + "\n" for n in range(50)).encode())[:300]),
     ["p.jsonl.gz", "cut short or damaged", "gzip -t"]),
    (lambda d: write_problems(d / "p.jsonl", [RECORD, {**RECORD, "task_id": "T/1", "prompt": "def f(x):\n    '\udcff'\n"}]),
     ["p.jsonl:2", "task_id 'T/1'", "field prompt", "lone surrogate U+DCFF"]),
    (lambda d: write_problems(d / "p.jsonl", [RECORD, {**RECORD, "canonical_solution": "    return x + 0\n"}]),
     ["p.jsonl:2", "task_id 'T/0' repeats the record of line 1"]),
], ids=["a list line", "not gzip", "truncated gzip", "lone surrogate", "duplicate task_id"])
def test_perturb_input_errors_are_one_line_naming_the_place_and_the_fix(tmp_path, make, expected):
    path = make(tmp_path)
    result = perturb_cli(str(path), "--output", str(tmp_path / "out"))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    message = flat(result.output)
    assert message.startswith("error:") and "Fix:" in message and all(part in message for part in expected), message
    assert not (tmp_path / "out").exists()


def test_perturb_refuses_limit_0_and_an_output_that_is_a_file(tmp_path):
    source = write_problems(tmp_path / "p.jsonl", [RECORD])
    zero = perturb_cli(str(source), "--output", str(tmp_path / "out"), "--limit", "0")
    assert zero.exit_code == 1 and "--limit must be at least 1, got 0" in flat(zero.output)
    assert not (tmp_path / "out").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    for output in (afile, afile / "sub"):  # the output, or a folder above it, is a file: before any work
        result = perturb_cli(str(source), "--output", str(output))
        assert result.exit_code == 1 and "Errno" not in result.output and "Traceback" not in result.output
        assert f"--output {output}: {afile} is a file, not a directory" in flat(result.output), result.output


def test_perturb_checks_its_output_again_before_replacing_it(tmp_path, monkeypatch):
    """A file put into recode/ while perturb works is not removed, and a folder named like the one
    the replacement moves the old output to (`.recode.old`) is someone's: it is kept."""
    import astraios.sandbox

    source = write_problems(tmp_path / "p.jsonl", [RECORD])
    out = tmp_path / "out"
    (out / ".recode.old").mkdir(parents=True)
    (out / ".recode.old" / "keep.txt").write_text("mine")
    assert perturb_cli(str(source), "--output", str(out)).exit_code == 0
    assert perturb_cli(str(source), "--output", str(out), "--overwrite").exit_code == 0
    assert (out / ".recode.old" / "keep.txt").read_text() == "mine"
    original = astraios.sandbox.run_many

    def meanwhile(*args, **kwargs):
        (out / "recode" / "notes.txt").write_text("written during the run")
        return original(*args, **kwargs)

    monkeypatch.setattr(astraios.sandbox, "run_many", meanwhile)
    result = perturb_cli(str(source), "--output", str(out), "--overwrite")
    assert result.exit_code == 1 and "notes.txt" in flat(result.output), result.output
    assert (out / "recode" / "notes.txt").read_text() == "written during the run"
    assert sorted(path.name for path in out.iterdir()) == [".recode.old", "recode"]  # no staging left


# ----------------------------------------------------------------------------- 10. export, report


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664)], ids=["umask 022", "umask 002"])
def test_an_export_honours_the_umask_and_train_overwrite_removes_it(tmp_path, umask, mode):
    import os
    import stat

    from saved_methods import fake_run_dir

    from astraios.config import load_config
    from astraios.generate.export import export_run
    from astraios.train import run_dir as run_dirs

    run_dir = fake_run_dir(tmp_path / "run", "lora")
    config = load_config(None, [f"train.output_dir={run_dir}", "model.name=tiny-gptbigcode-xs", "method.name=lora"])
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict()))
    previous = os.umask(umask)
    try:
        export_run(run_dir)
    finally:
        os.umask(previous)
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (run_dir / "export").iterdir()}
    assert "model.safetensors" in modes and set(modes.values()) == {mode}, modes
    run_dirs.clear(run_dir)  # what `train --overwrite` does first: export/ is the run's own
    assert not any(run_dir.iterdir())


def test_report_replaces_its_own_pages_and_no_one_elses(tmp_path):
    from test_grid import grid_file, run

    run(grid_file(tmp_path, methods=["ia3"]))
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><title>My site</title></html>")
    result = runner.invoke(app, ["report", str(tmp_path / "runs"), "--output", str(site)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "index.html was not written by astraios report" in flat(result.output) and "Fix:" in result.output
    assert (site / "index.html").read_text() == "<html><title>My site</title></html>"
    assert sorted(path.name for path in site.iterdir()) == ["index.html"]  # nothing else written either
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = runner.invoke(app, ["report", str(tmp_path / "runs"), "--output", str(afile)])
    assert result.exit_code == 1 and "is a file, not a folder" in flat(result.output) and afile.read_text() == "x"
    mine = tmp_path / "mine"  # tables/ or figures/ with no report beside them are someone's
    (mine / "tables").mkdir(parents=True)
    (mine / "tables" / "scores.csv").write_text("my,scores\n")
    result = runner.invoke(app, ["report", str(tmp_path / "runs"), "--output", str(mine)])
    assert result.exit_code == 1 and "holds no report of astraios report" in flat(result.output), result.output
    assert (mine / "tables" / "scores.csv").read_text() == "my,scores\n" and not (mine / "figures").exists()
    own = tmp_path / "own"
    for _ in range(2):  # a report replaces its own earlier pages
        result = runner.invoke(app, ["report", str(tmp_path / "runs"), "--output", str(own)])
        assert result.exit_code == 0, result.output
    assert "<title>astraios report: " in (own / "index.html").read_text()
