"""`astraios perturb`: our own meaning-preserving transformations of HumanEval-style problems,
written in ReCode's layout so the `recode-*` tasks evaluate them (`--data-dir`).

    from astraios.perturb import perturb
    report = perturb("HumanEval.jsonl.gz", "out", seeds=5)   # out/recode/... ; report.dropped

Transformations (ReCode category in brackets; seeded ones are written for seeds 0..N-1, the
deterministic ones for seed 0 only, as ReCode does):

    DocTypos, DocCharCase, DocSynonyms           docstring prose (nlaugmenter), seeded
    FuncRenameCamelCase; FuncRenameTypo          entry point renamed everywhere, tests too (func_name)
    VarRenameNaive; VarRenameRandom              local variables renamed (natgen)
    DeadCode (seeded); ForWhile                  a never-run block; for <-> while (natgen)
    TabIndent, NewLineAfterDoc, DocToComments;   format, deterministic; blank lines, seeded (format)
    NewLines

Syntax and format transformations work on partial code (half of the solution in the prompt), as
ReCode's do. Every record is checked before it is written: its canonical solution, transformed the
same way, must pass its tests in the sandbox; records that fail are left out and listed (count and
ids in the command's output and in `recode/perturb_report.json`), never dropped silently. Where a
transformation does not apply (no loop to rewrite, a name without underscores), the record is
written unchanged with `perturbed: false`, as ReCode does.

Differences from ReCode's own transformations, by design: edits are surgical (positions from
`ast`, every other character kept; ReCode's natgen re-prints code), renames reach the tests and
recursive calls (ReCode's function renames left the tests calling the old name, so some of its
records cannot be solved), and tabs reach the solution (ReCode's tab-indented prompts cannot take
a space-indented canonical solution).
"""

from __future__ import annotations

from astraios.perturb.engine import PerturbReport, perturb
from astraios.perturb.transformations import TRANSFORMATIONS, Transformation

__all__ = ["TRANSFORMATIONS", "PerturbReport", "Transformation", "perturb"]
