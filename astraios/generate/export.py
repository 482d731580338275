"""`astraios export`: a trained run as a plain transformers model (safetensors) that loads with
`AutoModelForCausalLM.from_pretrained` and serves with any tool, no peft or astraios needed.

- LoRA, its variants (DoRA, rsLoRA, PiSSA saved as a LoRA, LoRA+), VeRA, LoHa, LoKr and (IA)3
  change the weights they adapt by a fixed amount: peft's `merge_and_unload` folds them into the
  base (equal up to float rounding), so the export is the base architecture with new weights.
- Full fine-tuning's `final/` already is a plain model: it is copied (without astraios' own file).
- P-Tuning and the bottleneck adapters cannot be merged (`Method.cannot_merge` says why): refused,
  with how to use them instead.

The export is written to a temporary directory and moved into place once complete; an existing
output directory is replaced only if an earlier export wrote it (it holds EXPORT_FILE). Its files
get the mode the umask asks for, like every file astraios writes. A run's export/ is one of the
run's own entries: `astraios train --overwrite` removes it with the rest of the run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from astraios import methods
from astraios.core.io import apply_umask, replace_dir, write_json
from astraios.core.layout import EXPORT_DIR, FINAL_DIR
from astraios.generate.source import is_method_dir, is_run_dir, resolve
from astraios.methods.base import METHOD_FILE

EXPORT_FILE = "astraios_export.json"


class CannotExport(ValueError):
    """The run's method has no plain-model form."""


def default_output(run: str | Path) -> Path:
    """RUN_DIR/export, or beside a saved method directory (RUN_DIR/final -> RUN_DIR/export)."""
    path = Path(run)
    return path / EXPORT_DIR if is_run_dir(path) else path.resolve().parent / EXPORT_DIR


def export_run(run: str | Path, output: str | Path | None = None, dtype: str = "auto") -> dict:
    """Write `run` (a run directory or its final/) as a plain model into `output`; returns what was done."""
    run = Path(run)
    if not (is_run_dir(run) or is_method_dir(run)):
        raise ValueError(f"{run} is not a finished training run (config.yaml + {FINAL_DIR}/) nor a saved method "
                         f"directory ({METHOD_FILE}). Fix: pass a run directory that `astraios train` finished.")
    source = resolve(str(run))
    method = methods.get(source.method)
    if method.cannot_merge:
        raise CannotExport(f"{run}: {method.title} cannot be exported as a plain model: {method.cannot_merge}. Fix: "
                           f"use it as it is: `astraios eval --model {run}`, `astraios generate {run}`, or "
                           f"astraios.methods.load_trained(base, '{Path(source.adapter)}') in Python.")
    output = Path(output) if output is not None else default_output(run)
    if output.exists() and not (output / EXPORT_FILE).is_file():
        raise ValueError(f"{output} exists and was not written by astraios export. Fix: pass another --output, or "
                         f"remove it yourself.")
    tmp = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    record = {"run": str(run), "method": method.name, "base_model": source.model if method.parameter_efficient else None}
    if not method.parameter_efficient:  # full fine-tuning: final/ is the model
        shutil.copytree(source.model, tmp, ignore=shutil.ignore_patterns(METHOD_FILE))
        record["how"] = f"copied: full fine-tuning's {FINAL_DIR}/ already is a plain model"
    else:
        record.update(_merge_into(tmp, source, dtype))
    write_json(tmp / EXPORT_FILE, record)
    apply_umask(tmp)  # safetensors writes 0600 files whatever the umask
    replace_dir(tmp, output)
    return {**record, "output": str(output)}


def _merge_into(directory: Path, source, dtype: str) -> dict:
    import transformers

    from astraios.generate.huggingface import load_model_for_inference

    transformers.logging.disable_progress_bar()  # a shard bar for a one-file save is noise
    model, tokenizer, info = load_model_for_inference(source, dtype=dtype, device="cpu")
    if not info["adapter_merged"]:
        raise CannotExport(f"{source.adapter}: {info['adapter_merge_note']}")
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.padding_side = "right"  # inference loading set it to left; a plain model ships the default
    tokenizer.save_pretrained(str(directory))
    return {"how": "merged into the base weights (peft merge_and_unload)", "dtype": info["dtype"]}
