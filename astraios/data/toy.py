"""A seeded generator of small Python function problems: a code task tiny models can learn on a CPU.

Each problem is one HumanEval-style function: a prompt (signature and a one-sentence docstring,
with no example: its numbers would be distractors for a model that must copy the constant), a
one-line canonical solution and a test (`def check(candidate)` with several asserts,
then `check(name)`). Problems come from four families of increasing difficulty, each with several
kinds, many constants and several function names and phrasings:

| level | family | kinds (parameters) |
|---|---|---|
| 1 | `arithmetic` | x plus / minus / times / floor-divided by / modulo a digit; x times a plus b, x times a minus b |
| 2 | `strings` | append or prepend a letter, repeat k times, append k copies of a letter, replace a letter |
| 3 | `lists` | keep the items above / below a digit, add to / multiply every item, count the items above, keep and transform |
| 4 | `conditionals` | return a if x compares to k (>, <, ==), else b |

Constants are single digits and letters (see KINDS for why); a problem with more constants is
harder, since each must go to its own place.

The same generator feeds three consumers, all built on the fly from a seed (nothing is stored):
- `test_problems()`: the documents of the `toy-synthesize` task, from a fixed seed, so every
  machine scores the same set (a test pins their digest);
- `instruction_records(seed, count)`: OctoCoder-form training pairs (`prompt` = the task's
  instruction, `completion` = the whole function), the data source `toy-instructions`;
- `corpus_records(seed, count)`: raw code for the tiny bases' warm-up (data source `toy-corpus`):
  the same kind of functions with the specification as a comment above them and no docstring,
  followed by tests. A base warmed up on it writes code from comments, but has never seen a
  docstring or a question: at `toy-synthesize`'s prompt (a question, then the signature and a
  docstring) it writes nothing useful, and instruction tuning must teach it to follow that form.
  (Measured on tiny-gptbigcode-m: with docstrings in the corpus the base scored as well as the
  tuned models, so tuning showed nothing; with no specification at all, no method learned the
  task within a CPU budget.)

Leakage: a problem's identity is its key `family|kind|parameters` (names and phrasings are
surface). `split_of(key)` puts every key in `test` or `train` by its SHA-256 (one key in five goes
to test), independently of any seed, and each consumer draws only from its own side. So no
training example, with any seed and any count, shares a (family, parameters) pair with a test
problem; test problems are also distinct from each other.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

GENERATOR_VERSION = 1  # bump when a change alters the generated problems (results record it)
TEST_SEED = 14
TEST_PER_FAMILY = 30
TEST_PROBLEMS = TEST_PER_FAMILY * 4
TEST_SHARE = 5  # one key in TEST_SHARE is a test key
TEST_ASSERTS = 4
WORDS = ("apple", "river", "stone", "cloud", "green", "light", "tiger", "ocean", "paper", "music", "night", "sugar",
         "bread", "chair", "dream", "flame", "grape", "horse", "lemon", "mouse", "piano", "queen", "robot", "smile",
         "table", "train", "water", "zebra", "candy", "delta")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
MAX_INPUT = 20  # integer inputs lie in [0, MAX_INPUT]; list items in [0, 9]
MAX_DRAWS = 100_000  # a split that needs more draws than this for one problem has run out of keys
# Letters that enough words hold to give every replace problem distinct test inputs.
COMMON_LETTERS = "".join(letter for letter in LETTERS if sum(letter in word for word in WORDS) > TEST_ASSERTS)


@dataclass(frozen=True)
class Kind:
    """One kind of problem: how to draw its parameters, state it, solve it and compute its answers."""

    family: str
    name: str
    argument: str  # the parameter's name and annotation, e.g. "x: int"
    returns: str
    draw: Callable[[random.Random], tuple]
    phrasings: tuple[str, ...]  # str.format templates over the parameters p0, p1, ...
    body: str  # the solution's return expression, a template over p0, p1, ... (with !r where needed)
    apply: Callable[..., object]  # (argument, *parameters) -> the correct answer
    draw_input: Callable[[random.Random, tuple, int], object]  # (rng, parameters, input number) -> one input
    function_names: tuple[str, ...]
    fields: Callable[[tuple], dict] | None = None  # extra str.format fields made from the parameters


# Every constant is a single digit or letter: one token to carry from the docstring into the code.
# (Copying a multi-token number needs an induction circuit that models of a few million
# parameters do not form in minutes; choosing the right single token by its role does form.)
def _digit(low: int = 1, high: int = 9) -> Callable[[random.Random], tuple]:
    return lambda rng: (rng.randint(low, high),)



def _two_digits(rng: random.Random) -> tuple[int, int]:
    return rng.randint(2, 9), rng.randint(1, 9)


def _letter(rng: random.Random) -> tuple[str]:
    return (rng.choice(LETTERS),)


def _letter_and_count(rng: random.Random) -> tuple[str, int]:
    return rng.choice(LETTERS), rng.randint(2, 9)


def _two_letters(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(COMMON_LETTERS)
    return first, rng.choice(LETTERS.replace(first, ""))


def _outcomes(rng: random.Random) -> tuple[int, int, int]:
    first = rng.randint(0, 9)
    return rng.randint(1, 8), first, rng.choice([value for value in range(10) if value != first])


# The first test inputs are chosen so that no shortcut passes: both sides of a threshold, and the
# threshold itself.


def _int_input(rng: random.Random, parameters: tuple, number: int) -> int:  # noqa: ARG001
    return rng.randint(0, MAX_INPUT)


def _near_threshold(rng: random.Random, parameters: tuple, number: int) -> int:
    """The threshold, a value below and one above it in the tests, so returning one branch fails."""
    threshold = parameters[0]
    fixed = {0: threshold, 1: rng.randint(0, threshold - 1), 2: rng.randint(threshold + 1, MAX_INPUT)}
    return fixed.get(number, rng.randint(0, MAX_INPUT))


def _word_input(rng: random.Random, parameters: tuple, number: int) -> str:  # noqa: ARG001
    return rng.choice(WORDS)


def _word_with_letter(rng: random.Random, parameters: tuple, number: int) -> str:  # noqa: ARG001
    """A word holding the letter to replace, so that returning s unchanged fails."""
    return rng.choice([word for word in WORDS if parameters[0] in word])


# Lists compose three slots, each said in words and written as a fixed code fragment: which items
# (a filter), what becomes of each (a map) and what is returned (a fold). No constant is copied: a
# test problem is a combination of slots never seen together in training.
FILTERS = {  # name: (words, condition code, predicate)
    "all": ("the items", "", lambda v: True),
    "even": ("the even items", " if v % 2 == 0", lambda v: v % 2 == 0),
    "odd": ("the odd items", " if v % 2 == 1", lambda v: v % 2 == 1),
    "large": ("the items above 4", " if v > 4", lambda v: v > 4),
    "small": ("the items below 5", " if v < 5", lambda v: v < 5),
    "nonzero": ("the nonzero items", " if v != 0", lambda v: v != 0),
    "threes": ("the multiples of three", " if v % 3 == 0", lambda v: v % 3 == 0),
}
MAPS = {  # name: (words, code, function)
    "same": ("", "v", lambda v: v),
    "double": (", each doubled", "v * 2", lambda v: v * 2),
    "square": (", each squared", "v * v", lambda v: v * v),
    "negate": (", each negated", "-v", lambda v: -v),
    "increment": (", each plus one", "v + 1", lambda v: v + 1),
    "decrement": (", each minus one", "v - 1", lambda v: v - 1),
    "triple": (", each tripled", "v * 3", lambda v: v * 3),
    "halve": (", each halved (rounded down)", "v // 2", lambda v: v // 2),
}
FOLDS = {"collect": list, "total": sum, "largest": lambda values: max(values, default=0), "ordered": sorted,
         "count": len}


def _filter_and_map(rng: random.Random) -> tuple[str, str]:
    return rng.choice(list(FILTERS)), rng.choice(list(MAPS))


def _filter_only(rng: random.Random) -> tuple[str]:
    return (rng.choice(list(FILTERS)),)


def _list_fields(parameters: tuple) -> dict:
    words, condition, _ = FILTERS[parameters[0]]
    map_words, map_code, _ = MAPS[parameters[1] if len(parameters) > 1 else "same"]
    return {"filter": words, "condition": condition, "map": map_words, "map_code": map_code}


def _folded(fold: str) -> Callable[..., object]:
    def apply(xs, filter_name, map_name="same"):
        keep, change = FILTERS[filter_name][2], MAPS[map_name][2]
        return FOLDS[fold]([change(v) for v in xs if keep(v)])
    return apply


def _list_for_filter(rng: random.Random, parameters: tuple, number: int) -> list[int]:
    """A list of digits; the first test's holds an item the filter keeps and one it drops."""
    items = [rng.randint(0, 9) for _ in range(rng.randint(3, 6))]
    keep = FILTERS[parameters[0]][2]
    if number == 0 and parameters[0] != "all":
        items[:2] = [rng.choice([v for v in range(10) if keep(v)]), rng.choice([v for v in range(10) if not keep(v)])]
        rng.shuffle(items)
    return items


ARITHMETIC_NAMES = ("compute", "transform", "apply_rule", "calc", "evaluate", "process")
KINDS: tuple[Kind, ...] = (
    Kind("arithmetic", "plus", "x: int", "int", _digit(),
         ("Return x plus {p0}.", "Add {p0} to x.", "Return the sum of x and {p0}."),
         "x + {p0}", lambda x, k: x + k, _int_input, ARITHMETIC_NAMES),
    Kind("arithmetic", "minus", "x: int", "int", _digit(),
         ("Return x minus {p0}.", "Subtract {p0} from x.", "Return x decreased by {p0}."),
         "x - {p0}", lambda x, k: x - k, _int_input, ARITHMETIC_NAMES),
    Kind("arithmetic", "times", "x: int", "int", _digit(2),
         ("Return x times {p0}.", "Multiply x by {p0}.", "Return the product of x and {p0}."),
         "x * {p0}", lambda x, k: x * k, _int_input, ARITHMETIC_NAMES),
    Kind("arithmetic", "quotient", "x: int", "int", _digit(2),
         ("Return x divided by {p0}, rounded down.", "Return the integer quotient of x and {p0}."),
         "x // {p0}", lambda x, k: x // k, _int_input, ARITHMETIC_NAMES),
    Kind("arithmetic", "remainder", "x: int", "int", _digit(2),
         ("Return the remainder of x divided by {p0}.", "Return x modulo {p0}."),
         "x % {p0}", lambda x, k: x % k, _int_input, ARITHMETIC_NAMES),
    Kind("arithmetic", "times_plus", "x: int", "int", _two_digits,
         ("Multiply x by {p0}, then add {p1}.", "Return {p0} times x plus {p1}."),
         "x * {p0} + {p1}", lambda x, a, b: x * a + b, _int_input, ARITHMETIC_NAMES),
    Kind("arithmetic", "times_minus", "x: int", "int", _two_digits,
         ("Multiply x by {p0}, then subtract {p1}.", "Return {p0} times x minus {p1}."),
         "x * {p0} - {p1}", lambda x, a, b: x * a - b, _int_input, ARITHMETIC_NAMES),
    Kind("strings", "append", "s: str", "str", _letter,
         ("Return s followed by '{p0}'.", "Append '{p0}' to the end of s."),
         "s + {p0!r}", lambda s, c: s + c, _word_input, ("add_suffix", "append_char", "extend_text")),
    Kind("strings", "prepend", "s: str", "str", _letter,
         ("Return '{p0}' followed by s.", "Put '{p0}' in front of s."),
         "{p0!r} + s", lambda s, c: c + s, _word_input, ("add_prefix", "prepend_char", "lead_text")),
    Kind("strings", "repeat", "s: str", "str", _digit(2),
         ("Return s repeated {p0} times.", "Repeat the string s {p0} times."),
         "s * {p0}", lambda s, k: s * k, _word_input, ("repeat_text", "echo", "duplicate")),
    Kind("strings", "pad", "s: str", "str", _letter_and_count,
         ("Append {p1} copies of '{p0}' to s.", "Return s followed by '{p0}' repeated {p1} times."),
         "s + {p0!r} * {p1}", lambda s, c, k: s + c * k, _word_input, ("pad_text", "pad_right", "extend_text")),
    Kind("strings", "replace", "s: str", "str", _two_letters,
         ("Replace every '{p0}' in s with '{p1}'.", "Return s with each letter '{p0}' changed to '{p1}'."),
         "s.replace({p0!r}, {p1!r})", lambda s, a, b: s.replace(a, b), _word_with_letter,
         ("swap_letters", "replace_char", "fix_text")),
    *(Kind("lists", fold, "xs: list", "int" if fold in ("total", "largest", "count") else "list",
           _filter_and_map if fold != "count" else _filter_only, phrasings, body, _folded(fold), _list_for_filter,
           names, _list_fields)
      for fold, phrasings, body, names in (
          ("collect", ("Return {filter} of xs{map}.", "Keep {filter} of xs{map}."),
           "[{map_code} for v in xs{condition}]", ("select", "collect", "pick_items")),
          ("total", ("Return the sum of {filter} of xs{map}.", "Add up {filter} of xs{map}."),
           "sum({map_code} for v in xs{condition})", ("total", "add_up", "sum_items")),
          ("largest", ("Return the largest of {filter} of xs{map}, or 0 if there is none.",
                       "Find the maximum of {filter} of xs{map} (0 when there is none)."),
           "max(({map_code} for v in xs{condition}), default=0)", ("largest", "top_value", "peak")),
          ("ordered", ("Return {filter} of xs{map}, in increasing order.", "Sort {filter} of xs{map}."),
           "sorted({map_code} for v in xs{condition})", ("ordered", "sort_items", "arrange")),
          ("count", ("Return how many of {filter} of xs there are.", "Count {filter} of xs."),
           "sum(1 for v in xs{condition})", ("count_items", "how_many", "tally")),
      )),
    Kind("conditionals", "greater", "x: int", "int", _outcomes,
         ("Return {p1} if x is greater than {p0}, otherwise {p2}.", "If x is above {p0} return {p1}, else return {p2}."),
         "{p1} if x > {p0} else {p2}", lambda x, k, a, b: a if x > k else b, _near_threshold,
         ("pick_value", "choose", "threshold")),
    Kind("conditionals", "less", "x: int", "int", _outcomes,
         ("Return {p1} if x is less than {p0}, otherwise {p2}.", "If x is below {p0} return {p1}, else return {p2}."),
         "{p1} if x < {p0} else {p2}", lambda x, k, a, b: a if x < k else b, _near_threshold,
         ("pick_low", "choose_small", "lower_gate")),
    Kind("conditionals", "equal", "x: int", "int", _outcomes,
         ("Return {p1} if x equals {p0}, otherwise {p2}.", "If x is {p0} return {p1}, else return {p2}."),
         "{p1} if x == {p0} else {p2}", lambda x, k, a, b: a if x == k else b, _near_threshold,
         ("match_value", "check_equal", "is_target")),
)
FAMILIES = ("arithmetic", "strings", "lists", "conditionals")  # in order of difficulty
LEVELS = {family: level for level, family in enumerate(FAMILIES, start=1)}
KINDS_BY_FAMILY = {family: [kind for kind in KINDS if kind.family == family] for family in FAMILIES}


@dataclass(frozen=True)
class Problem:
    kind: Kind
    parameters: tuple
    function_name: str
    phrasing: str
    inputs: tuple  # the tests' inputs

    @property
    def family(self) -> str:
        return self.kind.family

    @property
    def key(self) -> str:
        """The problem's identity for leakage checks: family, kind and parameters (not names or wording)."""
        return f"{self.family}|{self.kind.name}|{'|'.join(map(repr, self.parameters))}"

    def _fields(self) -> dict:
        fields = {f"p{index}": value for index, value in enumerate(self.parameters)}
        return {**fields, **self.kind.fields(self.parameters)} if self.kind.fields else fields

    @property
    def description(self) -> str:
        return self.phrasing.format(**self._fields())

    @property
    def solution(self) -> str:
        return f"    return {self.kind.body.format(**self._fields())}\n"

    def answer(self, value) -> object:
        return self.kind.apply(value, *self.parameters)

    @property
    def signature(self) -> str:
        return f"{self.function_name}({self.kind.argument}) -> {self.kind.returns}"

    @property
    def declaration(self) -> str:
        return f"def {self.signature}:\n"

    @property
    def docstring(self) -> str:
        return self.description

    @property
    def prompt(self) -> str:
        """Signature and docstring, laid out as HumanEval's prompts."""
        return f'{self.declaration}    """ {self.docstring}\n    """\n'

    @property
    def instruction(self) -> str:
        """HumanEvalPack's instruction wording for Python synthesis."""
        return f"Write a Python function `{self.signature}` to solve the following problem:\n{self.docstring}"

    @property
    def test(self) -> str:
        asserts = "".join(f"    assert candidate({value!r}) == {self.answer(value)!r}\n" for value in self.inputs)
        return f"\n\ndef check(candidate):\n{asserts}\ncheck({self.function_name})\n"

    def corpus_text(self) -> str:
        """Raw code for a base's warm-up: the specification as a comment above the function (no
        docstring), then tests of it as people write them: one that restates the computation on a
        literal (such repeats are how models learn to copy constants) and one with the value."""
        first, second = self.inputs[-2:]
        argument = self.kind.argument.split(":")[0]
        restated = re.sub(rf"\b{argument}\b", repr(first), self.kind.body.format(**self._fields()))
        if self.family == "conditionals":  # `f(8) == (3 if 8 < 2 else 2)`, not `(f(8) == 3) if ...`
            restated = f"({restated})"
        return (f"# {self.description}\n{self.declaration}{self.solution}\n\n"
                f"assert {self.function_name}({first!r}) == {restated}\n"
                f"assert {self.function_name}({second!r}) == {self.answer(second)!r}\n")


def split_of(key: str) -> str:
    """`test` or `train`, fixed by the key's SHA-256: the same on every machine, for every seed."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return "test" if digest % TEST_SHARE == 0 else "train"


def _draw(rng: random.Random, kind: Kind) -> Problem:
    parameters = kind.draw(rng)
    inputs: list = []
    while len(inputs) < TEST_ASSERTS:  # distinct inputs (every input space has more than enough)
        value = kind.draw_input(rng, parameters, len(inputs))
        if value not in inputs:
            inputs.append(value)
    return Problem(kind, parameters, rng.choice(kind.function_names), rng.choice(kind.phrasings), tuple(inputs))


def problems(seed: int | str, split: str, distinct: bool) -> Iterator[Problem]:
    """An endless stream of `split` problems, families in turn (so every prefix is balanced).

    `distinct`: never repeat a key (the test set); otherwise keys may recur with other names,
    wordings and inputs (training data needs more examples than some kinds have keys)."""
    rng = random.Random(f"astraios-toy:{split}:{seed}")
    seen: set[str] = set()
    while True:
        for family in FAMILIES:
            for _ in range(MAX_DRAWS):
                problem = _draw(rng, rng.choice(KINDS_BY_FAMILY[family]))
                if split_of(problem.key) == split and not (distinct and problem.key in seen):
                    break
            else:
                raise ValueError(f"the toy family {family} has no unused {split} problem left after {len(seen)} "
                                 f"problems. Fix: ask for fewer distinct problems.")
            seen.add(problem.key)
            yield problem


def _take(stream: Iterator[Problem], count: int) -> list[Problem]:
    return [next(stream) for _ in range(count)]


def test_problems(count: int = TEST_PROBLEMS) -> list[Problem]:
    """The `toy-synthesize` problems: fixed seed, test keys only, all distinct."""
    return _take(problems(TEST_SEED, "test", distinct=True), count)


def instruction_records(seed: int = 0, count: int = 2000) -> list[dict]:
    """OctoCoder-form training pairs from training keys (the data source `toy-instructions`)."""
    return [{"prompt": problem.instruction, "completion": problem.prompt + problem.solution, "key": problem.key}
            for problem in _take(problems(f"instructions:{seed}", "train", distinct=False), count)]


def corpus_records(seed: int = 0, count: int = 4000) -> list[dict]:
    """Raw functions from training keys, no docstrings (the data source `toy-corpus`)."""
    return [{"text": problem.corpus_text(), "key": problem.key}
            for problem in _take(problems(f"corpus:{seed}", "train", distinct=False), count)]


# Data sources generated on the fly: name -> (records(seed, count), default count).
SOURCES = {"toy-instructions": (instruction_records, 2000), "toy-corpus": (corpus_records, 4000)}


def source_records(name: str, seed: int | None, limit: int | None) -> list[dict]:
    make, default_count = SOURCES[name]
    return make(0 if seed is None else seed, limit or default_count)


def document(problem: Problem, index: int) -> dict:
    """A problem as a HumanEvalPack Python record (the fields the synthesize task reads), plus its key."""
    return {"task_id": f"Toy/{index}", "doc_id": f"Toy/{index}", "index": index, "prompt": problem.prompt,
            "declaration": problem.declaration, "canonical_solution": problem.solution, "test": problem.test,
            "entry_point": problem.function_name, "signature": problem.signature, "docstring": problem.docstring,
            "instruction": problem.instruction, "family": problem.family, "level": LEVELS[problem.family],
            "kind": problem.kind.name, "key": problem.key}
