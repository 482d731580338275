"""The shipped grids for the 2026 question: they load, plan every cell without a refusal, and the dry
run costs each cell in training FLOPs."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from astraios import grid as grids
from astraios import methods, models
from astraios.grid import status as grid_status
from astraios.cli import app
from astraios.methods import targets
from conftest import REPO


def test_grid_2026_crosses_todays_models_with_every_method():
    grid = grids.load_grid(REPO / "configs" / "grid-2026.yaml")
    names = grid.config.models
    assert len(grid.cells) == len(names) * len(methods.METHODS) == 20 * 15
    for name in names:  # every model is a shipped architecture of a family with default targets: no refusal
        assert targets.FAMILIES.get(models.model_config(name).model_type), name
    assert {job.config.model.quantization for job in grid.cells} == {"auto"}  # the study's 8-bit PEFT bases on a GPU;
    assert methods.get("pissa").base_quantization == "none"  # PiSSA's SVD needs the weights: it loads them unquantised
    lora = next(job for job in grid.cells if job.method == "lora")
    assert (lora.config.train.max_steps, lora.config.train.global_batch_size, lora.config.data.seq_len) == (200, 32, 2048)


def test_the_study_grids_keep_the_study_methods():
    for name in ("grid-astraios.yaml", "grid-tiny.yaml"):
        assert grids.load_grid(REPO / "configs" / name).config.method_names() == list(methods.STUDY_METHODS)


def test_tiny_families_grid_ranks_every_method_but_qlora_on_two_families():
    grid = grids.load_grid(REPO / "configs" / "grid-tiny-families.yaml")
    assert grid.config.method_names() == [name for name in methods.METHODS if name != "qlora"]
    assert len(grid.bases) == 2 and len(grid.cells) == 2 * 14
    assert {models.tiny.TINY_MODELS[name].family for name in grid.config.models} <= set(models.tiny.FAMILIES)


def test_dry_run_costs_a_cell_by_the_formula(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({
        "output_dir": str(tmp_path / "runs"), "models": ["tiny-gptbigcode-xs"], "methods": ["full", "lora"],
        "recipe": {"set": {"model.quantization": "none", "data.seq_len": 64, "train.max_steps": 3,
                           "train.global_batch_size": 4, "train.micro_batch_size": 4, "train.warmup_steps": 1}}}))
    rows = {row["method"]: row for row in grid_status.plan_rows(grids.load_grid(path))}
    # tiny-gptbigcode-xs: 2 layers of width 16, 2,048 learned positions (a lookup, no FLOPs); 3 steps x 4 x 64 tokens.
    tokens, attention = 3 * 4 * 64, 12 * 2 * 16 * 64
    full = rows["full"]["total"] - 2048 * 16
    assert rows["full"]["train_flops"] == tokens * (6 * full + attention)
    lora_total, lora_trainable = rows["lora"]["total"] - 2048 * 16, rows["lora"]["trainable"]
    assert rows["lora"]["train_flops"] == tokens * (4 * (lora_total - lora_trainable) + 6 * lora_trainable + attention)
    result = CliRunner().invoke(app, ["grid", str(path), "--dry-run"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    total = (rows["full"]["train_flops"] + rows["lora"]["train_flops"]) / 1e15
    assert f"training compute: {total:,.4g} PFLOP over 2 jobs" in " ".join(result.output.split())


@pytest.mark.slow
def test_grid_2026_dry_run_plans_and_costs_every_cell_offline(offline):
    result = CliRunner().invoke(app, ["grid", str(REPO / "configs" / "grid-2026.yaml"), "--dry-run"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "300 cells" in output and " ? " not in output and "training compute:" in output
    assert "7,615,616,512" in output  # qwen2.5-coder-7b, counted on the meta device
    page = (REPO / "docs" / "grid.md").read_text()
    quoted = page.split("$ astraios grid configs/grid-2026.yaml --dry-run\n", 1)[1].split("```", 1)[0]
    rows, total = quoted.split("training compute:")
    for row in rows.splitlines()[2:]:  # the documented rows and total are what the dry run prints
        assert row == "..." or " ".join(row.split()) in output, row
    printed = output.split("training compute:", 1)[1]
    assert printed.startswith(" " + " ".join(total.split())), printed[:200]
