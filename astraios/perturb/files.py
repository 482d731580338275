"""What `astraios perturb` reads and where it writes, checked before any work: every way the input
file or the output folder can be wrong is one error naming the file, the line or record, the field
and the fix.

Input: HumanEval-style JSON lines (.jsonl, or .jsonl.gz), one object per problem with string
fields task_id, prompt, canonical_solution, test and entry_point, each task_id once, every field
valid Unicode text (a lone surrogate from a JSON escape cannot be saved as a program).

Output: OUTPUT/recode/. `--overwrite` replaces a recode/ folder that perturb wrote (it holds
perturb_report.json) and holding only the files perturb writes (the nominal files, the variant
files of ReCode's layout, the report); a folder with any other file is refused and left as it is,
as `astraios train --overwrite` refuses a run directory with files astraios did not write.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

from astraios.core.io import not_unicode
from astraios.perturb.problem import FIELDS
from astraios.tasks.data import open_text
from astraios.tasks.recode_data import CATEGORIES, FILE_PATTERN, NOMINAL_FILES, PERTURBED_DIR

REPORT_FILE = "perturb_report.json"
SHOWN = 8


def read_problems(path: str | Path, limit: int | None = None) -> list[dict]:
    """The first `limit` records of a HumanEval-style jsonl (.gz) file, each checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file. Fix: pass a HumanEval-style .jsonl or .jsonl.gz "
                                f"(task_id, prompt, canonical_solution, test, entry_point per line).")
    records: list[dict] = []
    lines: dict[str, int] = {}  # task_id -> the line that holds it
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                record = _record(path, number, line)
                task_id = record["task_id"]
                if task_id in lines:
                    raise ValueError(f"{path}:{number}: task_id {task_id!r} repeats the record of line "
                                     f"{lines[task_id]}. Fix: give every problem its own task_id.")
                lines[task_id] = number
                records.append(record)
                if limit is not None and len(records) == limit:
                    break
    except gzip.BadGzipFile as error:
        raise ValueError(f"{path}: not a gzip file ({error}). Fix: pass a .jsonl.gz that gzip wrote, or name a "
                         f"plain jsonl file .jsonl.") from None
    except (EOFError, zlib.error) as error:
        raise ValueError(f"{path}: the gzip data is cut short or damaged ({error}). Fix: download or compress the "
                         f"file again (`gzip -t {path}` checks it).") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error}). Fix: save the file as UTF-8.") from None
    if not records:
        raise ValueError(f"{path}: no records. Fix: pass a HumanEval-style jsonl file.")
    return records


def _record(path: Path, number: int, line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{number}: not JSON ({error}). Fix: one JSON object per line.") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}:{number}: a JSON {type(record).__name__}, not an object. Fix: one JSON object per "
                         f"line, with {', '.join(FIELDS)}.")
    missing = [name for name in FIELDS if not isinstance(record.get(name), str)]
    if missing:
        raise ValueError(f"{path}:{number}: record lacks {', '.join(missing)}. Fix: every record needs "
                         f"{', '.join(FIELDS)} (HumanEval's fields; HumanEvalPack Python has them).")
    for name in FIELDS:
        if reason := not_unicode(record[name]):
            raise ValueError(f"{path}:{number} (task_id {record['task_id']!r}): field {name} is {reason}. Fix: "
                             f"correct that text in the file (or leave the record out).")
    return record


def check_output(output_dir: Path, target: Path, overwrite: bool) -> None:
    """Refuse an output that is not a directory, an existing recode/ without --overwrite, and one that
    --overwrite may not replace (see the module docstring); nothing is removed here."""
    existing = next(path for path in [output_dir, *output_dir.parents] if path.exists() or path == Path(path.anchor))
    if existing.exists() and not existing.is_dir():
        raise FileExistsError(f"--output {output_dir}: {existing} is a file, not a directory. Fix: pass a directory "
                              f"(it is created if missing).")
    if not target.exists() and not target.is_symlink():
        return
    if not overwrite:
        raise FileExistsError(f"{target} exists. Fix: pass --overwrite to replace it, or another --output.")
    if target.is_symlink() or not target.is_dir():
        raise FileExistsError(f"{target} is not a folder perturb wrote; --overwrite replaces only those, so nothing "
                              f"was removed. Fix: pass another --output.")
    foreign = sorted(str(path.relative_to(target)) for path in target.rglob("*")
                     if not path.is_dir() or path.is_symlink() if not _written(path.relative_to(target)))
    if foreign:
        shown = ", ".join(foreign[:SHOWN]) + (f" and {len(foreign) - SHOWN} more" if len(foreign) > SHOWN else "")
        raise FileExistsError(f"{target} holds files astraios perturb did not write ({shown}); --overwrite replaces "
                              f"only its own output, so nothing was removed. Fix: move those files away, or pass "
                              f"another --output.")
    if not (target / REPORT_FILE).is_file():
        raise FileExistsError(f"{target} was not written by astraios perturb (no {REPORT_FILE}); nothing was removed. "
                              f"Fix: pass another --output.")


def _written(relative: Path) -> bool:
    """Whether perturb writes this path of recode/ (its report, a nominal file, a variant file)."""
    text = relative.as_posix()
    if text == REPORT_FILE or text in NOMINAL_FILES.values():
        return True
    folder, _, name = text.rpartition("/")
    return folder in {f"{PERTURBED_DIR}/{category}" for category in CATEGORIES.values()} and bool(
        FILE_PATTERN.match(name)) and not name.endswith(".gz")
