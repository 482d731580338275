"""A grid config (YAML, see `configs/grid-tiny.yaml`) and the jobs it plans.

The config names the base models, the methods, one training recipe (a run config file plus dotted
overrides, optionally per method) and the evaluation (`astraios.grid.evaluation`). `load_grid`
validates all of it and builds every job's `RunConfig` up front, so a typo fails before any model
loads, with the file, the field and a fix.

Jobs: with `base_warmup`, one full fine-tuning warm-up per base (`bases/MODEL`), then one cell per
model x method (x seed), trained from that warm-up's final/ (else from the listed model).

Why `base_warmup`: the tiny models are random-initialised, and their near-uniform outputs give a
parameter-efficient method nothing to steer. The warm-up first trains each base with full
fine-tuning (a stand-in for pre-training), then every method tunes that base, as the study tunes
pre-trained StarCoders.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from astraios import methods
from astraios.config import (
    ConfigError,
    RunConfig,
    Strict,
    _describe,
    _read_yaml,
    _set_dotted,
    all_or_known,
    validate_config,
)
from astraios.core.layout import BASES_DIR, FINAL_DIR
from astraios.grid.evaluation import EvaluationConfig
from astraios.grid.executors.config import ExecutorConfig

# Fields the grid fills in for every job; a recipe that sets them is a mistake worth naming.
GRID_OWNED = {"model.name": "list the models under `models:`", "method.name": "list the methods under `methods:`",
              "train.output_dir": "set the grid's `output_dir:`"}


# ----------------------------------------------------------------------------------------------
# The grid config


class RecipeConfig(Strict):
    config: str | None = Field(None, description="a run config file (relative to the grid file); null = the defaults")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted overrides, e.g. `train.max_steps: 20`")


class WarmupConfig(Strict):
    set: dict[str, Any] = Field(
        default_factory=dict, description="dotted overrides on top of the recipe for the full fine-tuning warm-up"
    )
    evaluate: bool = Field(True, description="evaluate each warmed-up base too: the report's untuned `base` row")


class GridConfig(Strict):
    output_dir: str = Field(description="where the grid's run directories go, e.g. runs/grid-tiny")
    models: list[str] = Field(min_length=1, description="tiny names, StarCoder sizes, Hub ids or local directories")
    methods: list[str] | Literal["all"] = Field("all", description="method names (`astraios methods`) or `all`")
    recipe: RecipeConfig = Field(default_factory=RecipeConfig)
    method_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per method, dotted overrides on top of the recipe, e.g. `lora: {method.r: 16}`"
    )
    base_warmup: WarmupConfig | None = Field(None, description="train each base with full fine-tuning first")
    seeds: list[int] | None = Field(None, min_length=1, description="train every cell once per seed (train.seed); "
                                                                    "run directories MODEL-METHOD-seedS")
    evaluation: EvaluationConfig | None = Field(None, description="evaluation after training; null = train only")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description="where jobs run: local or ray")

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, value: list[str]) -> list[str]:
        labels = [model_label(name) for name in value]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"several models share the run directory name {', '.join(repeated)}. "
                             f"Fix: list each model once (or copy one into a directory of another name)")
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value):
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a seed is listed twice. Fix: list each seed once")
        return value

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value):
        return all_or_known(value, list(methods.METHODS), "method")

    @model_validator(mode="after")
    def _overrides_name_listed_methods(self):
        unused = [name for name in self.method_overrides if name not in self.method_names()]
        if unused:
            raise ValueError(f"method_overrides names {', '.join(unused)}, which is not in `methods`. "
                             f"Fix: add it to `methods` or drop its overrides")
        return self

    def method_names(self) -> list[str]:
        return list(methods.METHODS) if self.methods == "all" else list(self.methods)


def model_label(name: str) -> str:
    """The short name of a model in run directory names and reports (`bigcode/x` -> `x`)."""
    return Path(name.rstrip("/")).name


# ----------------------------------------------------------------------------------------------
# The plan: jobs built from the config


@dataclass
class Job:
    """One training run of the grid: a base warm-up, or a cell (model x method) trained then evaluated."""

    kind: Literal["base", "cell"]
    model: str  # the model's label (e.g. tiny-gptbigcode-s)
    source_model: str  # the model as listed in the grid (name, Hub id or directory)
    method: str
    config: RunConfig
    depends_on: str | None = None  # run directory of the base warm-up this cell trains from
    seed: int | None = None  # the cell's train.seed when the grid lists `seeds`
    evaluated: bool = True  # evaluated after training (cells; base warm-ups unless `base_warmup.evaluate` is false)

    @property
    def run_dir(self) -> Path:
        return self.config.output_dir()

    @property
    def name(self) -> str:
        if self.kind == "base":
            return f"{self.model} base warm-up"
        return f"{self.model} x {self.method}" + (f" (seed {self.seed})" if self.seed is not None else "")


@dataclass
class Grid:
    config: GridConfig
    path: Path
    bases: list[Job]
    cells: list[Job]

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)

    @property
    def jobs(self) -> list[Job]:
        return [*self.bases, *self.cells]

    def set_data_dir(self, data_dir: str) -> None:
        """`astraios grid --data-dir`: where the evaluation reads its data (not a score setting)."""
        if self.config.evaluation is None:
            raise ConfigError(f"--data-dir {data_dir}: {self.path} has no `evaluation:` section, so nothing reads "
                              f"data. Fix: drop --data-dir, or add an evaluation section.")
        self.config.evaluation.data_dir = data_dir

    def set_executor(self, name: str | None, address: str | None) -> None:
        """`astraios grid --executor/--address`: over the grid file's `executor:` section."""
        settings = self.config.executor.model_dump()
        settings.update({key: value for key, value in (("name", name), ("address", address)) if value is not None})
        try:
            self.config.executor = ExecutorConfig.model_validate(settings)
        except ValidationError as error:
            raise ConfigError(_describe(error, f"{self.path} (--executor/--address)", {}, root=ExecutorConfig)) from None


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid config and every job's run config."""
    path = Path(path)
    raw = _read_yaml(path, sections="output_dir/models/methods/recipe/evaluation", example="configs/grid-tiny.yaml")
    try:
        config = GridConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, str(path), {}, root=GridConfig)) from None
    recipe = _recipe_raw(config, path)
    output_dir = Path(config.output_dir)
    bases: dict[str, Job] = {}
    if config.base_warmup is not None:
        for name in config.models:
            label = model_label(name)
            layers = [("recipe.set", config.recipe.set), ("base_warmup.set", config.base_warmup.set)]
            run_config = _job_config(recipe, layers, name, "full", output_dir / BASES_DIR / label, path)
            bases[name] = Job("base", label, name, "full", run_config, evaluated=config.base_warmup.evaluate)
    cells = []
    for name in config.models:
        base = bases.get(name)
        trained_from = str(base.run_dir / FINAL_DIR) if base else name
        for method in config.method_names():
            layers = [("recipe.set", config.recipe.set),
                      (f"method_overrides.{method}", config.method_overrides.get(method, {}))]
            for seed in config.seeds or [None]:
                run_dir = output_dir / f"{model_label(name)}-{method}"
                if seed is not None:
                    _check_seed_not_set(layers, path)
                    run_dir = run_dir.with_name(f"{run_dir.name}-seed{seed}")
                seeded = layers if seed is None else [*layers, ("seeds", {"train.seed": seed})]
                run_config = _job_config(recipe, seeded, trained_from, method, run_dir, path)
                cells.append(Job("cell", model_label(name), name, method, run_config,
                                 depends_on=str(base.run_dir) if base else None, seed=seed))
    return Grid(config, path, list(bases.values()), cells)


def _check_seed_not_set(layers: list[tuple[str, dict]], grid_path: Path) -> None:
    for where, overrides in layers:
        if "train.seed" in overrides:
            raise ConfigError(f"{grid_path}: field `{where}`: `train.seed` is set for each cell by `seeds:`. "
                              f"Fix: drop it from `{where}` and list the seeds under `seeds:`.")


def _recipe_raw(config: GridConfig, grid_path: Path) -> dict:
    """The recipe file's sections, without what the grid sets per job."""
    if config.recipe.config is None:
        return {}
    recipe_path = Path(config.recipe.config)
    if not recipe_path.is_absolute():
        recipe_path = grid_path.parent / recipe_path
    if not recipe_path.is_file():
        raise ConfigError(f"{grid_path}: field `recipe.config`: {recipe_path} does not exist. Fix: give a run "
                          f"config path relative to the grid file (e.g. astraios.yaml beside it), or null.")
    raw = _read_yaml(recipe_path)
    # The recipe file may name a model, method and output directory (to be usable alone); the grid sets its own.
    raw.pop("method", None)
    raw.get("model", {}).pop("name", None)
    raw.get("train", {}).pop("output_dir", None)
    return raw


def _job_config(recipe: dict, layers: list[tuple[str, dict]], model: str, method: str, run_dir: Path,
                grid_path: Path) -> RunConfig:
    raw = copy.deepcopy(recipe)
    raw["method"] = {"name": method}
    for where, overrides in layers:
        for key, value in overrides.items():
            owned = GRID_OWNED.get(key)
            if owned or (where != f"method_overrides.{method}" and key.startswith("method.")):
                fix = owned or f"put method settings under `method_overrides: {{{method}: {{{key}: ...}}}}`"
                raise ConfigError(f"{grid_path}: field `{where}`: `{key}` is set by the grid for each job. Fix: {fix}.")
            _set_dotted(raw, key, value, f"{grid_path}: field `{where}`")
    raw.setdefault("model", {})["name"] = model
    raw.setdefault("train", {})["output_dir"] = str(run_dir)
    layer_names = " + ".join(where for where, overrides in layers if overrides) or "defaults"
    return validate_config(raw, f"{grid_path} ({layer_names}, method {method})")
