"""The datasets the tasks read: where `astraios data download` fetches each one from, which tasks
need it, what each file must hash to, and whether it is already on this machine.

    dataset               tasks                    source
    humanevalpack-python  humaneval*-python        bigcode-project/octopack @ e17a8f64 (GitHub)
    humanevalpack-java    humaneval*-java          bigcode-project/octopack @ e17a8f64 (GitHub)
    recode                recode-*                 amazon-science/recode @ 66885222: ReCode's release (GitHub)
    aatk                  aatk                     moyix/AsleepKeyboardDataset @ 37121509 (GitHub)
    devign                devign                   Hub google/code_x_glue_cc_defect_detection, test split
    bigclonebench         bigclonebench            Hub google/code_x_glue_cc_clone_detection_big_clone_bench, test split
Reference data no task reads (the test suite and the comparisons with the study's own outputs do):
    devign-sample         a few real Devign records and the official split ids (GitHub CodeXGLUE copies)
    aatk-original         the original DoW scenario tree and prompts (GitHub)
    study-outputs         the Astraios study's saved generations and scoring notebook (bigcode-project/astraios)
    octopack-oasst        OctoPack's filtered OASST + CommitPackFT instructions (bigcode-project/octopack)

Pinned: every GitHub file, by a raw URL at a commit (its bytes cannot change) and the sha256 and
size of its content in `data_files.json`, written by scripts/pin_data_checksums.py from a reference
copy of these files; a test checks them against that copy where it is present. A file whose path
ends in `.gz` is stored gzipped, as the reference copy stores it; its checksum is of the content.

Not pinned in the package: devign and bigclonebench. Their files are the Hub's Parquet export of
the test split, which is in no reference copy the project holds (the full Devign split and
BigCloneBench are larger than what it keeps), so neither their checksums nor a Hub commit could be
recorded in advance. They are fetched at the commit the Hub names for `main` at the first
download into a directory, checked against the sha256 the Hub lists for each file, and both are
recorded in the directory's `.astraios-data.json`, so later downloads into it stay at that commit.

HumanEvalPack comes from the OctoPack repository rather than the Hub's `bigcode/humanevalpack`
(which the tasks read when no data directory is given) because only the repository's files could
be pinned: its commit and their checksums are known, the Hub copy's commit is not.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote

GITHUB_RAW = "https://raw.githubusercontent.com"
FILES = Path(__file__).with_name("data_files.json")


@dataclass(frozen=True)
class PinnedFile:
    """One file of the data directory, fetched from a GitHub repository at a commit."""

    path: str  # in the data directory; a `.gz` path is stored gzipped
    repo: str
    commit: str
    source: str  # the file's path in the repository
    sha256: str  # of the content (decompressed, for a `.gz` path)
    size: int

    @property
    def url(self) -> str:
        return f"{GITHUB_RAW}/{self.repo}/{self.commit}/{quote(self.source)}"


@dataclass(frozen=True)
class HubSplit:
    """Files of a Hub dataset repository matching `pattern`, kept at their repository paths under
    `folder` of the data directory (e.g. devign/data/test-00000-of-00001.parquet)."""

    repo_id: str
    pattern: str
    folder: str


@dataclass(frozen=True)
class Dataset:
    name: str
    what: str
    tasks: tuple[str, ...] = ()  # patterns of the task names that read it; () = reference data
    hub: HubSplit | None = None  # else its files are pinned GitHub files (data_files.json)
    layouts: tuple[tuple[str, ...], ...] = ()  # Hub datasets: other file sets the loaders accept (globs)
    cached: tuple[tuple[str, str, str], ...] = ()  # (tasks glob, Hub dataset, file glob) read without a data directory

    @property
    def files(self) -> list[PinnedFile]:
        return [PinnedFile(**entry) for entry in _pinned().get(self.name, [])]

    @property
    def folders(self) -> list[str]:
        """Its top folders in the data directory."""
        if self.hub:
            return [self.hub.folder]
        return sorted({file.path.split("/", 1)[0] for file in self.files})


RECODE_CACHE = tuple((f"recode-{task}", "RaymondLi/perturbed_humaneval", f"{category}/test/0000.parquet")
                     for task, category in (("docstring", "nlaugmenter"), ("funcname", "func_name"),
                                            ("syntax", "natgen"), ("format", "format")))
DATASETS = {dataset.name: dataset for dataset in (
    *(Dataset(f"humanevalpack-{language}", f"HumanEvalPack {name}: 164 problems with tests, bugs, docstrings",
              (f"humaneval*-{language}",),
              cached=(("*", "bigcode/humanevalpack", f"data/{language}/data/humanevalpack.jsonl"),))
      for language, name in (("python", "Python"), ("java", "Java"))),
    Dataset("recode", "ReCode: HumanEval and its 4 categories of perturbed prompts", ("recode-*",),
            cached=(*RECODE_CACHE, ("*", "openai/openai_humaneval", "openai_humaneval/test-*.parquet"))),
    Dataset("aatk", "Asleep at the Keyboard: 54 DoW scenarios and their custom CodeQL queries", ("aatk",)),
    Dataset("devign", "CodeXGLUE Devign defect detection: the 2,732-function test split", ("devign",),
            hub=HubSplit("google/code_x_glue_cc_defect_detection", "data/test-*.parquet", "devign"),
            layouts=(("devign/test.parquet",), ("devign/test.jsonl",), ("devign/function.json", "devign/test.txt"),
                     ("devign/sample_test.jsonl", "devign/split_test.txt")),
            cached=(("*", "google/code_x_glue_cc_defect_detection", "data/test-*"),)),
    Dataset("bigclonebench", "CodeXGLUE BigCloneBench clone detection: the 415,416-pair test split", ("bigclonebench",),
            hub=HubSplit("google/code_x_glue_cc_clone_detection_big_clone_bench", "data/test-*.parquet",
                         "bigclonebench"),
            layouts=(("bigclonebench/test.parquet",), ("bigclonebench/test.jsonl",),
                     ("bigclonebench/data.jsonl", "bigclonebench/test.txt")),
            cached=(("*", "google/code_x_glue_cc_clone_detection_big_clone_bench", "data/test-*"),)),
    Dataset("devign-sample", "reference: 37 real Devign records and the official split ids"),
    Dataset("aatk-original", "reference: the original DoW scenario tree and uncleaned prompts"),
    Dataset("study-outputs", "reference: the Astraios study's saved generations and scoring notebook"),
    Dataset("octopack-oasst", "reference: OctoPack's OASST + CommitPackFT instructions (prompt, completion)"),
)}


@cache
def _pinned() -> dict[str, list[dict]]:
    return json.loads(FILES.read_text(encoding="utf-8"))["datasets"]


def for_task(task: str) -> list[Dataset]:
    """The datasets task `task` reads (none: its problems are built in)."""
    return [dataset for dataset in DATASETS.values() if any(fnmatch.fnmatchcase(task, p) for p in dataset.tasks)]


def needed() -> list[Dataset]:
    """Every dataset some task reads."""
    return [dataset for dataset in DATASETS.values() if dataset.tasks]


def in_directory(dataset: Dataset, directory: Path) -> bool:
    """Whether `directory` holds the dataset: every pinned file (plain or gzipped), or for a Hub
    dataset its downloaded files or another layout its loader reads."""
    if dataset.hub:
        layouts = ((f"{dataset.hub.folder}/{dataset.hub.pattern}",), *dataset.layouts)
        return any(all(_matches(directory, pattern) for pattern in layout) for layout in layouts)
    return all(_matches(directory, file.path.removesuffix(".gz")) for file in dataset.files)


def in_hub_cache(dataset: Dataset, task: str) -> bool:
    """Whether the local Hugging Face cache holds what task `task` reads of the dataset from the Hub
    (AATK's Hub copy is read through `datasets`, whose own cache this does not look into)."""
    needs = [(repo, pattern) for tasks, repo, pattern in dataset.cached if fnmatch.fnmatchcase(task, tasks)]
    if not needs:
        return False
    from huggingface_hub import constants

    root = Path(constants.HF_HUB_CACHE)
    return all(any((root / f"datasets--{repo.replace('/', '--')}" / "snapshots").glob(f"*/{pattern}"))
               for repo, pattern in needs)


def data_status(task: str, directory: Path | None) -> tuple[str, list[str]]:
    """(where task `task` finds its data offline: `built in`, `data dir`, `hub cache` or `missing`;
    the datasets `astraios data download` would fetch for it)."""
    places, missing = [], []
    for dataset in for_task(task):
        if directory is not None and in_directory(dataset, directory):
            places.append("data dir")
        elif directory is None and in_hub_cache(dataset, task):  # with a data directory the tasks never read the Hub
            places.append("hub cache")
        else:
            missing.append(dataset.name)
    if missing:
        return "missing", missing
    return " + ".join(dict.fromkeys(places)) or "built in", []


def _matches(directory: Path, pattern: str) -> bool:
    return any(directory.glob(pattern)) or any(directory.glob(f"{pattern}.gz"))
