"""What to evaluate: a base model plus, optionally, a tuned method on top, resolved from what the
user typed.

`--model` may be a model name (tiny, StarCoder size, Hub id, local dir), a training run directory
(`config.yaml` + `final/`: the base comes from the config, the method from `final/`), or a saved
method directory itself (`final/`, with `astraios_method.json`). `--adapter` may be a saved method
directory, a run directory, a plain peft adapter directory or a peft adapter on the Hub. Full
fine-tuning saves a whole model, so its directory is loaded as the model, not as an adapter.

The fingerprint (a content hash of the adapter or fine-tuned model directory) keys the generation
cache, so retraining into the same directory never reuses stale generations.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from astraios.core.hub import looks_local, missing_local_path
from astraios.core.layout import CONFIG_FILE, FINAL_DIR
from astraios.methods.base import METHOD_FILE, read_method_file

PEFT_CONFIG = "adapter_config.json"
WHOLE_FILE_HASH_LIMIT = 64 * 1024 * 1024
EDGE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ModelSource:
    """A resolved evaluation target."""

    label: str  # what the user passed as --model, for results
    model: str  # what `models.load_model` loads: a name, Hub id or local directory
    adapter: str | None = None  # local method/peft directory or Hub peft id, loaded onto `model`
    method: str | None = None  # astraios method name or peft type of the adapter (or "full")
    revision: str | None = None
    trust_remote_code: bool = False
    fingerprint: str | None = None  # content hash of the adapter / fine-tuned model directory

    def identity(self) -> dict:
        """What distinguishes this target's generations from any other's (for the cache key)."""
        # Local paths are left out (a moved run directory keeps its cache); the fingerprint covers them.
        base = None if self.method == "full" else self.model
        return {"base": base, "revision": self.revision, "fingerprint": self.fingerprint}

    def describe(self) -> dict:
        return {"model": self.label, "base_model": self.model, "adapter": self.adapter, "method": self.method,
                "revision": self.revision, "fingerprint": self.fingerprint}


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / FINAL_DIR).is_dir()


def is_method_dir(path: Path) -> bool:
    return (path / METHOD_FILE).is_file()


def resolve(model: str, adapter: str | None = None, revision: str | None = None,
            trust_remote_code: bool = False) -> ModelSource:
    """Turn `--model` / `--adapter` into a `ModelSource`, or raise ValueError saying what to pass."""
    model_path = Path(model).expanduser()
    if (model_path / CONFIG_FILE).is_file() and not (model_path / FINAL_DIR).is_dir():
        raise ValueError(f"--model {model} is a training run directory without {FINAL_DIR}/: its training has not "
                         f"finished. Fix: finish it (`astraios train {model} --resume`) or pass a finished run.")
    if not model_path.exists() and looks_local(model):
        raise missing_local_path(model, "--model", "pass an existing run directory (e.g. runs/demo), a saved "
                                 "model directory, a model name (`astraios methods` lists the built-in ones) or a "
                                 "Hub id (owner/name).")
    if is_run_dir(model_path):
        if adapter:
            raise ValueError(f"--model {model} is a training run directory, which already names its method "
                             f"({model_path / FINAL_DIR}); drop --adapter, or pass the base model as --model.")
        config = _run_config(model_path)
        model_config = config.get("model", {})
        return _on_base(model, model_path / FINAL_DIR, model_config.get("name"),
                        model_config.get("revision") or revision,
                        bool(model_config.get("trust_remote_code", trust_remote_code)))
    if is_method_dir(model_path):
        if adapter:
            raise ValueError(f"--model {model} is a saved method directory; pass its base model as --model "
                             f"and this directory as --adapter, or drop --adapter.")
        return _on_base(model, model_path, read_method_file(model_path).get("base_model"), revision, trust_remote_code)
    if adapter is None:
        return ModelSource(label=model, model=model, revision=revision, trust_remote_code=trust_remote_code)
    adapter_path = Path(adapter).expanduser()
    if is_run_dir(adapter_path):
        adapter_path = adapter_path / FINAL_DIR
    if is_method_dir(adapter_path):
        return _on_base(model, adapter_path, model, revision, trust_remote_code)
    if not adapter_path.exists() and looks_local(adapter):
        raise missing_local_path(adapter, "--adapter", "pass a run's final/ directory, e.g. runs/my-run/final, or a "
                                 "peft adapter on the Hub (owner/name).")
    if (adapter_path / PEFT_CONFIG).is_file():
        peft_type = json.loads((adapter_path / PEFT_CONFIG).read_text()).get("peft_type")
        return ModelSource(label=model, model=model, adapter=str(adapter_path), method=peft_type, revision=revision,
                           trust_remote_code=trust_remote_code, fingerprint=fingerprint(adapter_path))
    if adapter_path.exists() or "/" not in adapter or adapter.startswith((".", "/", "~")):
        raise ValueError(f"--adapter {adapter}: not a directory saved by astraios ({METHOD_FILE}), a training run "
                         f"directory (config.yaml + final/) or a peft adapter ({PEFT_CONFIG}). Fix: pass a run's "
                         f"final/ directory, e.g. runs/my-run/final.")
    # A Hub adapter id (e.g. one of the study's published adapters): identified by id and revision.
    return ModelSource(label=model, model=model, adapter=adapter, method="peft", revision=revision,
                       trust_remote_code=trust_remote_code, fingerprint=f"hub:{adapter}@{revision or 'main'}")


def _on_base(label: str, directory: Path, base: str | None, revision: str | None, trust_remote_code: bool) -> ModelSource:
    method = read_method_file(directory).get("method")
    if method == "full":  # a complete model: load the directory itself
        return ModelSource(label=label, model=str(directory), method="full", trust_remote_code=trust_remote_code,
                           fingerprint=fingerprint(directory))
    if not base:
        raise ValueError(f"{directory / METHOD_FILE} does not name its base model. Fix: pass the base as --model "
                         f"and {directory} as --adapter.")
    return ModelSource(label=label, model=base, adapter=str(directory), method=method, revision=revision,
                       trust_remote_code=trust_remote_code, fingerprint=fingerprint(directory))


def _run_config(run_dir: Path) -> dict:
    try:
        data = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{run_dir / CONFIG_FILE}: unreadable YAML ({error}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("model"), dict) or not data["model"].get("name"):
        raise ValueError(f"{run_dir / CONFIG_FILE} has no model.name. Fix: pass --model BASE --adapter "
                         f"{run_dir / FINAL_DIR}.")
    return data


def fingerprint(directory: Path) -> str:
    """A content hash of every file under `directory`. Files over 64 MiB (whole fine-tuned models)
    are hashed by size plus their first and last MiB, so a 15B model costs milliseconds, not minutes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(directory).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        size = path.stat().st_size
        digest.update(size.to_bytes(8, "little"))
        with open(path, "rb") as handle:
            if size <= WHOLE_FILE_HASH_LIMIT:
                digest.update(handle.read())
            else:
                digest.update(handle.read(EDGE_BYTES))
                handle.seek(size - EDGE_BYTES)
                digest.update(handle.read(EDGE_BYTES))
    return digest.hexdigest()[:16]
