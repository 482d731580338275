"""Pin the files `astraios data download` fetches from GitHub: their origin (repository, commit,
path) and the sha256 and size of their content, taken from a reference copy of the data laid out
as `--data-dir` reads it. Run once by maintainers when a source changes:

    python scripts/pin_data_checksums.py [REFERENCE_DIR]   # default ../shared/data

Every file of REFERENCE_DIR must come from one rule below (the origins are those its SOURCES.md
records); a `.gz` file was compressed by the copy, so its checksum is of the decompressed content,
which is the upstream file byte for byte. Writes astraios/tasks/data_files.json.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "astraios" / "tasks" / "data_files.json"
REFERENCE = Path(sys.argv[1] if len(sys.argv) > 1 else REPO.parent / "shared" / "data")

OCTOPACK = ("bigcode-project/octopack", "e17a8f6470264286bc6a52eb8263582083bf3bf6")
RECODE = ("amazon-science/recode", "66885222dc277384b0641a621683ee5bcf4eaf5c")
AATK = ("moyix/AsleepKeyboardDataset", "371215092e78ed40dfe94beadf9c12f6f894428e")
AATK_TREE = ("imranur-rahman/copilot-cwe-scenarios-dataset", "57e75ebd9fe077b1bfe5b7373cc6cbbb35699d37")
ASTRAIOS = ("bigcode-project/astraios", "c679bc5d8956036876f7c974225c1d5042d9784b")
DEVIGN_SAMPLE = ("TurgutKursun/CodeXGLUE", "9d4af7690a8c2bc16b081aa0799bcaaa5086433a")
DEVIGN_SPLITS = ("madlag/CodeXGLUE", "43a3ddd4e7a4d5190c118b4948c47b333d31c3a2")

# (dataset, path in the data directory: a file, or a folder ending in "/", origin, path there: same shape).
# The first rule that matches a file decides, so single files come before their folder.
RULES = [
    ("humanevalpack-python", "humanevalpack/humanevalpack_python.jsonl", OCTOPACK,
     "evaluation/create/humaneval-x/data/python/data/humanevalpack.jsonl"),
    ("humanevalpack-java", "humanevalpack/humanevalpack_java.jsonl", OCTOPACK,
     "evaluation/create/humaneval-x/data/java/data/humanevalpack.jsonl"),
    ("recode", "recode/nominal/", RECODE, "dataset-release/nominal/"),
    ("recode", "recode/perturbed/", RECODE, "dataset-release/perturbed_finalized/"),
    ("aatk", "aatk/scenario_dow.jsonl", AATK, "data/scenario_dow.jsonl"),
    ("aatk", "aatk/custom_ql/", AATK, "custom_ql/"),
    ("aatk-original", "aatk/original_scenario_dow.jsonl", AATK, "data/original/original_scenario_dow.jsonl"),
    ("aatk-original", "aatk/experiments_dow/", AATK_TREE, "experiments_dow/"),
    *[("devign-sample", f"devign/sample_{split}.jsonl", DEVIGN_SAMPLE, f"Defect-detection/dataset/{split}.jsonl")
      for split in ("train", "valid", "test")],
    *[("devign-sample", f"devign/split_{split}.txt", DEVIGN_SPLITS, f"Code-Code/Defect-detection/dataset/{split}.txt")
      for split in ("train", "valid", "test")],
    ("study-outputs", "astraios_outputs/LICENSE", ASTRAIOS, "LICENSE"),
    ("study-outputs", "astraios_outputs/eval_code_comprehension.ipynb.gz", ASTRAIOS,
     "evaluation/eval_code_comprehension.ipynb"),
    ("study-outputs", "astraios_outputs/", ASTRAIOS, "outputs/"),
    ("octopack-oasst", "octopack_oasst/", OCTOPACK, "dataset/oasst/"),
]


def origin(relative: str) -> tuple[str, tuple[str, str], str]:
    """(dataset, (repository, commit), path in the repository) of a file of the data directory."""
    for dataset, layout, source_repo, source in RULES:
        if relative == layout or (layout.endswith("/") and relative.startswith(layout)):
            upstream = source if relative == layout else source + relative[len(layout):].removesuffix(".gz")
            return dataset, source_repo, upstream
    raise SystemExit(f"{relative}: no rule says where it comes from. Fix: add one to RULES in {__file__}.")


def content(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def main() -> None:
    if not REFERENCE.is_dir():
        raise SystemExit(f"{REFERENCE}: no such directory. Fix: pass the reference data directory.")
    datasets: dict[str, list[dict]] = {}
    for path in sorted(p for p in REFERENCE.rglob("*") if p.is_file() and p.name != "SOURCES.md"):
        relative = path.relative_to(REFERENCE).as_posix()
        dataset, (repository, commit), upstream = origin(relative)
        data = content(path)
        datasets.setdefault(dataset, []).append({"path": relative, "repo": repository, "commit": commit,
                                                  "source": upstream, "sha256": hashlib.sha256(data).hexdigest(),
                                                  "size": len(data)})
    about = ("Written by scripts/pin_data_checksums.py: the GitHub files `astraios data download` fetches, with the "
             "sha256 and size of their content. Do not edit by hand.")
    blocks = [f"  {json.dumps(name)}: [\n" + ",\n".join(f"   {json.dumps(entry)}" for entry in files) + "\n  ]"
              for name, files in datasets.items()]  # one file a line: reviewable diffs
    OUTPUT.write_text(f'{{"about": {json.dumps(about)},\n "datasets": {{\n' + ",\n".join(blocks) + "\n }\n}\n",
                      encoding="utf-8")
    print(f"{OUTPUT}: {sum(map(len, datasets.values()))} files in {len(datasets)} datasets")


if __name__ == "__main__":
    main()
