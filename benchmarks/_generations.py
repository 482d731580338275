"""Saved generations that look like a small model's real ones, for the scoring benchmarks.

The study's own HumanEvalSynthesize-Python generations are not in the shared data, so this writes
plausible ones from HumanEvalPack itself, in the harness format (one list of whole programs per
problem): per sample, a kind is drawn, then one of a few variants of that kind, so that samples
repeat within a problem about as often as low-temperature sampling makes them (the real
StarCoderBase-1B LoRA file has 1,619 distinct programs among its 3,280):

- correct: the canonical solution, with one of a few cosmetic differences (comments, a blank
  line, a renamed local), a few of them through numpy (which the harness header makes available);
- wrong value: a body returning a constant or an argument unchanged (the tests' assert fails);
- buggy: HumanEvalPack's own buggy solution (wrong output; three of them loop forever and time
  out, one recurses until RecursionError);
- undefined name: a call to a helper the completion never wrote (NameError);
- cut short: the canonical solution cut mid-way (SyntaxError, IndentationError or a wrong result);
- loops forever: `while True: pass` in front of the canonical body (rare; times out).
"""

from __future__ import annotations

import random

KINDS = {  # kind: (weight, distinct variants per problem)
    "correct": (0.22, 3),
    "wrong value": (0.32, 5),
    "buggy": (0.18, 1),
    "undefined name": (0.12, 3),
    "cut short": (0.14, 3),
    "loops forever": (0.0015, 1),
    "numpy": (0.016, 1),
}


def _body(document: dict, kind: str, variant: int) -> str:
    canonical = document["canonical_solution"]
    if kind == "correct":
        return [canonical, "    # straightforward\n" + canonical, canonical.rstrip("\n") + "\n\n"][variant]
    if kind == "numpy":
        return "    _ = np.zeros(1)\n" + canonical
    if kind == "wrong value":
        return ["    return None\n", "    return 0\n", "    return []\n", "    return ''\n", "    return True\n"][variant]
    if kind == "buggy":
        return document["buggy_solution"]
    if kind == "undefined name":
        return f"    return helper_{variant}({document['entry_point']!r})\n"
    if kind == "cut short":
        return canonical[:max(1, len(canonical) * (variant + 1) // 4)] + "\n"
    if kind == "loops forever":
        return "    while True:\n        pass\n" + canonical
    raise ValueError(kind)


def realistic_generations(documents: list[dict], samples: int = 20, seed: int = 0) -> list[list[str]]:
    """`samples` whole programs (prompt + completion) per HumanEvalPack Python document."""
    generator = random.Random(seed)
    kinds = list(KINDS)
    weights = [KINDS[kind][0] for kind in kinds]
    generations = []
    for document in documents:
        programs = []
        for _ in range(samples):
            kind = generator.choices(kinds, weights)[0]
            variant = generator.randrange(KINDS[kind][1])
            programs.append(document["prompt"] + _body(document, kind, variant))
        generations.append(programs)
    return generations
