"""Run configuration: pydantic models read from YAML, with `--set key=value` overrides.

Everything a training run needs is data in one `RunConfig` (model, method, data, train), so a run
directory's `config.yaml` reproduces it exactly. Bad input fails here, before any model loads,
with one message that names the file, the field and a fix.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from astraios import methods
from astraios.core.schema import Strict

DEFAULT_METHOD = "lora"
# model.load_in_8bit (the old setting) -> model.quantization
LOAD_IN_8BIT = {True: "8bit", False: "none", "auto": "auto"}


class ConfigError(ValueError):
    """A config problem, worded for the user: where it is, what is wrong, how to fix it."""


def all_or_known(value, known: list[str], kind: str):
    """`all`, or a non-empty list of known names (repeats dropped); a typo gets a did-you-mean."""
    if value == "all":
        return value
    if not value:
        raise ValueError(f"no {kind} given. Fix: list {kind} names (`astraios {kind}s`) or write `{kind}s: all`")
    for name in value:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            guess = f"did you mean `{close[0]}`? " if close else ""
            raise ValueError(f"unknown {kind} `{name}`. Fix: {guess}use one of: {', '.join(known)}")
    return list(dict.fromkeys(value))


class ModelConfig(Strict):
    name: str = Field(
        "tiny-gptbigcode-s",
        description="tiny-<family>-{xs,s,m,l} (e.g. tiny-gptbigcode-s, tiny-qwen2-s), a published model "
        "(starcoderbase-1b, starcoder2-7b, qwen2.5-coder-7b, ...: `astraios methods --model NAME`), a Hub id or a "
        "local directory",
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit)")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="weights dtype; auto = bf16 frozen bases on a GPU, fp32 otherwise"
    )
    quantization: Literal["auto", "none", "8bit", "4bit"] = Field(
        "auto", description="base weights of PEFT methods (bitsandbytes, CPU or GPU): 8bit (the study), 4bit (nf4, "
        "QLoRA's) or none; auto = 8bit on a CUDA GPU with bitsandbytes, none otherwise",
    )
    trust_remote_code: bool = False
    gradient_checkpointing: bool = False

    @model_validator(mode="before")
    @classmethod
    def _load_in_8bit_alias(cls, data: Any) -> Any:
        # `load_in_8bit` (true/false/auto) is the old name: configs and run directories written before
        # model.quantization keep loading, and resuming them compares equal.
        if not isinstance(data, dict) or "load_in_8bit" not in data:
            return data
        data = dict(data)
        old = data.pop("load_in_8bit")
        mapped = LOAD_IN_8BIT.get(old) if isinstance(old, (bool, str)) else None
        if mapped is None:
            raise ValueError(f"model.load_in_8bit: {old!r} is not true, false or auto. Fix: write model.quantization: "
                             f"8bit, none or auto (load_in_8bit is its old name)")
        if data.get("quantization", mapped) != mapped:
            raise ValueError(f"model.load_in_8bit ({old}) and model.quantization ({data['quantization']}) disagree "
                             f"(load_in_8bit is the old name of quantization). Fix: keep only model.quantization")
        data["quantization"] = mapped
        return data


class DataSource(Strict):
    path: str = Field(description="`astraios-sample`, `toy-instructions` or `toy-corpus` (generated), a Hub dataset "
                                  "id, or a local jsonl/json/parquet file or directory")
    format: Literal["auto", "prompt_completion", "commitpackft", "oasst", "text"] = "auto"
    subset: str | None = Field(None, description="Hub dataset config, e.g. `python` for bigcode/commitpackft")
    split: str = "train"
    limit: int | None = Field(None, gt=0, description="use at most this many records of this source (generated "
                                                      "sources: make this many)")
    seed: int | None = Field(None, description="seed of a generated source (toy-instructions, toy-corpus); default 0")

    @model_validator(mode="after")
    def _seed_only_for_generated(self):
        from astraios.data.toy import SOURCES

        if self.seed is not None and self.path not in SOURCES:
            raise ValueError(f"`seed` applies only to generated sources ({', '.join(SOURCES)}), not to "
                             f"{self.path}. Fix: remove `seed` from this source")
        return self


class DataConfig(Strict):
    sources: list[DataSource] = Field(default_factory=lambda: [DataSource(path="astraios-sample")], min_length=1)
    seq_len: int = Field(2048, ge=16, description="tokens per training sequence")
    packing: bool = Field(False, description="concatenate examples (EOS-separated) into full seq_len blocks")
    loss_on: Literal["answer", "all"] = Field("answer", description="answer tokens only, or every token")
    test_size: float = Field(0.05, gt=0, description="held-out share (< 1) or count (>= 1) of examples")
    seed: int = Field(0, description="seed of the train/test split")

    @field_validator("sources", mode="before")
    @classmethod
    def _sources_shorthand(cls, value: Any) -> Any:
        # `sources: [bigcode/guanaco-commits]` is short for `[{path: bigcode/guanaco-commits}]`.
        if isinstance(value, (str, dict)):
            value = [value]
        if isinstance(value, list):
            return [{"path": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("test_size")
    @classmethod
    def _test_size_fraction_or_count(cls, value: float) -> float:
        if value >= 1 and value != int(value):
            raise ValueError(
                "a test_size of 1 or more is a count of examples and must be a whole number. "
                "Fix: use a fraction below 1 or a whole count"
            )
        return value


class TrainConfig(Strict):
    output_dir: str = Field("runs/{model}-{method}", description="run directory; {model} and {method} are filled in")
    max_steps: int = Field(200, gt=0, description="optimiser steps")
    global_batch_size: int = Field(32, gt=0, description="sequences per optimiser step, over all devices")
    micro_batch_size: int = Field(1, gt=0, description="sequences per forward pass on one device")
    learning_rate: float | None = Field(None, gt=0, description="default: the method's (1e-4 PEFT, 1e-6 full)")
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_steps: int = Field(12, ge=0)
    weight_decay: float = Field(0.05, ge=0)
    max_grad_norm: float | None = Field(1.0, gt=0, description="gradient clipping; null to disable")
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.999, ge=0, lt=1)
    adam_epsilon: float = Field(1e-8, gt=0)
    seed: int = 0
    eval_every: int = Field(10, gt=0, description="held-out test loss every N steps")
    eval_batch_size: int = Field(4, gt=0)
    save_every: int = Field(10, gt=0, description="checkpoint every N steps")
    keep_checkpoints: int = Field(2, gt=0, description="most recent checkpoints kept")
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = Field(
        "auto", description="autocast; auto = bf16 on a bf16-capable GPU, none on CPU"
    )
    log_to: list[Literal["tensorboard", "wandb"]] = Field(
        default_factory=lambda: ["tensorboard"],
        description="loggers besides losses.jsonl: tensorboard (RUN_DIR/tensorboard, when installed), wandb",
    )

    @field_validator("output_dir")
    @classmethod
    def _output_dir_placeholders(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty (it would be the current directory). Fix: name a directory, e.g. "
                             "runs/{model}-{method}")
        try:
            value.format(model="model", method="method")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"{value!r} has a placeholder other than {{model}} and {{method}} ({error}). Fix: use "
                             f"only those, and write a literal brace as {{{{ or }}}}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self):
        if self.global_batch_size % self.micro_batch_size:
            raise ValueError(
                f"global_batch_size ({self.global_batch_size}) must be a multiple of micro_batch_size "
                f"({self.micro_batch_size}). Fix: change one of them"
            )
        if self.warmup_steps > self.max_steps:
            raise ValueError(
                f"warmup_steps ({self.warmup_steps}) exceeds max_steps ({self.max_steps}). Fix: lower warmup_steps"
            )
        return self


class RunConfig(Strict):
    model: ModelConfig = Field(default_factory=ModelConfig)
    method: methods.config_type() = Field(
        default_factory=lambda: methods.get(DEFAULT_METHOD).config_class(),
        description=f"tuning method and its settings; `name` defaults to {DEFAULT_METHOD}",
    )
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _method_fits_model(self):
        method = methods.get(self.method.name)
        quantization = self.model.quantization
        if quantization in ("8bit", "4bit") and not method.parameter_efficient:
            raise ValueError(
                f"model.quantization is {quantization} but full fine-tuning cannot train {quantization[0]}-bit weights. "
                f"Fix: set model.quantization to auto (ignored for full) or none"
            )
        if quantization in ("8bit", "4bit") and method.refuse_base and (why := method.refuse_base(quantization, None)):
            raise ValueError(f"method {method.name} cannot train on {quantization} bases: {why}")
        required = method.base_quantization
        if required and quantization not in ("auto", required):
            base = "an unquantised" if required == "none" else f"a {required}"
            raise ValueError(
                f"method {method.name} trains on {base} base, but model.quantization is {quantization}. Fix: set "
                f"model.quantization to auto or {required}, or use method lora for a {quantization} base"
            )
        return self

    @property
    def learning_rate(self) -> float:
        return self.train.learning_rate or methods.get(self.method.name).default_learning_rate

    def output_dir(self) -> Path:
        short_model = Path(self.model.name.rstrip("/")).name
        return Path(self.train.output_dir.format(model=short_model, method=self.method.name))

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


# ----------------------------------------------------------------------------------------------
# Loading and error messages


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a YAML run config (or the defaults when `path` is None) and apply `key=value` overrides."""
    source = str(path) if path is not None else "<defaults>"
    raw = _read_yaml(Path(path)) if path is not None else {}
    parsed = [(override, *_parse_override(override)) for override in overrides]
    # A new method name comes first and resets the method section to that method's defaults: the
    # settings of the old method (e.g. LoRA's alpha in a saved config.yaml) mean nothing to the new one.
    parsed.sort(key=lambda item: item[1] != "method.name")
    override_keys = {}
    for override, key, value in parsed:
        if key == "method.name" and isinstance(raw.get("method"), dict) and raw["method"].get("name") != value:
            raw["method"] = {}
        _set_dotted(raw, key, value, f"--set {override}")
        override_keys[key] = override
    return validate_config(raw, source, override_keys)


def validate_config(raw: dict, source: str = "<config>", override_keys: dict[str, str] | None = None) -> RunConfig:
    if isinstance(raw.get("method"), dict):
        raw["method"].setdefault("name", DEFAULT_METHOD)
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, source, override_keys or {})) from None


def differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """`dotted.key (old -> new)` for every field in which two config mappings differ."""
    found = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += differences(a, b, f"{prefix}{key}.")
        elif a != b:
            found.append(f"{prefix}{key} ({a!r} -> {b!r})")
    return found


def _read_yaml(path: Path, sections: str = "model/method/data/train", example: str = "configs/astraios.yaml") -> dict:
    """The mapping in a YAML file; `sections` and `example` word the error for a non-mapping."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file. Fix: check the path (examples live in configs/).")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason}). Fix: save the file as "
                          f"UTF-8.") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(
            f"{path}:{where}: invalid YAML ({problem}). Fix: check indentation and quoting there."
        ) from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty, so every setting would silently take its default. Fix: "
                          f"start from {example}; to mean the defaults, write `{{}}` in it.")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping with sections {sections}, "
            f"not a {type(data).__name__}. Fix: see {example} for the layout."
        )
    return data


def _parse_override(override: str) -> tuple[str, Any]:
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override}: expected key=value, e.g. --set train.max_steps=20")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), parsed


def _set_dotted(raw: dict, key: str, value: Any, where: str) -> None:
    """Set a dotted key (`train.max_steps`) in a nested mapping; `where` names its origin in errors."""
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: `{part}` is not a section, so `{key}` cannot be set")
        node = child
    node[parts[-1]] = value


def _section_fields(loc: tuple, root: type[BaseModel] = RunConfig) -> list[str]:
    """Valid keys of the config section at a (raw pydantic) location, for 'did you mean' hints."""
    model: type[BaseModel] | None = root
    parts = list(loc)
    while parts and model is not None:
        part = parts.pop(0)
        if model is RunConfig and part == "method":
            # The method section's class depends on its `name`, which pydantic puts in the location.
            tag = parts.pop(0) if parts and parts[0] in methods.METHODS else None
            model = methods.get(tag).config_class if tag else None
        elif not isinstance(part, int):  # integers index list items (data.sources.0)
            field = model.model_fields.get(part)
            model = _section_class(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _section_class(annotation) -> type[BaseModel] | None:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_class(arg)
        if found:
            return found
    return None


def _display_loc(loc: tuple) -> tuple:
    # Tagged unions put the tag in the location (`method.lora.r`); users wrote `method.r`.
    if len(loc) > 1 and loc[0] == "method" and loc[1] in methods.METHODS:
        return (loc[0], *loc[2:])
    return loc


def _hint(error: dict, loc: tuple, root: type[BaseModel] = RunConfig) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        valid = _section_fields(loc[:-1], root)
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        guess = f"did you mean `{close[0]}`? " if close else ""
        return f"unknown key. Fix: {guess}remove it or use one of: {', '.join(valid)}"
    if kind == "missing":
        return f"required. Fix: add `{loc[-1]}: <value>`"
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        return f"unknown or missing method name. Fix: set `name:` to one of: {', '.join(methods.METHODS)}"
    if kind == "literal_error":
        return f"{error['msg']} (got {error.get('input')!r}). Fix: use one of those values"
    if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        return f"{error['msg']} (got {error.get('input')!r}). Fix: use a value that satisfies that bound"
    if kind == "too_short":
        return f"{error['msg']}. Fix: give at least {ctx.get('min_length', 1)} item(s)"
    if kind == "value_error":
        return f"{error['msg'].removeprefix('Value error, ')}"
    return f"{error['msg']} (got {error.get('input')!r}). Fix: give a value of the expected type"


def _describe(error: ValidationError, source: str, override_keys: dict[str, str],
              root: type[BaseModel] = RunConfig) -> str:
    """One line per problem, naming where it is, the field and a fix; `root` is the validated model."""
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        shown = _display_loc(loc)
        field = ".".join(str(part) for part in shown) or "<top level>"
        origin = override_keys.get(field) or next(
            (override for key, override in override_keys.items() if key.startswith(f"{field}.")), None
        )
        where = f"{source} (--set {origin})" if origin else source
        lines.append(f"{where}: field `{field}`: {_hint(item, loc, root)}")
    count = len(lines)
    header = f"invalid config ({count} problem{'s' if count > 1 else ''}):\n" if count > 1 else ""
    return header + "\n".join(lines)
