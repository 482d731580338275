"""Hub failures and mistyped paths: one `error: ... Fix: ...` line on every command, never a
traceback, and nothing left behind (astraios.core.hub)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from astraios import models
from astraios.core import hub
from astraios.cli import app
from astraios.config import DataSource
from astraios.data.instruction import load_examples
from astraios.core.hub import HubError, classify, looks_local
from conftest import REPO

runner = CliRunner()
HUB_MODEL = "someowner/somemodel"


def one_error_line(result) -> str:
    """The command's error: exit 1, exactly one `error:` line with a fix, and no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, (SystemExit, type(None)))
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Fix:" in errors[0], result.output
    return errors[0]


def chain(*names: str) -> BaseException:
    """An exception whose cause chain has errors of these class names, outermost first."""
    error = None
    for name in reversed(names):
        outer = type(name, (Exception,), {})("wrapped")
        outer.__cause__ = error
        error = outer
    return error


@pytest.mark.parametrize("names, kind", [
    (("OSError", "LocalEntryNotFoundError", "ConnectError", "gaierror"), "offline"),
    (("ConnectionError", "FileNotFoundError"), "offline"),  # datasets' wording
    (("ValueError", "LocalEntryNotFoundError", "OfflineModeIsEnabled"), "offline"),  # peft, HF_HUB_OFFLINE=1
    (("OSError", "RepositoryNotFoundError", "HTTPStatusError"), "not_found"),
    (("OSError", "GatedRepoError"), "gated"),
    (("ValueError",), None),  # not a Hub failure: passes through
])
def test_hub_failures_are_told_apart_by_their_cause_chain(names, kind):
    assert classify(chain(*names)) == kind


def test_local_looking_names_never_go_to_the_hub(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    for name in ("./x", "/abs/x", "~/x", "a/b/c", "runs/typo", "x/"):
        assert looks_local(name), name
    for name in ("bigcode/starcoderbase-1b", "nosuchdir/model", "tiny-gptbigcode-s"):
        assert not looks_local(name), name
    with pytest.raises(HubError, match=r"runs/typo: no such file or directory \(runs is empty\)\. Fix:"):
        models.load_model("runs/typo")


def test_model_tokenizer_and_config_offline_say_so(offline):
    for load in (models.load_tokenizer, models.load_model, models.model_config):
        with pytest.raises(HubError) as raised:
            load(HUB_MODEL)
        message = str(raised.value)
        assert HUB_MODEL in message and "cannot be reached (offline?)" in message and "Fix:" in message
        assert "\n" not in message


def test_a_hub_dataset_offline_says_so_and_a_missing_file_is_local(offline, tmp_path):
    with pytest.raises(HubError, match=r"dataset `someowner/somedata` .*offline.*Fix: .*astraios-sample"):
        load_examples(DataSource(path="someowner/somedata"))
    with pytest.raises(HubError, match=r"data source .*train\.jsonl: no such file or directory"):
        load_examples(DataSource(path=str(tmp_path / "train.jsonl")))


def test_a_retry_storm_is_one_note(offline, caplog):
    with caplog.at_level("WARNING", logger=hub.HTTP_LOGGER), pytest.raises(HubError):
        models.model_config(HUB_MODEL)
    lines = [record.getMessage() for record in caplog.records if record.name == hub.HTTP_LOGGER]
    assert len(lines) == 1 and "HF_HUB_OFFLINE=1" in lines[0], lines


def test_train_with_an_offline_model_fails_in_one_line_and_leaves_nothing(offline, tmp_path):
    run_dir = tmp_path / "run"
    result = runner.invoke(app, ["train", str(REPO / "configs" / "tiny.yaml"), "--set", f"model.name={HUB_MODEL}",
                                 "--set", f"train.output_dir={run_dir}"])
    assert HUB_MODEL in one_error_line(result)
    assert not run_dir.exists()  # checked before the run directory is written


def test_eval_with_an_offline_model_or_adapter_fails_before_the_data(offline, tmp_path):
    common = ["--tasks", "humanevalsynthesize-python", "--data-dir", str(tmp_path / "no-data"),
              "--output", str(tmp_path / "out")]
    assert HUB_MODEL in one_error_line(runner.invoke(app, ["eval", "--model", HUB_MODEL, *common]))
    error = one_error_line(runner.invoke(app, ["eval", "--model", "tiny-gptbigcode-xs", "--adapter",
                                               "someowner/someadapter", "--data-dir", "astraios-sample",
                                               "--tasks", "humanevalsynthesize-python", "--limit", "1",
                                               "--output", str(tmp_path / "out2")]))
    assert "adapter `someowner/someadapter`" in error and "offline" in error


def test_eval_of_a_mistyped_run_dir_is_a_local_error_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    error = one_error_line(runner.invoke(app, ["eval", "--model", "runs/nonexist", "--tasks",
                                               "humanevalsynthesize-python"]))
    assert "runs/nonexist: no such file or directory (runs holds: demo)" in error
    (tmp_path / "runs" / "half").mkdir()
    (tmp_path / "runs" / "half" / "config.yaml").write_text("model: {name: tiny-gptbigcode-xs}\n")
    assert "has not finished" in one_error_line(runner.invoke(app, ["eval", "--model", "runs/half", "--tasks",
                                                                    "humanevalsynthesize-python"]))


def test_benchmark_data_offline_is_one_line(offline, monkeypatch):
    from astraios import tasks

    monkeypatch.delenv("ASTRAIOS_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError) as raised:
        tasks.get("humanevalsynthesize-python").documents(None)
    message = str(raised.value)
    assert "cannot be reached (offline?)" in message and "Fix:" in message and "\n" not in message


def test_eval_offline_without_data_is_one_note_and_one_error_naming_the_sample_and_the_download(offline, monkeypatch,
                                                                                                 tmp_path):
    """The first example of `eval --help`, offline with no data: no retries (each would wait seconds), one note
    that the Hub cannot be reached, one error naming the shipped sample and the download command."""
    import huggingface_hub.constants
    import huggingface_hub.utils._http as hub_http

    waits = []
    monkeypatch.setattr(hub_http.time, "sleep", waits.append)
    monkeypatch.delenv("ASTRAIOS_DATA_DIR", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    result = runner.invoke(app, ["eval", "--model", "tiny-gptbigcode-xs", "--tasks", "humanevalsynthesize-python",
                                 "--limit", "5", "--output", str(tmp_path / "out")])
    error = one_error_line(result)
    assert "--data-dir astraios-sample" in error and "`astraios data download humanevalpack-python --to DIR`" in error
    assert "shared" not in error
    assert [line for line in result.output.splitlines() if line.strip()] == [hub.OFFLINE_NOTE, error]
    assert waits == []  # not one retry
