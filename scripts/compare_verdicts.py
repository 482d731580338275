"""Compare per-sample execution verdicts of two astraios source trees on saved generations.

Scores each saved-generations file with `astraios eval --generations` twice, once with another
checkout of astraios (`--old-tree`, e.g. `git worktree add /tmp/old <commit>` or `git archive`)
and once with this one, both in the same Python environment, then compares the logs sample by
sample (`logs/TASK.jsonl`: doc_id, sample, status). Prints, per task, the samples scored, how many
passed with each tree, how many statuses (passed, failed, timeout, error) differ, and every sample
whose pass/fail verdict differs (with both reasons);
exits 1 when any verdict differs. Nothing is written into either tree; the data stays where it is.

    python scripts/compare_verdicts.py --old-tree /tmp/astraios-old --work /tmp/compare \\
        --generations humanevalsynthesize-python=/data/generations-humanevalsynthesizepython-starcoderbase-7b-lora.json \\
        --generations recode-format=/data/generations-humaneval-format-num_seeds_5-starcoderbase-7b-lora.json

Each tree's logs are kept under WORK/old/TASK and WORK/new/TASK; an existing one is reused (delete
it to score again), so the old tree's verdicts are computed once while the new one changes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def score(tree: Path, task: str, generations: Path, output: Path, data_dir: str | None, workers: int,
          limit: int | None) -> dict:
    """{(doc_id, sample): log record} of one tree's `astraios eval --generations` run (reused if present)."""
    log = output / "logs" / f"{task}.jsonl"
    if not log.exists():
        command = [sys.executable, "-m", "astraios", "eval", "--tasks", task, "--generations", str(generations),
                   "--output", str(output), "--workers", str(workers)]
        if data_dir:
            command += ["--data-dir", data_dir]
        if limit:
            command += ["--limit", str(limit)]
        environment = {**os.environ, "PYTHONPATH": str(tree)}
        start = time.monotonic()
        finished = subprocess.run(command, env=environment, cwd=tree, capture_output=True, text=True)
        if finished.returncode != 0 or not log.exists():
            sys.exit(f"{tree}: astraios eval of {task} failed (exit {finished.returncode}):\n{finished.stderr[-3000:]}")
        print(f"  {tree.name or tree}: scored {task} in {time.monotonic() - start:.0f} s", flush=True)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return {(record["doc_id"], record["sample"]): record for record in records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old-tree", type=Path, required=True, help="another checkout of astraios (its repository root)")
    parser.add_argument("--generations", action="append", required=True, metavar="TASK=FILE",
                        help="a task and its saved-generations file (repeatable)")
    parser.add_argument("--work", type=Path, required=True, help="where both trees' eval outputs go")
    parser.add_argument("--data-dir", default=os.environ.get("ASTRAIOS_DATA_DIR"))
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N problems of each task (use another --work than for all of them)")
    parser.add_argument("--only", choices=["old", "new"], help="score with one tree only (e.g. the old one ahead of time)")
    args = parser.parse_args()
    differing = 0
    for pair in args.generations:
        task, _, file = pair.partition("=")
        if not file or not Path(file).is_file():
            parser.error(f"--generations {pair!r}: expected TASK=FILE with an existing file")
        trees = {"old": args.old_tree.resolve(), "new": REPO}
        verdicts = {name: score(tree, task, Path(file).resolve(), args.work / name / task, args.data_dir, args.workers,
                                      args.limit)
                    for name, tree in trees.items() if args.only in (None, name)}
        if len(verdicts) < 2:
            continue
        old, new = verdicts["old"], verdicts["new"]
        if old.keys() != new.keys():
            sys.exit(f"{task}: the two trees scored different samples ({len(old)} vs {len(new)})")
        changed = [key for key in old if (old[key]["status"] == "passed") != (new[key]["status"] == "passed")]
        moved = sum(old[key]["status"] != new[key]["status"] for key in old)
        differing += len(changed)
        statuses = {name: dict(Counter(record["status"] for record in found.values())) for name, found in verdicts.items()}
        print(f"{task}: {len(old)} samples; old {statuses['old']}; new {statuses['new']}; "
              f"pass/fail verdicts that differ: {len(changed)}; statuses that differ: {moved}")
        for key in changed:
            print(f"  {key}: old {old[key]['status']} ({old[key]['reason']}) -> new {new[key]['status']} "
                  f"({new[key]['reason']}) {new[key]['stderr_tail'][-300:]!r}")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
