"""An OpenAI-compatible `/v1/completions` endpoint as a backend (vLLM's server, TGI, llama.cpp's
server, or OpenAI itself): the GPU work happens elsewhere, astraios only sends prompts.

Plain completions (not chat): the prompts are already in the instruction format the study used.
Requests go out `concurrency` at a time, one per prompt with `n` samples (one per sample, with
its `seed`, when the evaluation gives per-sample seeds); rate limits (429),
server errors (5xx) and dropped connections are retried with exponential back-off. Stop sequences
are sent to the server and applied again to what comes back (vLLM, TGI and llama.cpp take any
number; OpenAI's own API takes four, and its error message then says so).

`loglikelihood` asks for the prompt's own token log-probabilities (`echo: true, logprobs: 0,
max_tokens: 0`), which vLLM's and llama.cpp's servers return; OpenAI's current models do not, and
the error then says to use the transformers or vLLM backend. Uses only the standard library.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from astraios.generate.base import StopWhen, cut_at_stop

BASE_URL_ENV = "OPENAI_BASE_URL"
API_KEY_ENV = "OPENAI_API_KEY"
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class EndpointError(RuntimeError):
    """The endpoint refused or failed a request in a way retrying does not fix."""


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, *, api_key: str | None = None,
                 concurrency: int = 8, timeout_s: float = 600.0, max_retries: int = 5, retry_wait_s: float = 1.0):
        base_url = base_url or os.environ.get(BASE_URL_ENV)
        if not base_url:
            raise ValueError(f"the openai backend needs the server's address: pass --base-url "
                             f"http://HOST:PORT/v1 or set {BASE_URL_ENV}.")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key or os.environ.get(API_KEY_ENV)
        self.concurrency = max(1, concurrency)
        self.rows_per_call = 4 * self.concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_wait_s = retry_wait_s

    def describe(self) -> dict:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url, "concurrency": self.concurrency}

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 0.2,
        top_p: float = 0.95,
        max_new_tokens: int = 512,
        stop: Sequence[str] = (),
        stop_when: StopWhen | None = None,  # noqa: ARG002 (a remote server cannot run it)
        seeds: Sequence[Sequence[int]] | None = None,
    ) -> list[list[str]]:
        greedy = temperature == 0
        stop = [sequence for sequence in stop if sequence]

        def one(prompt: str, count: int, seed: int | None = None) -> list[str]:
            payload = {"model": self.model, "prompt": prompt, "n": count, "temperature": temperature,
                       "top_p": 1.0 if greedy else top_p, "max_tokens": max_new_tokens}
            if stop:
                payload["stop"] = stop
            if seed is not None:
                payload["seed"] = seed
            choices = sorted(self._post("/completions", payload)["choices"], key=lambda c: c.get("index", 0))
            texts = [cut_at_stop(choice.get("text") or "", stop) for choice in choices]
            if len(texts) != count:
                raise EndpointError(f"{self.base_url}/completions returned {len(texts)} choices for n={count}")
            return texts

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            if greedy:
                return [texts * n for texts in pool.map(lambda prompt: one(prompt, 1), prompts)]
            if seeds is None:
                return list(pool.map(lambda prompt: one(prompt, n), prompts))
            # One request per sample with its own `seed` (servers that honour it, such as vLLM's,
            # then give the same sample on a rerun; prefix caching reads each prompt once).
            flat = list(pool.map(lambda job: one(*job)[0], [(prompt, 1, seed) for prompt, row in zip(prompts, seeds)
                                                            for seed in row]))
            return [flat[i * n:(i + 1) * n] for i in range(len(prompts))]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]:
        def one(request: tuple[str, str]) -> float:
            context, continuation = request
            payload = {"model": self.model, "prompt": context + continuation, "max_tokens": 0, "echo": True,
                       "logprobs": 0, "temperature": 0.0}
            try:
                choice = self._post("/completions", payload)["choices"][0]
            except EndpointError as error:
                raise NotImplementedError(
                    f"{self.base_url} did not return prompt log-probabilities (echo + logprobs): {error}. Fix: score "
                    f"with --backend transformers or --backend vllm, or use a server that supports echo (vLLM).") from None
            logprobs = choice.get("logprobs") or {}
            offsets, values = logprobs.get("text_offset"), logprobs.get("token_logprobs")
            if not offsets or values is None:
                raise NotImplementedError(f"{self.base_url} returned no token log-probabilities for an echoed "
                                          f"prompt. Fix: use --backend transformers or vllm for loglik scoring.")
            # Tokens that start inside the continuation; the first token of a prompt has no log-probability.
            return float(sum(value for offset, value in zip(offsets, values)
                             if offset >= len(context) and value is not None))

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(one, requests))

    def _post(self, path: str, payload: dict) -> dict:
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                body = error.read().decode(errors="replace")[:500]
                if error.code not in RETRY_STATUS or attempt == self.max_retries:
                    raise EndpointError(f"{self.base_url}{path} answered HTTP {error.code}: {body}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == self.max_retries:
                    raise EndpointError(f"cannot reach {self.base_url}{path} ({error}). Fix: check --base-url and "
                                        f"that the server is running.") from None
            time.sleep(self.retry_wait_s * 2**attempt)
            attempt += 1
