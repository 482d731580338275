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
  the same functions with no docstring, followed by a usage assert. A base warmed up on it knows
  Python and the operations but has never seen a specification turned into code, which is what
  instruction tuning then teaches.

Leakage: a problem's identity is its key `family|kind|parameters` (names and phrasings are
surface). `split_of(key)` puts every key in `test` or `train` by its SHA-256 (one key in five goes
to test), independently of any seed, and each consumer draws only from its own side. So no
training example, with any seed and any count, shares a (family, parameters) pair with a test
problem; test problems are also distinct from each other.
"""

from __future__ import annotations

import hashlib
import random
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


# Every constant is a single digit or letter: one token to carry from the docstring into the code.
# (Copying a multi-token number needs an induction circuit that models of a few million
# parameters do not form in minutes; choosing the right single token by its role does form.)
def _digit(low: int = 1, high: int = 9) -> Callable[[random.Random], tuple]:
    return lambda rng: (rng.randint(low, high),)


THRESHOLD = _digit(1, 8)  # list thresholds: items (0 to 9) lie on both sides


def _two_digits(rng: random.Random) -> tuple[int, int]:
    return rng.randint(2, 9), rng.randint(1, 9)


def _letter(rng: random.Random) -> tuple[str]:
    return (rng.choice(LETTERS),)


def _letter_and_count(rng: random.Random) -> tuple[str, int]:
    return rng.choice(LETTERS), rng.randint(2, 9)


def _two_letters(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(COMMON_LETTERS)
    return first, rng.choice(LETTERS.replace(first, ""))


def _threshold_and_digit(rng: random.Random) -> tuple[int, int]:
    return rng.randint(1, 8), rng.randint(2, 9)


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


def _list_input(rng: random.Random, parameters: tuple, number: int) -> list[int]:  # noqa: ARG001
    return [rng.randint(0, 9) for _ in range(rng.randint(3, 6))]


def _list_around(rng: random.Random, parameters: tuple, number: int) -> list[int]:
    """A list; the first test's holds items on both sides of the threshold, so returning xs fails."""
    items = _list_input(rng, parameters, number)
    if number == 0:
        threshold = parameters[0]
        items[:2] = [rng.randint(0, threshold - 1), rng.randint(threshold + 1, 9)]
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
    Kind("lists", "keep_greater", "xs: list", "list", THRESHOLD,
         ("Return the items of xs that are greater than {p0}.", "Keep only the numbers in xs above {p0}."),
         "[v for v in xs if v > {p0}]", lambda xs, k: [v for v in xs if v > k], _list_around,
         ("keep_large", "filter_above", "select_big")),
    Kind("lists", "keep_less", "xs: list", "list", THRESHOLD,
         ("Return the items of xs that are less than {p0}.", "Keep only the numbers in xs below {p0}."),
         "[v for v in xs if v < {p0}]", lambda xs, k: [v for v in xs if v < k], _list_around,
         ("keep_small", "filter_below", "select_low")),
    Kind("lists", "add_each", "xs: list", "list", _digit(),
         ("Add {p0} to every item of xs.", "Return xs with {p0} added to each number."),
         "[v + {p0} for v in xs]", lambda xs, k: [v + k for v in xs], _list_input,
         ("shift_all", "add_to_each", "offset_list")),
    Kind("lists", "times_each", "xs: list", "list", _digit(2),
         ("Multiply every item of xs by {p0}.", "Return xs with each number times {p0}."),
         "[v * {p0} for v in xs]", lambda xs, k: [v * k for v in xs], _list_input,
         ("scale_all", "multiply_each", "grow_list")),
    Kind("lists", "count_greater", "xs: list", "int", THRESHOLD,
         ("Return how many items of xs are greater than {p0}.", "Count the numbers in xs above {p0}."),
         "sum(1 for v in xs if v > {p0})", lambda xs, k: sum(1 for v in xs if v > k), _list_around,
         ("count_large", "count_above", "tally_big")),
    Kind("lists", "keep_greater_plus", "xs: list", "list", _threshold_and_digit,
         ("Return the items of xs greater than {p0}, each plus {p1}.",
          "Keep the numbers in xs above {p0} and add {p1} to each."),
         "[v + {p1} for v in xs if v > {p0}]", lambda xs, k, d: [v + d for v in xs if v > k], _list_around,
         ("shift_large", "filter_and_add", "lift_big")),
    Kind("lists", "keep_less_times", "xs: list", "list", _threshold_and_digit,
         ("Return the items of xs less than {p0}, each times {p1}.",
          "Keep the numbers in xs below {p0} and multiply each by {p1}."),
         "[v * {p1} for v in xs if v < {p0}]", lambda xs, k, d: [v * d for v in xs if v < k], _list_around,
         ("scale_small", "filter_and_scale", "grow_low")),
    Kind("lists", "keep_greater_times", "xs: list", "list", _threshold_and_digit,
         ("Return the items of xs greater than {p0}, each times {p1}.",
          "Keep the numbers in xs above {p0} and multiply each by {p1}."),
         "[v * {p1} for v in xs if v > {p0}]", lambda xs, k, d: [v * d for v in xs if v > k], _list_around,
         ("scale_large", "filter_and_scale", "grow_big")),
    Kind("lists", "keep_less_plus", "xs: list", "list", _threshold_and_digit,
         ("Return the items of xs less than {p0}, each plus {p1}.",
          "Keep the numbers in xs below {p0} and add {p1} to each."),
         "[v + {p1} for v in xs if v < {p0}]", lambda xs, k, d: [v + d for v in xs if v < k], _list_around,
         ("shift_small", "filter_low_and_add", "lift_low")),
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
        return {f"p{index}": value for index, value in enumerate(self.parameters)}

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
        """The function without its docstring, then one use of it: raw code for a base's warm-up."""
        value = self.inputs[-1]
        return f"{self.declaration}{self.solution}\n\nassert {self.function_name}({value!r}) == {self.answer(value)!r}\n"


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
