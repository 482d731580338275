"""The study's evaluation harness as it generated: what `--protocol study` of the `recode-*` and
`aatk` tasks shares (Devign and BigCloneBench have their own window in `codexglue.prompts`).

The study ran bigcode-evaluation-harness, branch `astraios` (`bigcode_eval/generation.py`,
`bigcode_eval/utils.py`): `--max_length_generation N` is the `max_length` of `model.generate`, so
prompt and generation share N tokens (1,024 for ReCode and AATK: `evaluation/recode-*.sh`,
`evaluation/aatk-dow.sh` of the study repo); `window_budget` gives each prompt the new tokens N
leaves it. A task whose stop words are empty (AATK) is decoded with
`clean_up_tokenization_spaces=True` over prompt and generation together and then cut at the
prompt's length (`postprocess_generation`: `generation[len(prompt):]`); `harness_cleanup` repeats
that on a completion, so a prompt the clean-up shortens (` !=` becomes `!=`) loses as many leading
characters of its completion as it did in the study's files.
"""

from __future__ import annotations

from collections.abc import Callable

PROTOCOLS = ("astraios", "study")
STUDY_DTYPE = "float32"  # the harness's default --precision, which every evaluation of the study ran in
STUDY_WINDOW = 1024  # --max_length_generation of the study's ReCode and AATK runs: prompt + generation
# transformers 4.x's `clean_up_tokenization`, in its order, as the harness ran it (transformers 5
# keeps it only as a tokenizer method, so it is written out here rather than borrowed).
CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
           (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def window_budget(backend, window: int, task: str) -> Callable[[str], int]:
    """prompt -> the new tokens `window` leaves after it, counted with the backend's tokenizer
    (asked for only when a prompt needs generating, so a resumed run loads no model)."""
    tokenizer = None

    def budget(prompt: str) -> int:
        nonlocal tokenizer
        if tokenizer is None:
            tokenizer = getattr(backend, "tokenizer", None)
            if tokenizer is None:
                raise ValueError(f"{task}: --protocol study shares a {window}-token window between prompt and "
                                 f"generation, counted with the model's tokenizer, and this backend has none. Fix: "
                                 f"use the transformers or vllm backend, or --protocol astraios.")
        used = len(tokenizer(prompt, verbose=False)["input_ids"])
        if used >= window:
            raise ValueError(f"{task}: a prompt of {used} tokens fills the study's {window}-token window (it begins "
                             f"{prompt[:60]!r}). Fix: use --protocol astraios, which sets new tokens apart.")
        return window - used

    return budget


def harness_cleanup(prompt: str, completion: str) -> str:
    """The completion the harness saved for a task without stop words: the space clean-up of
    transformers' `decode` over prompt + completion, cut at the prompt's length."""
    text = prompt + completion
    for spaced, joined in CLEANUP:
        text = text.replace(spaced, joined)
    return text[len(prompt):]


def protocol_options(task: str, protocol: str, given: dict, implied: dict[str, dict], study: str) -> dict:
    """The options `protocol` runs with: `implied[protocol]`, with the `given` ones (None: not given)
    in their place. Protocol study is the study's way as a whole (`study` says what that is), so a
    given option that differs from the study's is an error naming it."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"--protocol {protocol}: expected one of {', '.join(PROTOCOLS)}. Fix: use one of those.")
    if protocol == "study":
        changes = [f"{name} {value}" for name, value in given.items()
                   if value is not None and value != implied["study"][name]]
        if changes:
            raise ValueError(f"{task}: --protocol study is the study's way as a whole ({study}), and "
                             f"{', '.join(changes)} would change it. Fix: drop {'them' if len(changes) > 1 else 'it'}, "
                             f"or use --protocol astraios with the options you want.")
    return {name: implied[protocol][name] if value is None else value for name, value in given.items()}
