"""Where the benchmarks find the real data: $ASTRAIOS_DATA_DIR (fill it with `astraios data download --all
--to DIR`), else ../shared/data beside the repository (the project machines' copy).

Imported by the benchmark scripts (run as `python benchmarks/NAME.py`, so this folder is on sys.path).
"""

import os
import sys
from pathlib import Path

DATA = Path(os.environ.get("ASTRAIOS_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
FETCH = "fetch it with `astraios data download --all --to DIR`, then set ASTRAIOS_DATA_DIR=DIR"


def require_data() -> Path:
    """DATA; where it is missing, one line saying what to fetch, and the benchmark stops (exit 0: `make
    bench` goes on to the next)."""
    if not DATA.is_dir():
        print(f"{Path(sys.argv[0]).name}: skipped, it needs the benchmark data: {FETCH}", file=sys.stderr)
        sys.exit(0)
    return DATA
