"""The questions asked about code: wordings, one-shot exemplars, and fitting a prompt to a window.

Prompts are in the OctoCoder form, `Question: {question}\n\nAnswer:`:
    plain (protocol astraios):
        {code}\nIs there a defect in the code? Answer YES or NO.
        Code 1:\n{code1}\nCode 2:\n{code2}\nAre Code 1 and Code 2 clones of each other? Answer YES or NO.
    study (the study harness's exact sentences, from its `astraios` branch tasks):
        {code}\nIs there a defect in the Code, and respond to YES or NO.
        Code1: {code1}.\nCode2: {code2}.\nIs there a clone relation between the Code1 and Code2, and respond to YES or NO.

One shot (`--shots 1`) puts a solved example (answer YES) first:
- protocol astraios: `Question: {question about the exemplar}\n\nAnswer: YES\n\n` then the prompt.
  Devign's exemplar is the study's (QEMU's `cris_bound_w`) as C source; BigCloneBench's is a short
  hand-written pair of Java functions that read a file into a string.
- protocol study: the exact text of the study's one-shot Devign runs, as their `raw_text` shows it
  (`defect_detection_ablation/*_os.json`): a leading space, a space before the exemplar's `\n`, 22
  spaces before the second `Question:`, and the exemplar's C escapes `\t` and `\n` turned into a
  real tab and newline by the Python string that built it. The study also ran 28 one-shot
  BigCloneBench evaluations (`clone_detection_ablation/*_os.json`), but their exemplar is in no file
  we hold, so protocol study refuses `--shots 1` for BigCloneBench rather than guess it.

Fitting long inputs:
- `PromptFitter` (protocol astraios): the code (never the question) is cut to fit the model's
  context with room kept for the answer; two functions share the room (the shorter keeps all it can).
- `StudyWindow` (protocol study): the harness's `--max_length_generation 512` counts prompt and
  answer together and its tokenizer truncates from the left, so a prompt over 512 tokens loses its
  beginning (the question and, one-shot, the exemplar come first and go first) and the answer gets
  512 minus the prompt's tokens, at least one (transformers decodes one token even when the prompt
  fills max_length). The cut prompt is decoded and encoded again by the backend, which can
  tokenise its first characters differently from the harness's token ids; the window still holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

WORDINGS = ("plain", "study")
SHOTS = (0, 1)
STUDY_WINDOW = 512  # the harness's max_length_generation for Devign and BigCloneBench: prompt + answer

QUESTIONS = {
    "devign": {
        "plain": "{0}\nIs there a defect in the code? Answer YES or NO.",
        "study": "{0}\nIs there a defect in the Code, and respond to YES or NO.",
    },
    "bigclonebench": {
        "plain": "Code 1:\n{0}\nCode 2:\n{1}\nAre Code 1 and Code 2 clones of each other? Answer YES or NO.",
        "study": "Code1: {0}.\nCode2: {1}.\nIs there a clone relation between the Code1 and Code2, and respond to YES or NO.",
    },
}

DEVIGN_EXEMPLAR = ('static inline int cris_bound_w(int v, int b) { int r = v; '
                   'asm ("bound.w\\t%1, %0\\n" : "+r" (r) : "ri" (b)); return r; }')
BIGCLONEBENCH_EXEMPLAR = (
    "public static String readFile(String path) throws IOException {\n"
    "    StringBuilder text = new StringBuilder();\n"
    "    BufferedReader reader = new BufferedReader(new FileReader(path));\n"
    "    String line;\n"
    "    while ((line = reader.readLine()) != null) {\n"
    "        text.append(line).append('\\n');\n"
    "    }\n"
    "    reader.close();\n"
    "    return text.toString();\n"
    "}",
    "public String loadText(File file) throws IOException {\n"
    "    byte[] bytes = new byte[(int) file.length()];\n"
    "    FileInputStream in = new FileInputStream(file);\n"
    "    in.read(bytes);\n"
    "    in.close();\n"
    "    return new String(bytes);\n"
    "}",
)
EXEMPLARS = {"devign": (DEVIGN_EXEMPLAR,), "bigclonebench": BIGCLONEBENCH_EXEMPLAR}
# What the study's one-shot prompts put before the zero-shot prompt, character for character.
STUDY_ONE_SHOT_PREFIX = {
    "devign": (' Question: static inline int cris_bound_w(int v, int b) { int r = v; asm ("bound.w\t%1, %0\n" : '
               '"+r" (r) : "ri" (b)); return r; } \nIs there a defect in the Code, and respond to YES or NO.\n\n'
               'Answer: YES\n\n' + " " * 22),
}


def question(task: str, wording: str, codes: Sequence[str]) -> str:
    """The question about `codes`, without "Question:"/"Answer:"."""
    return QUESTIONS[task][wording].format(*codes)


def render(task: str, wording: str, shots: int, study: bool, codes: Sequence[str]) -> str:
    """The whole prompt for `codes`: one solved example first when `shots` is 1 (the study's exact
    text when `study`)."""
    prompt = f"Question: {question(task, wording, codes)}\n\nAnswer:"
    if not shots:
        return prompt
    if study:
        return STUDY_ONE_SHOT_PREFIX[task] + prompt
    return f"Question: {question(task, wording, EXEMPLARS[task])}\n\nAnswer: YES\n\n{prompt}"


class StudyWindow:
    """The study harness's 512-token window over prompt and answer (see the module docstring)."""

    def __init__(self, tokenizer, window: int = STUDY_WINDOW):
        self.tokenizer = tokenizer
        self.window = window

    def length(self, text: str) -> int:
        return len(self.tokenizer(text, verbose=False)["input_ids"])

    def fit(self, prompt: str) -> tuple[str, bool, int]:
        """(the prompt as the model sees it, whether it was cut, the answer's token budget)."""
        ids = self.tokenizer(prompt, verbose=False)["input_ids"]
        if len(ids) <= self.window:
            return prompt, False, max(1, self.window - len(ids))
        kept = ids[-self.window:]
        text = self.tokenizer.decode(kept)
        while self.length(text) > self.window:  # a re-encoding that merges differently must still fit
            kept = kept[1:]
            text = self.tokenizer.decode(kept)
        return text, True, 1

    def cut_answer(self, answer: str, budget: int) -> str:
        """The answer cut to `budget` tokens (a batch decodes up to its longest budget)."""
        ids = self.tokenizer(answer, add_special_tokens=False, verbose=False)["input_ids"]
        return answer if len(ids) <= budget else self.tokenizer.decode(ids[:budget])


class PromptFitter:
    """Cuts the code of a prompt (never the question) so that it fits the model's context with
    `reserve` tokens left for the answer. Several code pieces share the room: each gets an equal
    share, and what a short piece does not use goes to the longer ones."""

    def __init__(self, tokenizer, context: int, reserve: int):
        self.tokenizer = tokenizer
        self.budget = context - reserve

    @classmethod
    def for_backend(cls, backend, reserve: int) -> PromptFitter | None:
        """A fitter for a backend with a local tokenizer, or None (e.g. a remote server)."""
        tokenizer = getattr(backend, "tokenizer", None)
        context = getattr(backend, "context", None) or getattr(tokenizer, "model_max_length", None)
        if tokenizer is None or not isinstance(context, int) or context > 10**7:
            return None
        return cls(tokenizer, context, reserve)

    def length(self, text: str) -> int:
        # With special tokens, as backends encode; quiet about texts longer than the model's window.
        return len(self.tokenizer(text, verbose=False)["input_ids"])

    def fit(self, render: Callable[[Sequence[str]], str], codes: Sequence[str]) -> tuple[str, bool]:
        """(the prompt, whether any code was cut)."""
        prompt = render(codes)
        excess = self.length(prompt) - self.budget
        if excess <= 0:
            return prompt, False
        pieces = [self.tokenizer(code, add_special_tokens=False, verbose=False)["input_ids"] for code in codes]
        room = sum(map(len, pieces)) - excess
        # Cutting can change how tokens merge at the edges: measure again and shrink until it fits.
        while room > 0:
            shares = _share(room, [len(piece) for piece in pieces])
            cut = [self.tokenizer.decode(piece[:share]).rstrip("\ufffd") for piece, share in zip(pieces, shares)]
            prompt = render(cut)
            excess = self.length(prompt) - self.budget
            if excess <= 0:
                return prompt, True
            room -= excess
        raise ValueError(f"the question alone takes more than the model's {self.budget}-token budget "
                         f"(context minus the answer's room); no code would fit. Fix: use a model with a longer context.")


def _share(room: int, lengths: Sequence[int]) -> list[int]:
    """Token counts that sum to at most `room`: water-filling, shortest pieces first."""
    shares = [0] * len(lengths)
    left = room
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for rank, i in enumerate(order):
        shares[i] = min(lengths[i], left // (len(order) - rank))
        left -= shares[i]
    return shares
