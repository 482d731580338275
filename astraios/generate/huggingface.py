"""The transformers backend: generation and log-likelihoods with a local model.

Generation runs through `decoding.ContinuousDecoder`: prompts are read once (one prefill per
prompt, its KV cache row copied for its n samples), rows (prompt x sample) join and leave a batch
of `batch_size` rows as they finish, stop sequences and the task's `stop_when` end a row the step
they appear, and every sample draws from a generator of its own (`seeds`), so it is reproducible
whatever shared its batch. Prompts are taken longest first, so rows decoded together have
similar lengths. Temperature 0 is greedy decoding, run once per prompt.

Adapters that change weights (LoRA and its variants, VeRA, LoHa, LoKr, (IA)3) are merged into the
base weights (`merge_and_unload`), so generation runs at the base model's speed; methods that cannot be merged (P-Tuning's virtual tokens,
non-linear bottleneck adapters) run un-merged, and the results say which happened and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from astraios.core.noise import silenced
from astraios.generate.base import DTYPES, StopWhen
from astraios.generate.batch_size import AUTO, DEFAULT_BATCH_SIZE, auto_batch_size, parse_batch_size, probe_length
from astraios.generate.decoding import ContinuousDecoder, DecodeRequest
from astraios.generate.source import ModelSource

log = logging.getLogger(__name__)


class TransformersBackend:
    name = "transformers"

    def __init__(self, model, tokenizer, *, batch_size: int | str = 16, info: dict | None = None,
                 announce: Callable[[str], None] = print):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = parse_batch_size(batch_size)  # rows decoded at once, or `auto` (batch_size.py)
        self.auto_sizes: dict[int, int] = {}  # under `auto`: probe length -> the rows that fit
        self.announce = announce
        # `auto` is for generation; log-likelihoods (one forward pass per batch) take this many pairs.
        self.pairs_per_batch = DEFAULT_BATCH_SIZE if self.batch_size == AUTO else self.batch_size
        # For callers without generate_stream: calls end when their last row does (large ones keep
        # the batch full), and each call's output is cached before the next.
        self.rows_per_call = 8 * self.pairs_per_batch
        self.info = dict(info or {})
        self.truncated_prompts = 0
        # peft ignores position ids for prompt learning, so left padding would shift positions:
        # log-likelihoods of prompt-learning models go pair by pair (generation feeds the virtual
        # tokens itself, see decoding).
        self.prompt_learning = is_prompt_learning(model)
        from astraios.models import context_length

        window = context_length(getattr(model, "config", None)) or getattr(tokenizer, "model_max_length", 2048)
        self.context = window - virtual_tokens(model)  # prompt learning's virtual tokens come before every input
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.decoder = ContinuousDecoder(self.model, tokenizer, self.pairs_per_batch, virtual_tokens(model))

    @classmethod
    def load(cls, source: ModelSource, *, batch_size: int | str = 16, dtype: str = "auto", device: str = "auto",
             announce: Callable[[str], None] = print):
        model, tokenizer, info = load_model_for_inference(source, dtype=dtype, device=device)
        return cls(model, tokenizer, batch_size=batch_size, info=info, announce=announce)

    @property
    def device(self):
        return next(self.model.parameters()).device

    def describe(self) -> dict:
        auto = {"auto_batch_sizes": {str(length): rows for length, rows in self.auto_sizes.items()}} if self.auto_sizes else {}
        return {"backend": self.name, "batch_size": self.batch_size, **auto, "truncated_prompts": self.truncated_prompts,
                **self.info}

    # ------------------------------------------------------------------------------------------
    # Generation

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 0.2,
        top_p: float = 0.95,
        max_new_tokens: int = 512,
        stop: Sequence[str] = (),
        stop_when: StopWhen | None = None,
        seeds: Sequence[Sequence[int]] | None = None,
    ) -> list[list[str]]:
        outputs: list[list[str]] = [[] for _ in prompts]
        for index, texts in self.generate_stream(prompts, n, temperature, top_p, max_new_tokens, stop, stop_when, seeds):
            outputs[index] = texts
        return outputs

    def generate_stream(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 0.2,
        top_p: float = 0.95,
        max_new_tokens: int = 512,
        stop: Sequence[str] = (),
        stop_when: StopWhen | None = None,
        seeds: Sequence[Sequence[int]] | None = None,
    ) -> Iterator[tuple[int, list[str]]]:
        """`generate`, as (prompt index, its n completions) pairs, each as soon as that prompt's
        samples are all done (the cache stores them while the rest decode)."""
        import torch

        greedy = temperature == 0
        if max_new_tokens >= self.context:
            raise ValueError(f"--max-new-tokens {max_new_tokens} leaves no room for the prompt in this model's "
                             f"{self.context}-token context. Fix: use a smaller --max-new-tokens.")
        if seeds is None:  # from torch's generator: torch.manual_seed makes a call reproducible
            seeds = torch.randint(0, 2**62, (len(prompts), n)).tolist()
        elif len(seeds) != len(prompts) or any(len(row) != n for row in seeds):
            raise ValueError(f"seeds: expected {len(prompts)} lists of {n} seeds (one per prompt and sample)")
        encoded = [self._encode_prompt(prompt, max_new_tokens) for prompt in prompts]
        if self.batch_size == AUTO and encoded:
            self.decoder.batch_size = self._auto_batch_size(max(map(len, encoded)), max_new_tokens)
        order = sorted(range(len(prompts)), key=lambda index: (-len(encoded[index]), index))
        requests = [DecodeRequest(encoded[index], [None] if greedy else list(seeds[index])) for index in order]
        for position, texts in self.decoder.stream(
            requests, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, stop=stop,
            stop_when=(lambda row, text: stop_when(order[row], text)) if stop_when else None,
        ):
            yield order[position], texts * n if greedy else texts

    def _auto_batch_size(self, longest_prompt: int, max_new_tokens: int) -> int:
        virtual = self.decoder.virtual_tokens
        length = probe_length(longest_prompt + virtual, max_new_tokens, self.context + virtual)
        if length not in self.auto_sizes:
            self.auto_sizes[length] = auto_batch_size(self.decoder.decoder, length, self.announce)
        return self.auto_sizes[length]

    def _encode_prompt(self, prompt: str, max_new_tokens: int) -> list[int]:
        ids = self.tokenizer(prompt)["input_ids"]
        room = self.context - max_new_tokens
        if len(ids) > room:  # keep the end of the prompt: that is where the model continues
            self.truncated_prompts += 1
            ids = ids[len(ids) - room:]
        return ids

    # ------------------------------------------------------------------------------------------
    # Log-likelihood

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        """Sum of log p(continuation tokens | context), one right-padded forward pass per batch.

        The pair is tokenised as a whole and split where the context's own tokens end, so a token
        that spans the boundary is not split differently from how the model saw such text; when the
        tokeniser merges across the boundary, the two parts are tokenised separately instead.
        Contexts longer than the model's window lose their beginning.
        """
        import torch

        pairs = [self._encode_pair(context, continuation) for context, continuation in requests]
        order = sorted(range(len(pairs)), key=lambda i: -(len(pairs[i][0]) + len(pairs[i][1])))
        scores = [0.0] * len(pairs)
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), self.pairs_per_batch):
            batch = [i for i in order[start:start + self.pairs_per_batch] if pairs[i][1]]
            if not batch:
                continue
            sequences = []
            for i in batch:
                context, continuation = pairs[i]
                sequence = (context + continuation)[-(self.context + 1):]
                sequences.append((sequence[:-1], min(len(continuation), len(sequence) - 1)))
            width = max(len(inputs) for inputs, _ in sequences)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (inputs, _) in enumerate(sequences):
                input_ids[row, :len(inputs)] = torch.tensor(inputs, dtype=torch.long)
                attention_mask[row, :len(inputs)] = 1
            with torch.inference_mode(), silenced("peft_position_ids"):
                logits = self.model(input_ids=input_ids.to(self.device),
                                    attention_mask=attention_mask.to(self.device)).logits.float()
            logits = logits[:, -width:]  # prompt learning prepends virtual-token positions
            log_probs = torch.log_softmax(logits, dim=-1).cpu()
            for row, i in enumerate(batch):
                inputs, count = sequences[row]
                targets = torch.tensor(pairs[i][1][-count:], dtype=torch.long)
                positions = torch.arange(len(inputs) - count, len(inputs))
                scores[i] = float(log_probs[row, positions, targets].sum())
        return scores

    def loglikelihood_choices(self, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        """For each (context, continuations): log p(continuation | context) of every continuation,
        reading the context once.

        One forward pass over the left-padded contexts gives every continuation's first token, all
        that one-token answers need; continuations of more tokens are finished by a short second
        pass over their other tokens on the first pass's KV cache. Prompt learning goes pair by pair
        (its virtual tokens ignore the position ids that left padding relies on).
        """
        import torch

        from astraios.generate.base import loglikelihood_pairwise

        if self.prompt_learning:
            return loglikelihood_pairwise(self, requests)
        encoded = []
        for context, continuations in requests:
            context_ids, choices = self._encode_choices(context, continuations)
            room = self.context - max((len(ids) for ids in choices), default=0)
            encoded.append((context_ids[-room:] if choices else [], choices))
        scores = [[0.0] * len(choices) for _, choices in encoded]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
        pad = self.tokenizer.pad_token_id
        for start in range(0, len(order), self.pairs_per_batch):
            batch = [i for i in order[start:start + self.pairs_per_batch] if encoded[i][1]]
            if not batch:
                continue
            width = max(len(encoded[i][0]) for i in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):  # left padding: every context ends in the last column
                input_ids[row, width - len(encoded[i][0]):] = torch.tensor(encoded[i][0], dtype=torch.long)
                attention_mask[row, width - len(encoded[i][0]):] = 1
            longer = [(row, i, c) for row, i in enumerate(batch) for c, ids in enumerate(encoded[i][1]) if len(ids) > 1]
            with torch.inference_mode():
                output = self.model(input_ids=input_ids.to(self.device), attention_mask=attention_mask.to(self.device),
                                    position_ids=(attention_mask.cumsum(-1) - 1).clamp(min=0).to(self.device),
                                    use_cache=bool(longer), logits_to_keep=1)
                first = torch.log_softmax(output.logits[:, -1].float(), dim=-1).cpu()
                for row, i in enumerate(batch):
                    for c, ids in enumerate(encoded[i][1]):
                        scores[i][c] = float(first[row, ids[0]]) if ids else 0.0
                if longer:
                    self._finish_choices(output, attention_mask, encoded, longer, scores)
        return scores

    def _finish_choices(self, output, attention_mask, encoded, longer, scores) -> None:
        """Add the log-probabilities of the second and later tokens of multi-token continuations,
        one row per (context, continuation) on a copy of that context's cached keys and values."""
        import torch

        steps = max(len(encoded[i][1][c]) - 1 for _, i, c in longer)
        rows = torch.tensor([row for row, _, _ in longer], dtype=torch.long)
        input_ids = torch.full((len(longer), steps), self.tokenizer.pad_token_id, dtype=torch.long)
        step_mask = torch.zeros((len(longer), steps), dtype=torch.long)
        for r, (_, i, c) in enumerate(longer):
            ids = encoded[i][1][c][:-1]
            input_ids[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            step_mask[r, :len(ids)] = 1
        cache_name = self.decoder.cache_argument
        cache = output[cache_name]
        cache.reorder_cache(rows.to(self.device))  # one cache row per continuation (rows repeat)
        lengths = attention_mask.sum(-1)[rows]
        logits = self.model(input_ids=input_ids.to(self.device),
                            attention_mask=torch.cat([attention_mask[rows], step_mask], dim=-1).to(self.device),
                            position_ids=(lengths[:, None] + torch.arange(steps)).to(self.device),
                            use_cache=False, **{cache_name: cache}).logits
        log_probs = torch.log_softmax(logits.float(), dim=-1).cpu()
        for r, (_, i, c) in enumerate(longer):
            ids = encoded[i][1][c]
            scores[i][c] += float(log_probs[r, torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum())

    def _encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        context_ids, (continuation_ids,) = self._encode_choices(context, [continuation])
        return context_ids, continuation_ids

    def _encode_choices(self, context: str, continuations: Sequence[str]) -> tuple[list[int], list[list[int]]]:
        # The context is tokenised once for all its continuations (long code contexts dominate the cost).
        context_ids = self.tokenizer(context)["input_ids"] if context else []
        choices = []
        for continuation in continuations:
            whole = self.tokenizer(context + continuation)["input_ids"]
            if whole[:len(context_ids)] == context_ids and len(whole) > len(context_ids):
                choices.append(whole[len(context_ids):])
            else:
                choices.append(self.tokenizer(continuation, add_special_tokens=False)["input_ids"])
        if not context_ids:  # the first continuation token needs something to be predicted from
            context_ids = [self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None
                           else self.tokenizer.eos_token_id]
        return context_ids, choices


# ----------------------------------------------------------------------------------------------
# Loading


def resolve_torch_dtype(setting: str):
    from astraios.models import resolve_dtype

    if setting not in DTYPES:
        raise ValueError(f"--dtype {setting}: expected one of {', '.join(DTYPES)}")
    return resolve_dtype(setting, parameter_efficient=True)


def resolve_device(setting: str):
    import torch

    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {setting}: no CUDA GPU is visible. Fix: use --device cpu or auto.")
    return torch.device(setting)


def load_model_for_inference(source: ModelSource, *, dtype: str = "auto", device: str = "auto"):
    """The base model with its adapter (merged where the method allows), its tokenizer, and a
    description of what was loaded."""
    from astraios import methods
    from astraios.generate.source import is_method_dir
    from astraios.models import load_model, load_tokenizer

    torch_dtype = resolve_torch_dtype(dtype)
    target = resolve_device(device)
    base = load_model(source.model, dtype=torch_dtype, revision=source.revision,
                      trust_remote_code=source.trust_remote_code)
    tokenizer = _tokenizer(source, load_tokenizer)
    info = {**source.describe(), "dtype": str(torch_dtype).removeprefix("torch."), "device": str(target),
            "adapter_merged": None}
    model = base
    if source.adapter is not None:
        from pathlib import Path

        if is_method_dir(Path(source.adapter)):
            model = methods.load_trained(base, source.adapter)
        else:
            import peft

            from astraios.core.hub import hub_errors

            with (hub_errors("adapter", source.adapter, "pass a run's final/ directory (e.g. runs/my-run/final)"),
                  silenced("peft_checkpointing")):
                model = peft.PeftModel.from_pretrained(base, source.adapter, revision=source.revision,
                                                       is_trainable=False)
        model, merged, reason = merge_adapter(model)
        info.update(adapter_merged=merged, adapter_merge_note=reason)
        log.info("adapter %s: %s", source.adapter, reason)
    model.to(target)
    return model, tokenizer, info


def _tokenizer(source: ModelSource, load_tokenizer):
    """The tokenizer saved with the adapter/fine-tuned model (training writes it there), else the base's."""
    from pathlib import Path

    for directory in (source.adapter, source.model):
        if directory and (Path(directory) / "tokenizer_config.json").is_file():
            tokenizer = load_tokenizer(directory)
            break
    else:
        tokenizer = load_tokenizer(source.model, revision=source.revision, trust_remote_code=source.trust_remote_code)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def is_prompt_learning(model) -> bool:
    peft_config = getattr(model, "peft_config", None)
    if not isinstance(peft_config, dict) or not peft_config:
        return False
    return bool(getattr(next(iter(peft_config.values())), "is_prompt_learning", False))


def virtual_tokens(model) -> int:
    """How many positions prompt learning prepends to every input (0 for other models)."""
    if not is_prompt_learning(model):
        return 0
    return int(getattr(next(iter(model.peft_config.values())), "num_virtual_tokens", 0) or 0)


def merge_adapter(model):
    """Fold the adapter into the base weights when the method is linear; else keep it as is.

    Returns (model, merged, reason). Only the documented "cannot merge" cases fall back: prompt
    learning (virtual tokens are not weights) and adapters whose merge raises NotImplementedError
    or ValueError (non-linear bottlenecks); any other error propagates.
    """
    if is_prompt_learning(model):
        peft_type = next(iter(model.peft_config.values())).peft_type
        return model, False, f"{peft_type} adds virtual tokens, which cannot be merged; running un-merged"
    if not hasattr(model, "merge_and_unload"):
        return model, False, "the method has no merge; running un-merged"
    try:
        merged = model.merge_and_unload()
    except (NotImplementedError, ValueError) as error:
        return model, False, f"the method cannot be merged ({error}); running un-merged"
    return merged, True, "merged into the base weights"
