"""Reading the model's answer: our parser, the study notebook's, and YES vs NO log-likelihoods.

- `parse_answer` (protocol astraios, `--scoring generate`): reads the first line's leading
  yes/no/true/false, else the task's subject with negations ("there is no defect", "not clones",
  "defect-free") in the first sentence.
- `paper_answer` (protocol study): the notebook's `paper_method`, substring tests and all: the first
  sentence (up to the first `.` or `,`) holding "yes" but not "no" is YES, "no" but not "yes" is NO
  ("I do not know" reads as NO, "Yesterday" as YES), else the task's key phrases anywhere in the
  answer (Devign: "there is a", "ere is a", "has a defect", "contains a defect" / "there is no
  defect"; BigCloneBench: "there is a", "ere is a" / "there is no"), else unparseable.
- `loglik_answer` (`--scoring loglik`): the likelier of YES and NO, each side the log-sum-exp of
  its case variants, so a model that prefers "Yes" is read correctly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

ANSWER_TOKENS = 16  # generate: enough for a short sentence; the parser reads only the first one
ANSWER_STOP = ("\n",)
ANSWER_VARIANTS = {1: (" YES", " Yes", " yes"), 0: (" NO", " No", " no")}
CHOICES = (*ANSWER_VARIANTS[1], *ANSWER_VARIANTS[0])
HARNESS_ANSWER_MARK = "\nAnswer:"
# The notebook's key phrases per task, (positive, negative), tried when the first sentence says neither yes nor no.
STUDY_KEYWORDS = {
    "devign": (("there is a", "ere is a", "has a defect", "contains a defect"), ("there is no defect",)),
    "bigclonebench": (("there is a", "ere is a"), ("there is no",)),
}

AFFIRMATIVE = {"yes", "yeah", "yep", "true"}
NEGATIVE = {"no", "nope", "false"}
NEGATORS = {"no", "not", "never", "without", "neither", "nor", "none", "cannot", "isnt", "arent", "doesnt",
            "dont", "hasnt", "havent", "wasnt", "werent", "didnt", "cant"}
NEGATION_WINDOW = 5  # words before a term that can negate it ("is not really a clone of")
WORD = r"[a-z]+(?:'[a-z]+)?"


def parse_answer(text: str, terms: str) -> int | None:
    """1 (YES), 0 (NO) or None (unparseable) from a free-text answer.

    Reads the first non-empty line: its leading word if that is yes/no/true/false (or the whole
    answer is Y or N); else the first mention of the task's subject (`terms`, a regex such as
    `defect|bug`) in the first sentence, NO when a negation ("no", "not", "n't", "without", ...)
    comes shortly before it or "-free" after it, YES otherwise; else a lone yes/no/true/false in
    that sentence, when only one side occurs.
    """
    line = next((line for line in text.replace("\u2019", "'").split("\n") if line.strip()), "").lower()
    words = re.findall(WORD, line)
    bare = re.sub(r"[^a-z]", "", line)
    if bare in ("y", "n"):
        return int(bare == "y")
    if words and words[0] in AFFIRMATIVE | NEGATIVE:
        return int(words[0] in AFFIRMATIVE)
    sentence = re.split(r"[.!?;](?:\s|$)", line, maxsplit=1)[0]
    mention = re.search(rf"\b(?:{terms})", sentence)
    if mention:
        before = re.findall(WORD, sentence[:mention.start()])[-NEGATION_WINDOW:]
        negated = any(word.replace("'", "") in NEGATORS or word.endswith("n't") for word in before)
        free = re.match(r"\w*[\s-]free\b", sentence[mention.start():])
        return 0 if negated or free else 1
    sides = {word in AFFIRMATIVE for word in re.findall(WORD, sentence) if word in AFFIRMATIVE | NEGATIVE}
    return int(sides.pop()) if len(sides) == 1 else None


def harness_answer(item) -> str:
    """Our prediction from one entry of a study harness file: the text after its last "Answer:"."""
    if isinstance(item, str):
        return item
    return item["raw_text"].split(HARNESS_ANSWER_MARK)[-1]


def _logsumexp(values: Sequence[float]) -> float:
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(value - top) for value in values))


def paper_answer(text: str, keywords: tuple[Sequence[str], Sequence[str]]) -> int | None:
    """1, 0 or None (unparseable) by the study notebook's `paper_method` with the task's
    (positive, negative) key phrases."""
    lowered = text.lower()
    first = lowered.replace(",", ".").split(".")[0]
    if "yes" in first and "no" not in first:
        return 1
    if "no" in first and "yes" not in first:
        return 0
    positive, negative = keywords
    if any(phrase.lower() in lowered for phrase in positive):
        return 1
    if any(phrase.lower() in lowered for phrase in negative):
        return 0
    return None


def loglik_answer(scores: Sequence[float]) -> dict:
    """The answer from the log-likelihoods of CHOICES (YES variants first), with each side's score."""
    yes = _logsumexp(scores[:len(ANSWER_VARIANTS[1])])
    no = _logsumexp(scores[len(ANSWER_VARIANTS[1]):])
    return {"answer": "YES" if yes > no else "NO", "yes_logprob": yes, "no_logprob": no}
