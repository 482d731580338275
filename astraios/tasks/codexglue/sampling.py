"""Which test examples are scored: a stratified or uniform sample of N, or exactly the study's.

`choose` draws N (default 2,000, as the study) with a seed:
- `natural`: stratified: each class gets its share of N in the split's label ratio (the positive
  share rounded half up), drawn uniformly within the class; in dataset order;
- `uniform`: a simple random sample of N (the label ratio varies by chance); in dataset order;
- `as-study`: exactly the examples the study's Table 2 scores came from, in the study's order.
  Devign: its notebook drew 1,081 clean then 919 defective functions from the 2,732 test functions
  with Python's `random.seed(0)` and `random.sample` over each class's positions, then shuffled the
  2,000 with `datasets`' `shuffle(seed=0)`. BigCloneBench, two stages: the harness drew 1,726
  non-clones and 1,000 clones that way from the 415,416 test pairs, and the notebook then drew all
  1,726 non-clones and 274 of the clones from the harness's 2,726 (so 13.7% clones, not the
  split's ratio). Another seed replaces the study's 0; N < 2,000 takes the first N of the sample.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

SAMPLE_SIZE = 2000
BALANCES = ("natural", "uniform", "as-study")
# Study sampling, (positives, negatives) per stage, each stage drawing from the previous one.
STUDY_STAGES = {"devign": ((919, 1081),), "bigclonebench": ((1000, 1726), (274, 1726))}
STUDY_SEED = 0


def stratified_counts(size: int, positives: int, negatives: int) -> tuple[int, int]:
    """(positives, negatives) of a sample of `size` (at most the population) in the population's
    label ratio, the positive share rounded half up; neither class can run short."""
    chosen = math.floor(size * positives / (positives + negatives) + 0.5)
    return chosen, size - chosen


def study_draw(labels: Sequence[int], positives: int, negatives: int, seed: int) -> list[int]:
    """Positions drawn the study's way: `random.seed(seed)`, sample `negatives` of the negatives'
    positions then `positives` of the positives' (both in dataset order), concatenate, and shuffle
    with a numpy generator, as `datasets.Dataset.shuffle(seed=seed)` does."""
    import numpy as np

    rng = random.Random(seed)
    negative_positions = [position for position, label in enumerate(labels) if label == 0]
    positive_positions = [position for position, label in enumerate(labels) if label == 1]
    chosen = ([negative_positions[i] for i in rng.sample(range(len(negative_positions)), negatives)]
              + [positive_positions[i] for i in rng.sample(range(len(positive_positions)), positives)])
    return [chosen[i] for i in np.random.default_rng(seed).permutation(len(chosen))]


def study_sample(labels: Sequence[int], stages: Sequence[tuple[int, int]], seed: int = STUDY_SEED) -> list[int]:
    """Positions (into `labels`) of the study's sample: each stage draws from the previous stage's
    sample, in that sample's order."""
    positions = list(range(len(labels)))
    for positives, negatives in stages:
        drawn = study_draw([labels[position] for position in positions], positives, negatives, seed)
        positions = [positions[i] for i in drawn]
    return positions


def choose(documents: list[dict], size: int, balance: str, seed: int) -> list[dict]:
    """A `natural` or `uniform` sample of `size` documents, in dataset order (all when `size` is
    at least their number); `as-study` is `study_sample`, which needs the complete split."""
    if size >= len(documents):
        return list(documents)
    rng = random.Random(seed)
    if balance == "uniform":
        return sorted(rng.sample(documents, size), key=lambda document: document["index"])
    positives = [document for document in documents if document["label"] == 1]
    negatives = [document for document in documents if document["label"] == 0]
    wanted_positives, wanted_negatives = stratified_counts(size, len(positives), len(negatives))
    return sorted(rng.sample(positives, wanted_positives) + rng.sample(negatives, wanted_negatives),
                  key=lambda document: document["index"])
