"""Meaning-preserving transformations of the docstring's prose (ReCode's nlaugmenter category):
typos, letter case, synonyms.

Only prose changes: words made of letters with at most sentence punctuation around them. Doctest
lines (`>>>` and the expected output after them), words with digits, underscores, brackets or
quotes, and every identifier of the code keep their spelling, so examples and names stay exact.
Edits replace letters with letters, so they can never close the string or form an escape.

The synonyms come from a small table of words that HumanEval-style docstrings use, each with
replacements that keep the meaning in a programming context. WordNet (what nlaugmenter uses)
offers many senses per word with no way to pick the right one without a model, and needs a data
download; a reviewed table is smaller, offline and predictable.
"""

from __future__ import annotations

import keyword
import random
import re

from astraios.perturb.code import KEYBOARD_NEIGHBOURS
from astraios.perturb.problem import Problem
from astraios.perturb.source import Source, docstring_node, splice

TYPO_RATE = 0.05  # nlaugmenter ButterFingers' default probability per letter
CASE_RATE = 0.35  # nlaugmenter ChangeCharCase's default probability per letter
SYNONYM_RATE = 0.5
SYNONYMS = {
    "return": ["give back", "output"], "returns": ["gives back", "outputs"], "given": ["provided", "supplied"],
    "list": ["sequence", "array"], "lists": ["sequences", "arrays"], "number": ["value", "figure"],
    "numbers": ["values", "figures"], "sum": ["total"], "check": ["verify", "test"], "checks": ["verifies", "tests"],
    "find": ["locate", "determine"], "write": ["create", "implement"], "function": ["routine", "procedure"],
    "string": ["text", "character string"], "strings": ["texts", "character strings"],
    "integer": ["whole number", "int"], "integers": ["whole numbers", "ints"], "largest": ["biggest", "greatest"],
    "smallest": ["least", "tiniest"], "count": ["tally", "number"], "element": ["item", "entry"],
    "elements": ["items", "entries"], "each": ["every"], "compute": ["calculate", "work out"],
    "calculate": ["compute", "work out"], "input": ["argument", "parameter"], "contains": ["holds", "includes"],
    "contain": ["hold", "include"], "create": ["make", "build"], "determine": ["decide", "figure out"],
    "sorted": ["ordered", "arranged"], "sort": ["order", "arrange"], "order": ["sequence", "arrangement"],
    "words": ["terms"], "word": ["term"], "empty": ["blank", "vacant"], "task": ["job", "assignment"],
    "result": ["outcome", "answer"], "should": ["must", "ought to"], "separate": ["split", "divide"],
    "equal": ["identical", "the same"], "positive": ["strictly positive"], "total": ["sum", "overall amount"],
    "first": ["initial", "leading"], "last": ["final", "trailing"], "only": ["solely", "just"],
    "also": ["as well", "too"], "whether": ["if"], "true": ["True"], "false": ["False"],
}
WORD = re.compile(r"[A-Za-z]+")
PROSE_CHUNK = re.compile(r"""^(?:"{3}|'{3}|["'(])?[A-Za-z]+(?:-[A-Za-z]+)*[.,;:!?)'"]*$""")


def _prose_spans(problem: Problem) -> tuple[Source, int, int, list[tuple[int, int]]] | None:
    """The entry point's docstring span and the text spans of its prose words."""
    source = Source(problem.code)
    function = source.function(problem.entry_point)
    docstring = docstring_node(function)
    if docstring is None:
        return None
    start, end = source.span(docstring)
    segment = source.text[start:end]
    identifiers = (Source(problem.joined).identifiers() | Source(problem.test).identifiers()) - set(keyword.kwlist)
    spans, in_example, offset = [], False, 0
    for line in segment.split("\n"):
        stripped = line.strip()
        if stripped.startswith(">>>"):
            in_example = True
        elif not stripped:
            in_example = False
        if not in_example:
            for chunk in re.finditer(r"\S+", line):
                if not PROSE_CHUNK.match(chunk[0]):
                    continue
                for word in WORD.finditer(chunk[0]):
                    if word[0] not in identifiers and len(word[0]) > 1:
                        spans.append((start + offset + chunk.start() + word.start(),
                                      start + offset + chunk.start() + word.end()))
        offset += len(line) + 1
    return source, start, end, spans


def _edit_words(problem: Problem, rng: random.Random, change) -> Problem:
    found = _prose_spans(problem)
    if found is None:
        return problem
    source, _, _, spans = found
    edits = []
    for start, end in spans:
        word = source.text[start:end]
        replacement = change(word, rng)
        if replacement != word:
            edits.append((start, end, replacement))
    return problem.replace(code=splice(problem.code, edits)) if edits else problem


def _typo(word: str, rng: random.Random) -> str:
    letters = list(word)
    for i, letter in enumerate(letters):
        neighbours = KEYBOARD_NEIGHBOURS.get(letter.lower())
        if neighbours and rng.random() < TYPO_RATE:
            replacement = rng.choice(neighbours)
            letters[i] = replacement.upper() if letter.isupper() else replacement
    return "".join(letters)


def _case(word: str, rng: random.Random) -> str:
    return "".join(letter.swapcase() if rng.random() < CASE_RATE else letter for letter in word)


def _synonym(word: str, rng: random.Random) -> str:
    choices = SYNONYMS.get(word.lower())
    if not choices or rng.random() >= SYNONYM_RATE:
        return word
    replacement = rng.choice(choices)
    return replacement[:1].upper() + replacement[1:] if word[:1].isupper() else replacement


def doc_typos(problem: Problem, rng: random.Random) -> Problem:
    """Keyboard typos: each letter of the prose replaced by a neighbouring key with probability 0.05."""
    return _edit_words(problem, rng, _typo)


def doc_char_case(problem: Problem, rng: random.Random) -> Problem:
    """Each letter of the prose upper/lower-cased the other way with probability 0.35."""
    return _edit_words(problem, rng, _case)


def doc_synonyms(problem: Problem, rng: random.Random) -> Problem:
    """Words of the synonym table replaced, each with probability 0.5."""
    return _edit_words(problem, rng, _synonym)
