"""Continuous-batching decoding over a transformers KV cache: the transformers backend's engine.

Static batching (one `model.generate` per batch) keeps a finished row in the batch until the
longest row ends; with stop sequences most rows end early, so most of the batch decodes padding.
Here the batch is a pool of `batch_size` rows (prompt x sample) that changes every step:

- each prompt is read once: its prefill runs one forward pass (prompts admitted together share
  it, left-padded) and the prompt's cache row and last logits are kept while it has samples
  waiting; admitting k of its samples copies that row k times (prefix sharing for n > 1);
- a finished row leaves at once (its cache row is dropped) and waiting rows take the free slots
  on the next step: their cache rows are left-padded to the running batch's length and joined to
  it, and columns that no row needs any more are trimmed;
- every step runs one forward pass over the running rows' last tokens, picks each row's next
  token (argmax, or a draw from that row's own generator within its `nucleus`), and checks the
  row's new text against the stop sequences and the task's `stop_when`, on the text the
  tokenizer decodes from all of the row's tokens (exactly what static batching checked; kept
  byte by byte for byte-level BPE tokenizers, see `Detokenizer`).

Greedy output is the same as `model.generate`'s, row by row (positions come from the attention
mask, so padding never shifts them). Sampling is reproducible per sample: row j of prompt i draws
from a generator seeded with `seeds[i][j]`, so a sample's text does not depend on which other
rows shared its batch (what a resumed evaluation needs to equal an uninterrupted one).

P-Tuning (peft prompt learning): the decoder is the base model; a prompt's prefill is its virtual
tokens' embeddings followed by the prompt's, and each later step feeds one new token on the
cache, so the virtual tokens are seen once, at positions 0..V-1, as in training.

Why not transformers' own continuous batching (`generate_batch`): it runs on a paged cache with
its own attention kernels and takes token ids and a `GenerationConfig`: no per-row stopping test
(a task's `stop_when`), no per-request seed, no custom logits processor, and no way to feed
P-Tuning's virtual tokens; this loop needs only the model's ordinary forward pass.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from astraios.generate.base import StopWhen, cut_at_stop


def nucleus(logits: torch.Tensor, temperature: float, top_p: float, candidates: int = 64):
    """Each row's sampling distribution after temperature and nucleus (top-p) filtering, as
    (probabilities, token ids): most likely first, zero past the nucleus, not renormalised. The
    same distribution as transformers' TemperatureLogitsWarper + TopPLogitsWarper, but it sorts
    only the `candidates` likeliest tokens of a row when they already hold `top_p` of its mass
    (nearly always at evaluation temperatures), instead of the whole vocabulary at every step,
    which dominates a CPU decoding step at batch 16 (StarCoder's 49,152 tokens). Rows are handled
    alone (a flat row sorts everything without changing the others), so a row's draw never
    depends on which rows share its batch."""
    probabilities = (logits / temperature).softmax(dim=-1)
    if top_p >= 1.0:
        order = torch.arange(logits.shape[-1], device=logits.device).expand_as(probabilities)
        return probabilities, order
    top, order = probabilities.topk(min(candidates, logits.shape[-1]), dim=-1)
    short = top.sum(dim=-1) < top_p
    if bool(short.any()):  # these rows' candidates hold too little: sort their whole vocabulary
        width = logits.shape[-1]
        top = torch.cat([top, top.new_zeros((len(top), width - top.shape[-1]))], dim=-1)
        order = torch.cat([order, order.new_zeros((len(order), width - order.shape[-1]))], dim=-1)
        top[short], order[short] = probabilities[short].sort(dim=-1, descending=True)
    # A token stays if the tokens more likely than it hold less than top_p (the first always stays).
    return torch.where(top.cumsum(dim=-1) - top < top_p, top, top.new_zeros(())), order


class Detokenizer:
    """The text `tokenizer.decode(ids, skip_special_tokens=True)` gives, kept up to date token by
    token. For byte-level BPE tokenizers (GPT-2's, StarCoder's) decoding is the UTF-8 decoding
    (invalid bytes replaced) of the tokens' bytes put end to end (then, for tokenizers that still
    apply it, the space clean-up); so a row keeps its bytes and decodes them, a thousand times
    faster than asking the tokenizer to decode the whole row at every step. The byte table is
    checked against the tokenizer itself (every token alone, and random sequences); any other
    tokenizer, or any mismatch, decodes through the tokenizer."""

    def __init__(self, tokenizer, checks: int = 64):
        self.tokenizer = tokenizer
        self.table = _byte_table(tokenizer)
        self.clean_up = False
        if self.table is not None:
            # transformers skips the clean-up for BPE tokenizers in recent versions: ask it which.
            agreeing = [clean_up for clean_up in (False, True) if self._agrees(checks, clean_up)]
            self.table = self.table if agreeing else None
            self.clean_up = bool(agreeing) and agreeing[0]

    def extend(self, row: "_Row", token: int) -> None:
        if self.table is None:
            return
        if token < len(self.table):
            row.text_bytes += self.table[token]
        else:  # an id past the tokenizer's vocabulary (a padded embedding matrix): ask the tokenizer
            row.exact_bytes = False

    def text(self, row: "_Row") -> str:
        if self.table is None or not row.exact_bytes:
            return self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        return self._text(row.text_bytes, self.clean_up)

    def _text(self, data: bytes, clean_up: bool) -> str:
        text = data.decode("utf-8", errors="replace")
        return self.tokenizer.clean_up_tokenization(text) if clean_up else text

    def _agrees(self, checks: int, clean_up: bool) -> bool:
        generator = torch.Generator().manual_seed(0)
        sequences = [[token] for token in range(len(self.table))]
        sequences += torch.randint(0, len(self.table), (checks, 24), generator=generator).tolist()
        expected = self.tokenizer.batch_decode(sequences, skip_special_tokens=True)
        return all(self._text(b"".join(self.table[token] for token in sequence), clean_up) == text
                   for sequence, text in zip(sequences, expected))


def _byte_table(tokenizer) -> list[bytes] | None:
    """Each token's bytes (b"" for special tokens), for a byte-level BPE tokenizer; else None."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if type(decoder).__name__ != "ByteLevel":
        return None
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    to_byte = {chr(byte): byte for byte in printable}  # GPT-2's bytes_to_unicode, reversed
    to_byte.update({chr(256 + n): byte for n, byte in enumerate(b for b in range(256) if b not in printable)})
    special = set(tokenizer.all_special_ids)
    added = {index: token.content for index, token in tokenizer.added_tokens_decoder.items()}
    table = []
    for index, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if index in special:
            table.append(b"")
        elif index in added:
            table.append(added[index].encode())
        elif token is None or any(character not in to_byte for character in token):
            return None
        else:
            table.append(bytes(to_byte[character] for character in token))
    return table


@dataclass
class DecodeRequest:
    """One prompt's token ids and its samples: one seed per sample (None: greedy)."""

    ids: list[int]
    seeds: list[int | None]


@dataclass
class _Prompt:
    index: int
    request: DecodeRequest
    waiting: deque  # sample positions not admitted yet
    keys_values: list[tuple[torch.Tensor, torch.Tensor]] | None = None  # one cache row per layer, no padding
    logits: torch.Tensor | None = None  # after the prompt's last token


@dataclass
class _Row:
    prompt: int
    sample: int
    generator: torch.Generator | None
    tokens: list[int] = field(default_factory=list)
    text_bytes: bytearray = field(default_factory=bytearray)  # see Detokenizer
    exact_bytes: bool = True


class ContinuousDecoder:
    """Decodes many prompts x samples with at most `batch_size` rows in flight (see the module docs)."""

    def __init__(self, model, tokenizer, batch_size: int, virtual_tokens: int = 0):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        # Prompt learning: the base model decodes; the virtual tokens enter as embeddings at prefill.
        self.virtual_tokens = virtual_tokens
        self.decoder = model.get_base_model() if virtual_tokens else model
        self.detokenizer = Detokenizer(tokenizer)
        self.cache_argument = cache_argument(self.decoder)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def run(self, requests: Sequence[DecodeRequest], **settings) -> list[list[str]]:
        """For each request, one text per seed (decoded, skipping special tokens, cut at `stop`)."""
        outputs: list[list[str]] = [[] for _ in requests]
        for index, texts in self.stream(requests, **settings):
            outputs[index] = texts
        return outputs

    def stream(self, requests: Sequence[DecodeRequest], *, temperature: float, top_p: float, max_new_tokens: int,
               stop: Sequence[str] = (), stop_when: StopWhen | None = None) -> Iterator[tuple[int, list[str]]]:
        """(request index, its texts) for each request, as soon as all of its samples are done."""
        with torch.inference_mode():
            yield from self._stream(requests, temperature, top_p, max_new_tokens, stop, stop_when)

    def _stream(self, requests, temperature, top_p, max_new_tokens, stop, stop_when):
        stop = [sequence for sequence in stop if sequence]
        sampling = None if temperature == 0 else (temperature, top_p)
        check_text = self._text_check(stop, stop_when)
        queue = deque(_Prompt(i, request, deque(range(len(request.seeds)))) for i, request in enumerate(requests)
                      if request.seeds)
        outputs: list[list[str]] = [[""] * len(request.seeds) for request in requests]
        unfinished = [len(request.seeds) for request in requests]
        yield from ((index, []) for index, request in enumerate(requests) if not request.seeds)
        eos = self.tokenizer.eos_token_id
        rows: list[_Row] = []
        cache = mask = logits = None
        while queue or rows:
            if queue and len(rows) < self.batch_size:
                new_rows, new_cache, new_mask, new_logits = self._admit(queue, self.batch_size - len(rows))
                if rows:
                    cache, mask = _join(cache, mask, new_cache, new_mask)
                    logits = torch.cat([logits, new_logits])
                else:
                    cache, mask, logits = new_cache, new_mask, new_logits
                rows += new_rows
            tokens = self._next_tokens(logits, rows, sampling)
            finished = set()
            for position, (row, token) in enumerate(zip(rows, tokens.tolist())):
                row.tokens.append(token)
                self.detokenizer.extend(row, token)
                if token == eos or len(row.tokens) >= max_new_tokens or (check_text is not None and check_text(row)):
                    finished.add(position)
                    text = self.tokenizer.decode(row.tokens, skip_special_tokens=True)
                    outputs[row.prompt][row.sample] = cut_at_stop(text, stop)
                    unfinished[row.prompt] -= 1
                    if not unfinished[row.prompt]:
                        yield row.prompt, outputs[row.prompt]
            if finished:
                keep = [position for position in range(len(rows)) if position not in finished]
                rows = [rows[position] for position in keep]
                if not rows:
                    cache = mask = logits = None
                    continue
                index = torch.tensor(keep, device=mask.device)
                cache.batch_select_indices(index)
                cache, mask = _trim(cache, mask[index])
                tokens = tokens[index]
            positions = mask.sum(dim=-1, keepdim=True)  # the row's tokens so far: padding never shifts them
            mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
            output = self.decoder(input_ids=tokens[:, None], attention_mask=mask, position_ids=positions,
                                  use_cache=True, **{self.cache_argument: cache})
            cache = output[self.cache_argument]
            logits = output.logits[:, -1].float()

    # ------------------------------------------------------------------------------------------

    def _text_check(self, stop: list[str], stop_when: StopWhen | None) -> Callable[[_Row], bool] | None:
        if not stop and stop_when is None:
            return None
        text_of = self.detokenizer.text

        def finished(row: _Row) -> bool:
            text = text_of(row)
            return any(sequence in text for sequence in stop) or (stop_when is not None and stop_when(row.prompt, text))

        return finished

    def _next_tokens(self, logits: torch.Tensor, rows: list[_Row], sampling: tuple[float, float] | None) -> torch.Tensor:
        if sampling is None:
            return logits.argmax(dim=-1)
        probabilities, order = nucleus(logits, *sampling)
        cumulative = probabilities.cumsum(dim=-1)
        # One uniform draw per row from that row's own generator; the inverse CDF turns it into a
        # token (never one of zero probability: the search is for the first cdf above the draw).
        draws = torch.cat([torch.rand(1, generator=row.generator, device=logits.device) for row in rows])
        index = torch.searchsorted(cumulative, (draws * cumulative[:, -1]).unsqueeze(-1), right=True)
        return order.gather(-1, index.clamp(max=order.shape[-1] - 1)).squeeze(-1)

    def _admit(self, queue: deque, free: int):
        """Rows for up to `free` waiting samples (prompts in queue order), with their cache rows
        (left-padded to one length), attention mask and first logits."""
        chosen: list[tuple[_Prompt, list[int]]] = []
        while free and queue:
            prompt = queue[0]
            samples = [prompt.waiting.popleft() for _ in range(min(free, len(prompt.waiting)))]
            chosen.append((prompt, samples))
            free -= len(samples)
            if not prompt.waiting:
                queue.popleft()
        self._prefill([prompt for prompt, _ in chosen if prompt.keys_values is None])
        rows, blocks, lengths, logits = [], [], [], []
        for prompt, samples in chosen:
            for sample in samples:
                seed = prompt.request.seeds[sample]
                generator = None
                if seed is not None:
                    generator = torch.Generator(device=self.device).manual_seed(seed)
                rows.append(_Row(prompt.index, sample, generator))
            blocks.append((prompt.keys_values, len(samples)))
            lengths += [prompt.keys_values[0][0].shape[-2]] * len(samples)
            logits.append(prompt.logits.expand(len(samples), -1))
            if not prompt.waiting:  # every sample admitted: the prompt's row is no longer needed
                prompt.keys_values = prompt.logits = None
        width = max(lengths)
        layers = []
        for layer in range(len(blocks[0][0])):
            keys = torch.cat([_left_pad(block[layer][0], width).expand(count, -1, -1, -1) for block, count in blocks])
            values = torch.cat([_left_pad(block[layer][1], width).expand(count, -1, -1, -1) for block, count in blocks])
            layers.append((keys, values))
        mask = torch.zeros((len(rows), width), dtype=torch.long, device=self.device)
        for row, length in enumerate(lengths):
            mask[row, width - length:] = 1
        return rows, _cache(layers), mask, torch.cat(logits)

    def _prefill(self, prompts: list[_Prompt]) -> None:
        """One forward pass over `prompts` (left-padded): each keeps its own cache row and logits."""
        if not prompts:
            return
        width = max(len(prompt.request.ids) for prompt in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids = prompt.request.ids
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[row, width - len(ids):] = 1
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        inputs = {"input_ids": input_ids}
        if self.virtual_tokens:  # [virtual tokens | padding | prompt]: positions 0..V-1, then the prompt's
            embeddings = self.decoder.get_input_embeddings()(input_ids)
            virtual = self.model.get_prompt(batch_size=len(prompts)).to(embeddings.dtype)
            inputs = {"inputs_embeds": torch.cat([virtual, embeddings], dim=1)}
            mask = torch.cat([mask.new_ones((len(prompts), self.virtual_tokens)), mask], dim=1)
        from transformers import DynamicCache

        output = self.decoder(**inputs, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                              use_cache=True, logits_to_keep=1, **{self.cache_argument: DynamicCache()})
        cache = output[self.cache_argument]
        if type(cache) is not DynamicCache or not all(_is_full_attention(layer) for layer in cache.layers):
            raise NotImplementedError(f"the transformers backend decodes on a full-attention DynamicCache; this model "
                                      f"returned a {type(cache).__name__}. Fix: evaluate it with --backend vllm.")
        logits = output.logits[:, -1].float()
        valid = mask.bool()
        for row, prompt in enumerate(prompts):
            prompt.keys_values = [(layer.keys[row:row + 1, :, valid[row]], layer.values[row:row + 1, :, valid[row]])
                                  for layer in cache.layers]
            prompt.logits = logits[row:row + 1]

def cache_argument(model) -> str:
    """What the model's forward calls its KV cache: `cache` (transformers >= 5.x), else `past_key_values`.
    A peft wrapper passes keywords through to its base model, so the base model's forward decides."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _is_full_attention(layer) -> bool:
    from transformers.cache_utils import DynamicLayer

    return type(layer) is DynamicLayer


def _cache(layers: list[tuple[torch.Tensor, torch.Tensor]]):
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=layers)


def _left_pad(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Zero columns in front of a [rows, heads, length, dim] cache tensor, up to `width`."""
    missing = width - tensor.shape[-2]
    if missing <= 0:
        return tensor
    return torch.cat([tensor.new_zeros((*tensor.shape[:-2], missing, tensor.shape[-1])), tensor], dim=-2)


def _join(cache, mask: torch.Tensor, new_cache, new_mask: torch.Tensor):
    """The running rows followed by new ones, both left-padded to the longer length."""
    width = max(mask.shape[1], new_mask.shape[1])
    for layer, new_layer in zip(cache.layers, new_cache.layers):
        layer.keys = torch.cat([_left_pad(layer.keys, width), _left_pad(new_layer.keys, width)])
        layer.values = torch.cat([_left_pad(layer.values, width), _left_pad(new_layer.values, width)])
    mask = torch.cat([_left_pad_mask(mask, width), _left_pad_mask(new_mask, width)])
    return cache, mask


def _left_pad_mask(mask: torch.Tensor, width: int) -> torch.Tensor:
    missing = width - mask.shape[1]
    return mask if missing <= 0 else torch.cat([mask.new_zeros((mask.shape[0], missing)), mask], dim=1)


def _trim(cache, mask: torch.Tensor):
    """Drop leading columns that are padding in every row (their rows have left)."""
    used = mask.any(dim=0).nonzero()
    start = int(used[0]) if len(used) else mask.shape[1]
    if start == 0:
        return cache, mask
    for layer in cache.layers:
        layer.keys = layer.keys[:, :, start:]
        layer.values = layer.values[:, :, start:]
    return cache, mask[:, start:]
