"""Where benchmark data comes from: a local data directory, or the Hugging Face Hub.

One place for every task: `--data-dir DIR` (passed in as `data_dir`) wins, then the environment
variable `ASTRAIOS_DATA_DIR`, then the Hub. A local directory is laid out as `astraios data
download --to DIR` writes it (one folder per dataset, e.g. `humanevalpack/humanevalpack_python.jsonl`;
`astraios.tasks.catalogue`); `.jsonl` files may also be gzipped (`.jsonl.gz`). When neither place
has the data, `DataNotFoundError` says what was looked for and how to get it: the download command,
and the sample shipped with astraios where it has the dataset.

Offline, the Hub is not asked at all (`astraios.core.hub.hub_reachable`, found out once): only
the local Hugging Face cache is read, so a missing file is one error at once, not half a minute
of the client's retries.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from astraios.core.hub import cache_only, describe, hub_reachable, quiet_retries

DATA_DIR_ENV = "ASTRAIOS_DATA_DIR"
SAMPLE_NAME = "astraios-sample"  # --data-dir astraios-sample: a few problems shipped for offline try-outs
SAMPLE_DIR = Path(__file__).parent / "sample"


class DataNotFoundError(FileNotFoundError):
    """Benchmark data is neither in the local data directory nor reachable on the Hub."""


@dataclass(frozen=True)
class HubFile:
    """One file of a Hub dataset repository."""

    repo_id: str
    filename: str
    revision: str | None = None

    def __str__(self) -> str:
        return f"{self.repo_id}/{self.filename}"


def data_dir(explicit: str | Path | None = None) -> Path | None:
    """The local data directory: `explicit` (from --data-dir), else $ASTRAIOS_DATA_DIR, else None;
    `astraios-sample` names the small sample shipped in the package (see its LICENSE.md). Programs
    the sandbox runs from now on cannot read it (it holds the tests and their answers)."""
    from astraios.sandbox.host import hide_from_programs

    value = explicit if explicit not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    if value is None:
        return None
    path = SAMPLE_DIR if str(value) == SAMPLE_NAME else Path(value).expanduser()
    if not path.is_dir():
        origin = "--data-dir" if explicit not in (None, "") else f"${DATA_DIR_ENV}"
        raise DataNotFoundError(f"{origin} points to {path}, which is not a directory. Fix: give the directory "
                                f"that holds the dataset folders (e.g. humanevalpack/), or make one with `astraios data "
                                f"download --to {path}`.")
    hide_from_programs(path)
    return path


def find_local(directory: Path | None, candidates: Sequence[str]) -> Path | None:
    """The first of `candidates` (paths relative to the data directory) that exists, also as .gz."""
    if directory is None:
        return None
    for relative in candidates:
        for path in (directory / relative, directory / f"{relative}.gz"):
            if path.is_file():
                return path
    return None


def open_text(path: Path):
    """A data file opened as text; `find_local` also finds a gzipped `NAME.gz`."""
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_jsonl(path: Path) -> list[dict]:
    with open_text(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def missing_data_message(dataset: str, candidates: Sequence[str], directory: Path | None, hub: str, error=None, *,
                         download: str) -> str:
    """Why `dataset` could not be loaded and how to get it: `astraios data download <download>` (a
    dataset of `astraios.tasks.catalogue`), and the shipped sample when it has the dataset."""
    looked = f"not in {directory} (looked for {', '.join(candidates)})" if directory else "no local data directory given"
    reason = f"; the Hub download of {hub} failed: {describe(error)}" if error else ""
    target = directory if directory not in (None, SAMPLE_DIR) else "DIR"
    fix = f"fetch it once with `astraios data download {download} --to {target}`"
    fix += f", then pass --data-dir {target} (or set {DATA_DIR_ENV}={target})" if target == "DIR" else ""
    if directory is not None:
        fix += f"; or leave out --data-dir (and {DATA_DIR_ENV}) to read {hub} from the Hugging Face Hub"
    if find_local(SAMPLE_DIR, candidates) is not None and directory != SAMPLE_DIR:
        fix += f"; or try the few problems shipped with astraios: --data-dir {SAMPLE_NAME}"
    return f"{dataset} data not found: {looked}{reason}. Fix: {fix}."


def hub_access():
    """A context for reading the Hub: the client's retry lines silenced (the caller words the
    outcome), or, offline, the local Hugging Face cache only."""
    return quiet_retries() if hub_reachable() else cache_only()


def hub_download(file: HubFile) -> Path:
    """A Hub dataset file, downloaded once into the Hub cache; offline, the cached copy only."""
    from huggingface_hub import hf_hub_download

    with hub_access():
        return Path(hf_hub_download(repo_id=file.repo_id, filename=file.filename, revision=file.revision,
                                    repo_type="dataset"))


def load_jsonl_records(dataset: str, candidates: Sequence[str], hub_file: HubFile, explicit_dir: str | Path | None = None,
                       *, download: str) -> list[dict]:
    """Records of a jsonl dataset: from the local data directory if it has one of `candidates`,
    else the Hub file (downloaded once into the Hub cache); `download` names it for `astraios data download`."""
    directory = data_dir(explicit_dir)
    local = find_local(directory, candidates)
    if local is not None:
        return read_jsonl(local)
    if directory is not None:
        # An explicit local directory without the file is a mistake worth reporting, not a reason
        # to go to the network behind the user's back.
        raise DataNotFoundError(missing_data_message(dataset, candidates, directory, str(hub_file), download=download))
    try:
        path = hub_download(hub_file)
    except Exception as error:  # offline, no such repo, auth: all end in the same advice
        raise DataNotFoundError(missing_data_message(dataset, candidates, None, str(hub_file), error,
                                                     download=download)) from error
    return read_jsonl(path)
