"""Continuous-batching decoding (astraios.generate.decoding): the same greedy output as one
`model.generate` per prompt, no wasted rows, one prefill per prompt, samples reproducible per
seed whatever the batch, and an evaluation resumed after a kill equal to an uninterrupted one."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from astraios.evaluation import EvalConfig, evaluate
from astraios.generate import Sampling, cut_at_stop
from astraios.generate.decoding import ContinuousDecoder
from astraios.generate.huggingface import TransformersBackend
from astraios.models import load_tokenizer
from saved_methods import lively

PROMPTS = [
    "def add(a, b):",
    "Question: Write a function that reverses a list.\n\nAnswer:\ndef reverse(items):\n    return",
    "x = 1",
    "import os\nimport sys\n\nclass Config:\n    def __init__(self):",
    "Question: Fix bugs in f.\n\nAnswer:\n",
    "for i in range(10):",
    "# sort the numbers\nnumbers.sort(",
]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models decode step by step: with more threads than free cores (a shared machine) every
    small op waits on the others, a hundred times slower; one thread is fast everywhere."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def backend_for(name: str, batch_size: int) -> TransformersBackend:
    return TransformersBackend(lively(name), load_tokenizer(name), batch_size=batch_size)


class TextStop(StoppingCriteria):
    """What the backend used to do with `model.generate`: decode the new text, stop on a stop
    sequence or `stop_when`."""

    def __init__(self, tokenizer, start, stop, stop_when):
        self.tokenizer, self.start, self.stop, self.stop_when = tokenizer, start, stop, stop_when

    def __call__(self, input_ids, scores, **kwargs):
        text = self.tokenizer.decode(input_ids[0, self.start:], skip_special_tokens=True)
        done = any(sequence in text for sequence in self.stop) or (self.stop_when is not None and self.stop_when(text))
        return torch.tensor([done])


def model_generate_greedy(model, tokenizer, prompt, max_new_tokens, stop=(), stop_when=None) -> str:
    ids = torch.tensor([tokenizer(prompt)["input_ids"]])
    with torch.inference_mode():
        output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                eos_token_id=tokenizer.eos_token_id,
                                stopping_criteria=StoppingCriteriaList([TextStop(tokenizer, ids.shape[1], stop, stop_when)]))
    return cut_at_stop(tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True), stop)


@pytest.mark.parametrize("name", ["tiny-gptbigcode-s", "tiny-llama-s"])
def test_greedy_output_equals_model_generate_prompt_by_prompt(name):
    """Rows end at different steps (stop_when wants a different length per prompt), so with batch 3
    rows leave and join mid-way; every output still equals `model.generate` on that prompt alone."""
    backend = backend_for(name, batch_size=3)
    free = backend.generate(PROMPTS[:1], temperature=0, max_new_tokens=40)[0][0]
    stop = [free[12:15], "\n\n\n"]
    lengths = [6 + 9 * index for index in range(len(PROMPTS))]

    def stop_when(index, text):
        return len(text) >= lengths[index]

    ours = backend.generate(PROMPTS, n=2, temperature=0, max_new_tokens=40, stop=stop, stop_when=stop_when)
    reference = [model_generate_greedy(backend.model, backend.tokenizer, prompt, 40, stop,
                                       lambda text, index=index: stop_when(index, text))
                 for index, prompt in enumerate(PROMPTS)]
    assert [texts[0] for texts in ours] == reference and all(texts[0] == texts[1] for texts in ours)
    assert len(set(reference)) == len(PROMPTS) and any(len(text) < 40 for text in reference)
    assert backend_for(name, batch_size=16).generate(PROMPTS, temperature=0, max_new_tokens=40, stop=stop,
                                                      stop_when=stop_when) == [[text] for text in reference]


def test_rows_leave_at_once_and_each_prompt_is_read_once(monkeypatch):
    """Every forward pass decodes only rows that keep its token (a finished row leaves, a waiting
    one takes its slot), the batch stays full while rows wait, and each prompt is prefilled once
    even when its samples outnumber the batch."""
    backend = backend_for("tiny-gptbigcode-s", batch_size=4)
    prefilled, sampled, admitted, forwards = [], [], [0], []
    prefill, next_tokens, admit = ContinuousDecoder._prefill, ContinuousDecoder._next_tokens, ContinuousDecoder._admit

    def record_prefill(self, prompts):
        prefilled.extend(prompt.index for prompt in prompts)
        return prefill(self, prompts)

    def record_admit(self, queue, free):
        result = admit(self, queue, free)
        admitted[0] += len(result[0])
        return result

    def record_next_tokens(self, logits, rows, processor):
        sampled.append((len(rows), admitted[0]))
        return next_tokens(self, logits, rows, processor)

    monkeypatch.setattr(ContinuousDecoder, "_prefill", record_prefill)
    monkeypatch.setattr(ContinuousDecoder, "_admit", record_admit)
    monkeypatch.setattr(ContinuousDecoder, "_next_tokens", record_next_tokens)
    forward = backend.model.forward
    monkeypatch.setattr(backend.model, "forward", lambda *a, **k: forwards.append(k["input_ids"].shape) or forward(*a, **k))
    prompts, n = PROMPTS[:3], 7
    outputs = backend.generate(prompts, n=n, temperature=1.0, top_p=0.95, max_new_tokens=30,
                               stop_when=lambda index, text: len(text) >= 4 + 5 * index)
    assert [len(texts) for texts in outputs] == [n] * 3
    assert sorted(prefilled) == [0, 1, 2]  # one prefill per prompt, though 7 samples > 4 rows
    rows = len(prompts) * n
    decode_rows = sum(shape[0] for shape in forwards if shape[1] == 1)
    assert decode_rows == sum(count for count, _ in sampled) - rows  # no forward for a finished row
    assert all(count == 4 or admitted_so_far == rows for count, admitted_so_far in sampled)  # full while rows wait
    assert max(count for count, _ in sampled) == 4


def test_samples_are_reproducible_per_seed_whatever_the_batch():
    seeds = [[1000 * prompt + sample for sample in range(5)] for prompt in range(4)]
    settings = {"n": 5, "temperature": 0.8, "top_p": 0.95, "max_new_tokens": 20}
    first = backend_for("tiny-gptbigcode-s", batch_size=3).generate(PROMPTS[:4], seeds=seeds, **settings)
    again = backend_for("tiny-gptbigcode-s", batch_size=16).generate(PROMPTS[:4], seeds=seeds, **settings)
    alone = backend_for("tiny-gptbigcode-s", batch_size=2).generate(PROMPTS[2:3], seeds=seeds[2:3], **settings)
    assert first == again and alone[0] == first[2]
    assert len({text for texts in first for text in texts}) > 10  # the samples really differ
    other = backend_for("tiny-gptbigcode-s", batch_size=3).generate(PROMPTS[:1], seeds=[[7, 8, 9, 10, 11]], **settings)
    assert other[0] != first[0]
    with pytest.raises(ValueError, match="seeds"):
        backend_for("tiny-gptbigcode-s", batch_size=3).generate(PROMPTS[:2], seeds=seeds[:1], **settings)


class InterruptAfter:
    """The backend until its `calls`-th generate call, which is interrupted (a kill mid-run)."""

    def __init__(self, backend, calls):
        self.backend, self.calls = backend, calls
        self.name, self.rows_per_call = backend.name, backend.rows_per_call

    def generate(self, *args, **kwargs):
        self.calls -= 1
        if self.calls < 0:
            raise KeyboardInterrupt
        return self.backend.generate(*args, **kwargs)

    def describe(self):
        return self.backend.describe()


def test_a_resumed_evaluation_equals_an_uninterrupted_one(tmp_path, data_dir):
    """Issue 16.8: the samples generated after a resume are the ones an uninterrupted run draws."""

    def config(directory):
        return EvalConfig(tasks=["humanevalsynthesize-python"], output_dir=tmp_path / directory, data_dir=str(data_dir),
                          limit=6, sampling=Sampling(n=5, temperature=0.8, max_new_tokens=24), generations_only=True,
                          seed=3)

    def generations(directory):
        return json.loads((tmp_path / directory / "generations" / "humanevalsynthesize-python.json").read_text())

    small = backend_for("tiny-gptbigcode-s", batch_size=4)
    small.rows_per_call = 10  # two prompts x five samples per call: the kill comes between calls
    evaluate(config("whole"), backend=small, progress=False)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        evaluate(config("resumed"), backend=InterruptAfter(small, calls=1), progress=False)
    cached = (tmp_path / "resumed" / "cache" / "humanevalsynthesize-python.jsonl").read_text().splitlines()
    assert len(cached) == 10  # the first call's samples survived the kill
    torch.manual_seed(123)  # whatever the global random state is on resume
    fresh = backend_for("tiny-gptbigcode-s", batch_size=4)  # the same description, so the same cache keys
    fresh.decoder.batch_size = 7  # but other rows share each batch
    evaluate(config("resumed"), backend=fresh, progress=False)
    assert generations("resumed") == generations("whole")
    whole, resumed = (sorted(map(json.loads, (tmp_path / directory / "cache" / "humanevalsynthesize-python.jsonl")
                                 .read_text().splitlines()), key=lambda record: record["key"])
                      for directory in ("whole", "resumed"))
    assert resumed == whole and len(whole) == 30  # every raw completion, not only the programs kept from them
    assert len({record["completion"] for record in whole}) > 6  # samples of a document differ: real draws


@pytest.mark.parametrize("clean_up_spaces, forced", [(False, False), (True, False), (True, True)])
def test_detokenizer_gives_the_tokenizers_text_at_every_step(clean_up_spaces, forced):
    """Byte by byte, including tokens that split a UTF-8 character, special tokens and the
    tokenizer's space clean-up (which transformers skips for BPE unless forced)."""
    from astraios.generate.decoding import Detokenizer, _Row

    tokenizer = load_tokenizer("tiny-gptbigcode-s")
    tokenizer.clean_up_tokenization_spaces = clean_up_spaces
    tokenizer.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output = forced
    detokenizer = Detokenizer(tokenizer)
    assert detokenizer.table is not None and detokenizer.clean_up == forced  # byte-level BPE: the fast path
    generator = torch.Generator().manual_seed(1)
    sequences = torch.randint(0, len(tokenizer), (20, 40), generator=generator).tolist()
    sequences.append(tokenizer("naïve café ☕ déjà vu , . ! 'll", add_special_tokens=False)["input_ids"] + [0, 5])
    checked = 0
    for sequence in sequences:
        row = _Row(0, 0, None)
        for token in sequence:
            row.tokens.append(token)
            detokenizer.extend(row, token)
            assert detokenizer.text(row) == tokenizer.decode(row.tokens, skip_special_tokens=True)
            checked += "\ufffd" in detokenizer.text(row)
    assert checked  # some prefixes ended inside a multi-byte character


def test_detokenizer_falls_back_to_the_tokenizer_when_not_byte_level():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    from astraios.generate.decoding import Detokenizer, _Row

    words = Tokenizer(WordLevel({"[UNK]": 0, "def": 1, "f": 2, "return": 3}, unk_token="[UNK]"))
    words.pre_tokenizer = Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]")
    detokenizer = Detokenizer(tokenizer)
    assert detokenizer.table is None
    row = _Row(0, 0, None, tokens=[1, 2, 3])
    assert detokenizer.text(row) == tokenizer.decode([1, 2, 3], skip_special_tokens=True)
