"""Build the samples shipped inside the package (run once by maintainers), from ../shared/data:

- the instruction sample: a deterministic subset of the real OctoPack records in octopack_oasst
  (OASST + CommitPackFT in prompt/completion form; see astraios/data/sample/LICENSE.md), written to
  astraios/data/sample/octopack_sample.jsonl.gz;
- the evaluation sample (`--data-dir astraios-sample`): every 8th HumanEvalPack Python problem
  (21 of 164, unchanged records; see astraios/tasks/sample/LICENSE.md), written to
  astraios/tasks/sample/humanevalpack/humanevalpack_python.jsonl.gz.
"""

import gzip
import json
import sys
from pathlib import Path

from astraios.data.instruction import SAMPLE_FILE
from astraios.tasks.data import SAMPLE_DIR

SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
MAX_CHARS = 2500
EVAL_STRIDE = 8


def short_records(name: str, count: int) -> list[dict]:
    with gzip.open(SHARED / "octopack_oasst" / name, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    short = [row for row in rows if len(row["prompt"]) + len(row["completion"]) <= MAX_CHARS]
    stride = max(1, len(short) // count)
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in short[::stride][:count]]


def write_jsonl_gz(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(path, "wb", mtime=0) as handle:
        handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())
    print(f"wrote {len(records)} records to {path}")


records = short_records("oasstcommitpackftmanual.jsonl.gz", 300) + short_records("oasstcommitpackft.jsonl.gz", 100)
write_jsonl_gz(SAMPLE_FILE, records)

with open(SHARED / "humanevalpack" / "humanevalpack_python.jsonl", encoding="utf-8") as handle:
    problems = [json.loads(line) for line in handle if line.strip()]
write_jsonl_gz(SAMPLE_DIR / "humanevalpack" / "humanevalpack_python.jsonl.gz", problems[::EVAL_STRIDE])
