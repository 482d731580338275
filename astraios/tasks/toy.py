"""`toy-synthesize`: write a small Python function from its docstring, scored by its unit tests.

The problems come from the seeded generator in `astraios.data.toy` (four families of increasing
difficulty; the test side of its leakage-proof key split, fixed seed, so every machine scores the
same 120 problems, 30 per family in turn so that `--limit` keeps them balanced). Everything else is
HumanEvalPack Python synthesis, reused rather than copied: the OctoCoder prompt
(`Question: {instruction}\\n\\nAnswer:\\n{signature and docstring}`), stop sequences, first-function
post-processing, the program assembly and the sandboxed execution. Its scores add pass@1 per
family (`details.families`), since the families differ in difficulty.

Why it exists: tiny CPU models score 0 on HumanEval, so a study on a laptop could not tell a
working method from a broken one. Models of a few million parameters can learn these problems
in minutes (see configs/grid-tiny.yaml), with the same pipeline as the real study.
"""

from __future__ import annotations

from collections import defaultdict

from astraios.data import toy
from astraios.metrics import pass_at_k_table
from astraios.tasks.humanevalpack import TIMEOUT_S, Synthesize


class ToySynthesize(Synthesize):
    primary_metric = "pass@1"
    summary = "write a small function from its docstring (generated problems tiny models can learn), unit tests"

    def __init__(self, timeout_s: float = TIMEOUT_S):
        super().__init__("python", timeout_s)
        self.name = "toy-synthesize"
        self.description = f"Python: {self.summary}"

    def documents(self, data_dir=None) -> list[dict]:  # noqa: ARG002 (generated, no data to read)
        return [toy.document(problem, index) for index, problem in enumerate(toy.test_problems())]

    def settings(self) -> dict:
        return {**super().settings(), "generator_version": toy.GENERATOR_VERSION, "seed": toy.TEST_SEED}

    def score(self, documents, predictions, *, workers=None, progress=True):
        result = super().score(documents, predictions, workers=workers, progress=progress)
        by_family = defaultdict(list)
        for document, entry in zip(documents, result.per_document):
            entry["family"] = document["family"]
            by_family[document["family"]].append((entry["n"], entry["passed"]))
        result.details["families"] = {family: {"problems": len(by_family[family]), **pass_at_k_table(by_family[family])}
                                      for family in toy.FAMILIES if by_family[family]}
        return result


TASKS = {"toy-synthesize": (ToySynthesize, ())}
