"""The command line starts fast: `--help` and `tasks` never import torch, and `methods` and
`grid --dry-run` answer from the cache of parameter counts without it (see astraios.methods.accounting)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from astraios import methods, models
from astraios.methods import accounting
from conftest import REPO

HEAVY = {"torch", "transformers", "peft", "datasets"}


def imported(*arguments: str, env: dict | None = None) -> tuple[set[str], str]:
    """The modules `astraios ARGUMENTS` imports (from -X importtime), and what it printed."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "astraios", *arguments], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stdout + done.stderr
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return modules, done.stdout


def direct_count(model: str, method) -> methods.ParameterCount:
    """Counted here on the meta device, without the cache."""
    base = models.meta_model(model)
    return methods.count_parameters(base if method is None else methods.apply(base, method))


@pytest.mark.parametrize("arguments", [["--help"], ["tasks"]])
def test_help_and_tasks_do_not_import_torch(arguments):
    modules, output = imported(*arguments)
    assert output and "datetime" in modules  # -X importtime did list the imports
    assert not HEAVY & modules


def test_methods_and_grid_dry_run_answer_from_the_cache_without_torch(monkeypatch, tmp_path):
    from astraios.grid import load_grid
    from astraios.grid.status import plan_rows

    monkeypatch.setenv("ASTRAIOS_CACHE_DIR", str(tmp_path / "cache"))
    counted = accounting.parameter_table("tiny-gptbigcode-xs")  # counted here, and cached
    plan = plan_rows(load_grid(REPO / "configs" / "grid-tiny.yaml"))
    modules, table = imported("methods", "--model", "tiny-gptbigcode-xs", "--json")
    assert not HEAVY & modules
    assert json.loads(table) == counted
    for row in counted:
        counts = direct_count("tiny-gptbigcode-xs", methods.get(row["method"]).config_class())
        assert (row["trainable"], row["total"]) == (counts.trainable, counts.total), row["method"]
    modules, shown = imported("grid", "configs/grid-tiny.yaml", "--dry-run", "--data-dir", str(tmp_path))
    assert not HEAVY & modules
    lines = [line.split() for line in shown.splitlines()]
    for row in plan:
        assert any(row["model"] in line and row["method"] in line and f"{row['trainable']:,}" in line
                   and f"{row['total']:,}" in line for line in lines), row


def test_a_torn_or_foreign_entry_is_counted_again_and_rewritten(monkeypatch, tmp_path):
    monkeypatch.setenv("ASTRAIOS_CACHE_DIR", str(tmp_path))
    lora = methods.get("lora").config_class()
    right = accounting.parameter_count("tiny-gptbigcode-xs", lora)
    (entry,) = (tmp_path / "parameter-counts").glob("*.json")
    written = json.loads(entry.read_text())
    wrong = {"trainable": 7, "total": written["values"]["total"]}
    for damaged in ('{"key": ', json.dumps({**written, "values": wrong}) + "x", "[]",
                    json.dumps({**written, "values": {**wrong, "trainable": wrong["total"] + 1}}),
                    json.dumps({**written, "values": {**wrong, "trainable": 7.0}}),
                    json.dumps({"key": {**written["key"], "method": None}, "values": wrong})):
        entry.write_text(damaged)
        assert accounting.parameter_count("tiny-gptbigcode-xs", lora) == right
        assert json.loads(entry.read_text()) == written, damaged


def test_the_key_holds_everything_that_changes_a_count(monkeypatch, tmp_path):
    monkeypatch.setenv("ASTRAIOS_CACHE_DIR", str(tmp_path / "cache"))
    lora = methods.get("lora").config_class
    counts = {r: accounting.parameter_count("tiny-gptbigcode-xs", lora(r=r)) for r in (4, 8)}
    assert counts[4].trainable * 2 == counts[8].trainable  # LoRA's count is linear in r
    assert counts[8] == direct_count("tiny-gptbigcode-xs", lora(r=8))
    # A saved model's architecture is its config.json: edited in place, it is counted again.
    saved = tmp_path / "saved"
    models.meta_model("tiny-gptbigcode-xs").config.save_pretrained(saved)
    before = accounting.parameter_count(str(saved))
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**config, "n_layer": config["n_layer"] + 1}))
    accounting._meta_base.cache_clear()  # a new process would build it again
    after = accounting.parameter_count(str(saved))
    assert after.total > before.total and after == direct_count(str(saved), None)
    # Versions and code are in the key: another peft, or an edited method, is a new entry.
    keys = [accounting.count_key("tiny-gptbigcode-xs", lora())]
    monkeypatch.setattr(accounting, "library_versions", lambda: {**keys[0]["versions"], "peft": "0.0.1"})
    keys.append(accounting.count_key("tiny-gptbigcode-xs", lora()))
    monkeypatch.setattr(accounting, "_code_digest", lambda: "edited")
    keys.append(accounting.count_key("tiny-gptbigcode-xs", lora()))
    assert len({json.dumps(key, sort_keys=True) for key in keys}) == 3


def test_a_hub_model_whose_config_is_not_cached_is_counted_not_cached(monkeypatch, tmp_path):
    monkeypatch.setattr("huggingface_hub.try_to_load_from_cache", lambda *args, **kwargs: None)
    assert accounting.count_key("bigcode/starcoderbase-1b", None) is None
