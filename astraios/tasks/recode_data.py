"""ReCode's perturbed HumanEval: where it lives and how it is read (the `recode-*` tasks and
`astraios perturb` share this, so what one writes the other reads).

Two sources, same records:

- ReCode's own release layout under the data directory (`--data-dir` / `ASTRAIOS_DATA_DIR`):

      recode/nominal/HumanEval.jsonl                 the 164 problems as released
      recode/nominal/humaneval_partial.jsonl         the same, with half of each solution in the prompt
      recode/perturbed/humaneval/full/<category>/humaneval_<transformation>_s<seed>.jsonl[.gz]

  where <category> is ReCode's directory name: `nlaugmenter` (docstring), `func_name` (function
  name), `natgen` (syntax), `format` (format). Deterministic transformations have only `s0`,
  random ones `s0`..`s9`. The seed comes from the file name (ReCode's func_name files have no
  `seed` field). Records: `task_id`, `prompt`, `entry_point`, `canonical_solution`, `test`, and
  for natgen/format `partial` (the unperturbed code with a split marker). A file may lack a
  problem (`astraios perturb` leaves out records whose check failed): that problem then has fewer
  variants of that transformation.

- The Hub dataset `RaymondLi/perturbed_humaneval` (one config per category, split `test`, read
  from its Parquet export because `datasets` no longer runs its loading script), whose records
  carry `seed` and `perturbation_name` themselves; the nominal problems come from
  `openai/openai_humaneval`, and for natgen/format the nominal partial code is rebuilt from the
  records' `partial` field (split at ReCode's marker line), which reproduces ReCode's
  `humaneval_partial.jsonl` exactly.

The natgen/format prompts are partial code (the prompt plus the first half of the solution,
perturbed), so their nominal is the partial-code file, not HumanEval itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from astraios.tasks.data import (
    DataNotFoundError,
    HubFile,
    data_dir,
    find_local,
    hub_download,
    missing_data_message,
    read_jsonl,
)

DATASET_DIR = "recode"
PERTURBED_DIR = "perturbed/humaneval/full"
NOMINAL_FILES = {"full": "nominal/HumanEval.jsonl", "partial": "nominal/humaneval_partial.jsonl"}
# Our category names (the study's) -> ReCode's directory / Hub config names.
CATEGORIES = {"docstring": "nlaugmenter", "funcname": "func_name", "syntax": "natgen", "format": "format"}
PARTIAL_CATEGORIES = {"natgen", "format"}
FILE_PATTERN = re.compile(r"^humaneval_(?P<name>.+)_s(?P<seed>\d+)\.jsonl(?:\.gz)?$")
SPLIT_MARKER = "# print('@@this is the line to split##')"  # ReCode's marker in `partial`
NOMINAL = "nominal"
FIELDS = ("task_id", "prompt", "entry_point", "test")  # what scoring needs; canonical_solution is optional
# The transformations ReCode's own report counts per category (its `config.json`: NL_AUG_RECIPES,
# PARTIAL_RECIPES, FUNC_RECIPES, FORMAT_RECIPES); the release's natgen also has DeadCodeInserterLast.
REPORTED = {
    "nlaugmenter": ("BackTranslation", "ButterFingersPerturbation", "ChangeCharCase", "EnglishInflectionalVariation",
                    "SwapCharactersPerturbation", "SynonymInsertion", "SynonymSubstitution",
                    "TenseTransformationPast", "TenseTransformationFuture", "WhitespacePerturbation"),
    "natgen": ("DeadCodeInserter", "ForWhileTransformer", "OperandSwap", "VarRenamerCB", "VarRenamerNaive",
               "VarRenamerRN"),
    "func_name": ("FuncRenameCamelCase", "FuncRenameButterFinger", "FuncRenameSwapChar", "FuncRenameChangeChar",
                  "FuncRenameInflectionalVariation", "FuncRenameSynonymSub"),
    "format": ("tab_indent", "split_lines", "doc2comments", "new_lines", "new_line_aftercode", "new_line_afterdoc"),
}
HUB_REPO = "RaymondLi/perturbed_humaneval"
HUB_REVISION = "refs/convert/parquet"
HUB_NOMINAL = HubFile("openai/openai_humaneval", "openai_humaneval/test-00000-of-00001.parquet")
DOWNLOAD = "recode"  # the dataset's name for `astraios data download`


def hub_file(category_dir: str) -> HubFile:
    return HubFile(HUB_REPO, f"{category_dir}/test/0000.parquet", HUB_REVISION)


def variant_file(category_dir: str, transformation: str, seed: int) -> str:
    """A variant file's path relative to the data directory."""
    return f"{DATASET_DIR}/{PERTURBED_DIR}/{category_dir}/humaneval_{transformation}_s{seed}.jsonl"


def nominal_kind(category_dir: str) -> str:
    return "partial" if category_dir in PARTIAL_CATEGORIES else "full"


@dataclass
class CategoryData:
    """nominal: one record per problem, in problem order; variants: every perturbed record, each
    with `perturbation_name` and `seed`; source: where they were read."""

    nominal: list[dict]
    variants: list[dict]
    source: str


def load_category(category_dir: str, explicit_dir: str | Path | None = None) -> CategoryData:
    """Every record of one ReCode category, from the local data directory if one is given, else the Hub."""
    directory = data_dir(explicit_dir)
    if directory is not None:
        return _load_local(directory, category_dir)
    try:
        return _load_hub(category_dir)
    except DataNotFoundError:
        raise
    except Exception as error:  # offline, no such repo or file, auth: all end in the same advice
        candidates = [f"{DATASET_DIR}/{PERTURBED_DIR}/{category_dir}/", f"{DATASET_DIR}/{NOMINAL_FILES['full']}"]
        raise DataNotFoundError(missing_data_message(f"ReCode {category_dir}", candidates, None,
                                                     f"{HUB_REPO} ({category_dir})", error,
                                                     download=DOWNLOAD)) from error


def load_nominal(explicit_dir: str | Path | None = None) -> list[dict]:
    """The nominal HumanEval problems: `recode/nominal/HumanEval.jsonl` locally, else the Hub's."""
    directory = data_dir(explicit_dir)
    relative = f"{DATASET_DIR}/{NOMINAL_FILES['full']}"
    if directory is not None:
        path = find_local(directory, [relative])
        if path is None:
            raise DataNotFoundError(missing_data_message("ReCode nominal", [relative], directory, str(HUB_NOMINAL),
                                                         download=DOWNLOAD))
        return [_normalised(record, NOMINAL, None, path) for record in read_jsonl(path)]
    try:
        return [_normalised(row, NOMINAL, None, HUB_NOMINAL) for row in _hub_rows(HUB_NOMINAL)]
    except Exception as error:
        raise DataNotFoundError(missing_data_message("ReCode nominal", [relative], None, str(HUB_NOMINAL),
                                                     error, download=DOWNLOAD)) from error


def _load_local(directory: Path, category_dir: str) -> CategoryData:
    root = directory / DATASET_DIR
    folder = root / PERTURBED_DIR / category_dir
    if not folder.is_dir():
        present = sorted(p.name for p in (root / PERTURBED_DIR).iterdir()) if (root / PERTURBED_DIR).is_dir() else []
        found = f"it holds {', '.join(present)}" if present else f"{root / PERTURBED_DIR} does not exist"
        raise DataNotFoundError(
            f"ReCode category directory {folder} is missing ({found}). Fix: pass --data-dir DIR where DIR/"
            f"{DATASET_DIR}/{PERTURBED_DIR}/{category_dir}/ holds ReCode's humaneval_<transformation>_s<seed>.jsonl "
            f"files (`astraios data download {DOWNLOAD} --to DIR` fetches ReCode's release into it; "
            f"`astraios perturb --output DIR` writes the same layout), or unset it to read the Hub's {HUB_REPO}.")
    nominal_relative = f"{DATASET_DIR}/{NOMINAL_FILES[nominal_kind(category_dir)]}"
    nominal_path = find_local(directory, [nominal_relative])
    if nominal_path is None:
        raise DataNotFoundError(f"ReCode nominal file {directory / nominal_relative} is missing (the {category_dir} "
                                f"variants are compared against it). Fix: `astraios data download {DOWNLOAD} --to "
                                f"{directory}` fetches it, or write the layout with `astraios perturb`.")
    nominal = [_normalised(record, NOMINAL, None, nominal_path) for record in read_jsonl(nominal_path)]
    variants = []
    for path in sorted(folder.iterdir(), key=lambda p: _file_key(p, folder)):
        if not path.name.endswith((".jsonl", ".jsonl.gz")):
            continue
        match = FILE_PATTERN.match(path.name)
        name, seed = match["name"], int(match["seed"])
        variants.extend(_normalised(record, name, seed, path) for record in read_jsonl(path))
    if not variants:
        raise DataNotFoundError(f"ReCode category directory {folder} holds no humaneval_<transformation>_s<seed>.jsonl "
                                f"files. Fix: point --data-dir at a complete ReCode layout.")
    return CategoryData(nominal, variants, str(folder))


def _file_key(path: Path, folder: Path) -> tuple[str, int]:
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        return ("", -1)
    match = FILE_PATTERN.match(path.name)
    if match is None:
        raise ValueError(f"{path}: not a ReCode variant file name. Fix: name it humaneval_<transformation>_s<seed>.jsonl "
                         f"(e.g. humaneval_ButterFingersPerturbation_s0.jsonl), or move it out of {folder}.")
    return (match["name"], int(match["seed"]))


def _normalised(record: dict, transformation: str, seed: int | None, source) -> dict:
    missing = [name for name in FIELDS if not isinstance(record.get(name), str)]
    if missing:
        raise ValueError(f"{source}: record {record.get('task_id', '?')} lacks {', '.join(missing)}. Fix: every ReCode "
                         f"record needs {', '.join(FIELDS)}.")
    extra = {key: record[key] for key in ("partial", "perturbed") if key in record}
    return {**{name: record[name] for name in FIELDS}, "canonical_solution": record.get("canonical_solution") or "",
            **extra, "perturbation_name": transformation, "seed": seed}


def _hub_rows(file: HubFile) -> list[dict]:
    """The rows of one Parquet file of a Hub dataset (downloaded once into the Hub cache)."""
    import pyarrow.parquet as parquet

    return parquet.read_table(hub_download(file)).to_pylist()


def _load_hub(category_dir: str) -> CategoryData:
    source = hub_file(category_dir)
    variants = [_normalised(row, _hub_name(row["perturbation_name"]), int(row["seed"]), source)
                for row in _hub_rows(source)]
    nominal = [_normalised(row, NOMINAL, None, HUB_NOMINAL) for row in _hub_rows(HUB_NOMINAL)]
    if category_dir in PARTIAL_CATEGORIES:
        nominal = nominal_partial(nominal, variants, str(source))
    return CategoryData(nominal, variants, str(source))


def _hub_name(name: str) -> str:
    """`humaneval_ButterFingersPerturbation` or `ButterFingersPerturbation` -> the latter, as in file names."""
    return name[len("humaneval_"):] if name.startswith("humaneval_") else name


def nominal_partial(nominal: list[dict], variants: list[dict], source: str) -> list[dict]:
    """ReCode's nominal partial code, rebuilt from the variants' `partial` field: the prompt is the
    code before the marker line, the canonical solution the code after it. A problem whose solution
    was too short to split (`partial` null) keeps its full prompt."""
    partial = {}
    for record in variants:
        if "partial" not in record:
            raise DataNotFoundError(f"{source} has no `partial` field, which the nominal partial code is rebuilt "
                                    f"from. Fix: pass --data-dir with ReCode's release (recode/nominal/"
                                    f"{Path(NOMINAL_FILES['partial']).name}).")
        partial.setdefault(record["task_id"], record["partial"])
    rebuilt = []
    for record in nominal:
        code = partial.get(record["task_id"])
        if code is None:
            rebuilt.append(record)
            continue
        lines = code.split("\n")
        marker = next(i for i, line in enumerate(lines) if line.strip() == SPLIT_MARKER)
        rebuilt.append({**record, "prompt": "\n".join(lines[:marker]) + "\n",
                        "canonical_solution": "\n".join(lines[marker + 1:])})
    return rebuilt


DEFECTS_FILE = Path(__file__).with_name("recode_defects.json")


def release_defects() -> dict[tuple[str, str, int], str]:
    """Records of ReCode's release whose canonical solution fails its tests even when fitted to
    the prompt (`astraios.tasks.recode.canonical_program`): (task_id, transformation, seed) -> why.
    Most are the release's own breakage (a synonym inserted into the closing quotes leaves the
    docstring open; function renames whose tests still call the old name; dead code inserted at
    module level). Regenerate with `python scripts/recode_release_defects.py`."""
    import json

    if not DEFECTS_FILE.is_file():
        return {}
    found = {}
    for transformations in json.loads(DEFECTS_FILE.read_text(encoding="utf-8"))["defects"].values():
        for name, problems in transformations.items():
            for task_id, entry in problems.items():
                for seed in entry["seeds"]:
                    found[(task_id, name, seed)] = entry["reason"]
    return found
