"""Build the instruction sample shipped inside the package (run once by maintainers).

Takes a deterministic subset of the real OctoPack records in ../shared/data/octopack_oasst
(OASST + CommitPackFT in prompt/completion form; see astraios/data/sample/LICENSE.md) and writes
astraios/data/sample/octopack_sample.jsonl.gz.
"""

import gzip
import json
import sys
from pathlib import Path

from astraios.data.instruction import SAMPLE_FILE

SOURCE = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/octopack_oasst")
TARGET = SAMPLE_FILE
MAX_CHARS = 2500


def short_records(name: str, count: int) -> list[dict]:
    with gzip.open(SOURCE / name, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    short = [row for row in rows if len(row["prompt"]) + len(row["completion"]) <= MAX_CHARS]
    stride = max(1, len(short) // count)
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in short[::stride][:count]]


records = short_records("oasstcommitpackftmanual.jsonl.gz", 300) + short_records("oasstcommitpackft.jsonl.gz", 100)
with gzip.GzipFile(TARGET, "wb", mtime=0) as handle:
    handle.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())
print(f"wrote {len(records)} records to {TARGET}")
