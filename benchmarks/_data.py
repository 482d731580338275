"""Where the benchmarks find the real data: $ASTRAIOS_DATA_DIR, else ../shared/data beside the repository.

Imported by the benchmark scripts (run as `python benchmarks/NAME.py`, so this folder is on sys.path).
"""

import os
from pathlib import Path

DATA = Path(os.environ.get("ASTRAIOS_DATA_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
