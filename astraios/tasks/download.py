"""`astraios data download`: the datasets the tasks read, fetched into the layout `--data-dir`
reads (`astraios.tasks.catalogue` says where each comes from), every file checked.

- A file already in place whose checksum matches is kept: a re-run fetches only what is missing.
- A file is fetched into `NAME.part` beside its place and moved there only once its checksum
  matches: an interrupted download leaves a `.part`, which the next run fetches again from the
  start; a download that does not match is deleted and named, never kept.
- A file in place whose checksum does not match (truncated, edited) is named on its dataset's
  line and fetched again.
- GitHub files come over plain HTTPS (urllib), several at a time, under a progress bar of the
  dataset's bytes; Hub files through huggingface_hub (its own bar per file) at the commit recorded
  for the directory.
- One line per dataset; a dataset that fails says why and the next one is still fetched.
- DIR/.astraios-data.json records, per dataset, where it came from (for a Hub dataset the commit,
  which later downloads into DIR keep) and the sha256 of each file.
- One download into a directory at a time (a lock file in it).
"""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import gzip
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from astraios.core.hub import describe, hub_reachable, quiet_retries
from astraios.core.io import read_json, write_json
from astraios.core.locks import exclusive
from astraios.tasks.catalogue import DATASETS, Dataset, PinnedFile, for_task, needed

MANIFEST = ".astraios-data.json"
LOCK = ".astraios-data.lock"
PARALLEL = 8  # files in flight: GitHub answers each small file in a round trip
CHUNK = 1 << 16
TIMEOUT_S = 60.0


class DownloadError(RuntimeError):
    """One dataset could not be fetched; the message says which file and why."""


def choose(names: list[str], everything: bool = False) -> list[Dataset]:
    """The datasets named (dataset or task names), or every one the tasks need, or with
    `everything` the reference data as well."""
    from astraios import tasks as registry

    if everything and names:
        raise ValueError(f"--all fetches every dataset; {' '.join(names)} would add nothing. Fix: drop the names or --all.")
    if not names:
        return list(DATASETS.values()) if everything else needed()
    chosen: dict[str, Dataset] = {}
    for name in names:
        if name in DATASETS:
            chosen[name] = DATASETS[name]
        elif name in registry.names():
            found = for_task(name)
            if not found:
                raise ValueError(f"task {name} needs no download: its problems are built into astraios.")
            chosen.update((dataset.name, dataset) for dataset in found)
        else:
            known = [*DATASETS, *registry.names()]
            close = difflib.get_close_matches(name, known, n=1)
            guess = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"unknown dataset or task `{name}`. Fix: {guess}name a dataset ({', '.join(DATASETS)}) "
                             f"or a task (`astraios tasks`), or nothing for every dataset the tasks read.")
    return list(chosen.values())


@dataclass
class Outcome:
    """What fetching one dataset did."""

    dataset: Dataset
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256, every file in place
    size: int = 0
    fetched: int = 0
    replaced: list[str] = field(default_factory=list)  # files in place whose checksum did not match
    origin: str = ""
    revision: str | None = None  # a Hub dataset's commit
    error: str | None = None

    def line(self, target: Path) -> str:
        from rich.filesize import decimal

        name = self.dataset.name
        if self.error:
            return f"{name}: not fetched: {self.error}"
        kept = len(self.files) - self.fetched
        done = (f"fetched {self.fetched}" + (f", {kept} already in place" if kept else "") if self.fetched
                else "all already in place")
        if self.replaced:
            more = f" and {len(self.replaced) - 1} more" if len(self.replaced) > 1 else ""
            done += f"; replaced {len(self.replaced)} corrupt (checksum differed): {self.replaced[0]}{more}"
        where = ", ".join(str(target / folder) for folder in self.dataset.folders)
        count = f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"
        return f"{name}: {count}, {decimal(self.size)}, sha256 checked ({done}) from {self.origin} -> {where}"

    def record(self) -> dict:
        return {"origin": self.origin, "revision": self.revision, "files": self.files,
                "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def download(datasets: list[Dataset], target: Path, *, progress: bool = True,
             report: Callable[[str], None] = print) -> list[Outcome]:
    """Fetch `datasets` into `target`, reporting one line per dataset as each finishes."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    target = Path(target)
    console = Console(stderr=True)  # the bars; the lines go to `report`
    outcomes = []
    with exclusive(target, "astraios data download", name=LOCK):  # made if missing, removed if left empty
        manifest = read_json(target / MANIFEST) if (target / MANIFEST).is_file() else {"datasets": {}}
        for dataset in datasets:
            outcome = Outcome(dataset)
            recorded = manifest["datasets"].get(dataset.name, {})
            try:
                if dataset.hub:
                    _fetch_hub(outcome, target, recorded.get("revision"), progress)
                else:
                    columns = (TextColumn(dataset.name), BarColumn(), DownloadColumn(), TransferSpeedColumn())
                    with Progress(*columns, console=console, transient=True,
                                  disable=not (progress and console.is_terminal)) as bar:
                        _fetch_pinned(outcome, target, bar)
            except DownloadError as error:
                outcome.error = str(error)
            else:
                manifest["datasets"][dataset.name] = outcome.record()
                write_json(target / MANIFEST, manifest)
            report(outcome.line(target))
            outcomes.append(outcome)
    return outcomes


def content_sha256(path: Path, digest=None, *, raw: bool = False) -> str:
    """The sha256 (or `digest`) of a file's content (decompressed, for a `.gz` file unless `raw`);
    a broken gzip file has none."""
    digest = digest or hashlib.sha256()
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" and not raw else open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except (OSError, EOFError):  # a truncated or garbled gzip stream
        return ""
    return digest.hexdigest()


def git_blob_id(path: Path) -> str:
    """The id git (and the Hub, for a file not stored in LFS) gives a file's bytes."""
    return content_sha256(path, hashlib.sha1(b"blob %d\0" % path.stat().st_size), raw=True)


def _in_place(outcome: Outcome, target: Path, relative: str, check: Callable[[Path], bool]) -> bool:
    """Whether the file is in place and passes `check`; one in place that fails it is named as corrupt."""
    path = target / relative
    if not path.is_file():
        return False
    if check(path):
        return True
    outcome.replaced.append(relative)
    return False


def _fetch_pinned(outcome: Outcome, target: Path, bar) -> None:
    files = outcome.dataset.files
    outcome.origin = ", ".join(sorted({f"github:{file.repo}@{file.commit[:8]}" for file in files}))
    outcome.size = sum(file.size for file in files)
    handle = bar.add_task(outcome.dataset.name, total=outcome.size)
    missing = []
    for file in files:
        if _in_place(outcome, target, file.path, lambda path, sha256=file.sha256: content_sha256(path) == sha256):
            bar.advance(handle, file.size)
        else:
            missing.append(file)
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = [pool.submit(_fetch_url, file, target, lambda size: bar.advance(handle, size)) for file in missing]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((future for future in done if future.exception()), None)
        if failed is not None:
            pool.shutdown(cancel_futures=True)  # what is in flight finishes; the next run fetches the rest
            raise failed.exception()
    outcome.fetched = len(missing)
    outcome.files = {file.path: file.sha256 for file in files}


def _fetch_url(file: PinnedFile, target: Path, advance: Callable[[int], None]) -> None:
    """Fetch one pinned file into its place, compressing it when its path ends in `.gz`."""
    path = target / file.path
    part = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(file.url, timeout=TIMEOUT_S) as response:
            path.parent.mkdir(parents=True, exist_ok=True)  # only once there is something to put there
            _write(response, part, file, digest, advance)
    except urllib.error.HTTPError as error:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{file.url} answered HTTP {error.code} ({error.reason}). Fix: re-run later; if it "
                            f"persists, the file moved: report it.") from None
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ValueError) as error:
        part.unlink(missing_ok=True)  # no answer, a refused or cut connection, a timeout
        reason = getattr(error, "reason", None) or error
        raise DownloadError(f"cannot fetch {file.url} ({reason}; offline?). Fix: re-run where GitHub can be "
                            f"reached: files already in place are kept.") from None
    except OSError as error:  # writing: a full disk, no permission
        part.unlink(missing_ok=True)
        raise DownloadError(f"cannot write {part} ({error.strerror or error}). Fix: make room there, or choose "
                            f"another --to.") from None
    if digest.hexdigest() != file.sha256:
        part.unlink()
        raise DownloadError(f"{file.path}: the file fetched from {file.url} has sha256 {digest.hexdigest()}, not the "
                            f"pinned {file.sha256}; it was not kept. Fix: re-run; if it persists, report it.")
    os.replace(part, path)


def _write(response, part: Path, file: PinnedFile, digest, advance: Callable[[int], None]) -> None:
    """The response into `part` (gzipped when the file's path ends in `.gz`), hashing its content."""
    compress = file.path.endswith(".gz") and not file.source.endswith(".gz")
    with open(part, "wb") as raw, (gzip.GzipFile("", "wb", 6, raw, mtime=0) if compress
                                   else contextlib.nullcontext(raw)) as sink:
        while chunk := response.read(CHUNK):
            digest.update(chunk)
            sink.write(chunk)
            advance(len(chunk))


def _fetch_hub(outcome: Outcome, target: Path, revision: str | None, progress: bool) -> None:
    """The Hub files of a dataset, at `revision` (the directory's recorded commit) or main's commit."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    split = outcome.dataset.hub
    if not hub_reachable(note=False):  # this dataset's line says it
        raise DownloadError("the Hugging Face Hub cannot be reached (offline?). Fix: re-run where it can be reached.")
    api = HfApi()
    folder = split.pattern.rpartition("/")[0] or None
    try:
        with quiet_retries():
            revision = revision or api.dataset_info(split.repo_id, revision="main").sha
            entries = [entry for entry in api.list_repo_tree(split.repo_id, path_in_repo=folder, revision=revision,
                                                             repo_type="dataset", recursive=True)
                       if isinstance(entry, RepoFile) and fnmatch.fnmatchcase(entry.path, split.pattern)]
    except Exception as error:  # offline, moved, gated: said in one line
        raise DownloadError(f"{split.repo_id}: {describe(error)}. Fix: re-run where the Hub can be reached.") from None
    if not entries:
        raise DownloadError(f"{split.repo_id} at {revision} has no file matching {split.pattern}. Fix: report it.")
    outcome.origin, outcome.revision = f"hub:{split.repo_id}@{revision[:8]}", revision
    quiet = not progress and not are_progress_bars_disabled()
    if quiet:
        disable_progress_bars()
    try:
        for entry in entries:
            relative = f"{split.folder}/{entry.path}"
            outcome.size += entry.size
            if not _in_place(outcome, target, relative, lambda path, entry=entry: _matches_hub(path, entry)):
                _fetch_hub_file(split, entry, revision, target)
                outcome.fetched += 1
            outcome.files[relative] = entry.lfs.sha256 if entry.lfs else content_sha256(target / relative)
    finally:
        if quiet:
            enable_progress_bars()


def _matches_hub(path: Path, entry) -> bool:
    """Whether a file has the checksum the Hub lists: the sha256 of an LFS file, else its git blob id."""
    return content_sha256(path) == entry.lfs.sha256 if entry.lfs else git_blob_id(path) == entry.blob_id


def _fetch_hub_file(split, entry, revision: str, target: Path) -> None:
    from huggingface_hub import hf_hub_download

    try:
        with quiet_retries():
            fetched = Path(hf_hub_download(split.repo_id, entry.path, repo_type="dataset", revision=revision,
                                           local_dir=target / split.folder, force_download=True))
    except Exception as error:  # offline, moved, gated, a full disk: said in one line
        raise DownloadError(f"{split.repo_id}/{entry.path}: {describe(error)}. Fix: re-run: files already in place "
                            f"are kept.") from None
    if not _matches_hub(fetched, entry):
        fetched.unlink()
        raise DownloadError(f"{split.folder}/{entry.path}: the file fetched from the Hub does not have the checksum "
                            f"the Hub lists for it; it was not kept. Fix: re-run.")
