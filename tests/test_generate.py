"""Generation backends: the transformers backend on tiny models (batching, sampling, stops,
log-likelihoods, adapters), the OpenAI backend against a local fake server, model resolution,
the generation cache, and vLLM when a GPU and vLLM are present."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from astraios import methods
from astraios.generate import GenerationCache, Request, Sampling, cached_generate, cut_at_stop, resolve
from astraios.generate.decoding import nucleus
from astraios.generate.huggingface import TransformersBackend, load_model_for_inference, merge_adapter
from astraios.generate.openai_api import EndpointError, OpenAIBackend
from astraios.models import load_model, load_tokenizer
from conftest import float32_approx
from saved_methods import fake_run_dir, lively, save_method

PROMPTS = [
    "def add(a, b):",
    "Question: Write a function that reverses a list.\n\nAnswer:\ndef reverse(items):\n    return",
    "x = 1",
    "import os\nimport sys\n\nclass Config:\n    def __init__(self):",
    "Question: Fix bugs in f.\n\nAnswer:\n",
]


def backend_for(name: str, batch_size: int) -> TransformersBackend:
    tokenizer = load_tokenizer(name)
    tokenizer.padding_side = "left"
    return TransformersBackend(lively(name), tokenizer, batch_size=batch_size)


@pytest.mark.parametrize("name", ["tiny-gptbigcode-s", "tiny-llama-s"])
def test_greedy_batched_equals_one_at_a_time(name):
    batched = backend_for(name, batch_size=8).generate(PROMPTS, n=1, temperature=0, max_new_tokens=24)
    single = backend_for(name, batch_size=1).generate(PROMPTS, n=1, temperature=0, max_new_tokens=24)
    assert batched == single
    assert len({texts[0] for texts in batched}) == len(PROMPTS)  # the outputs really differ


def test_greedy_repeats_one_completion_for_n():
    backend = backend_for("tiny-gptbigcode-xs", batch_size=4)
    outputs = backend.generate(PROMPTS[:2], n=3, temperature=0, max_new_tokens=8)
    assert [len(texts) for texts in outputs] == [3, 3]
    assert all(len(set(texts)) == 1 for texts in outputs)


@pytest.mark.parametrize("n, batch_size", [(4, 4), (3, 4), (5, 2)])
def test_sampling_returns_n_samples_per_prompt(n, batch_size):
    backend = backend_for("tiny-gptbigcode-s", batch_size=batch_size)
    torch.manual_seed(0)
    outputs = backend.generate(PROMPTS[:3], n=n, temperature=1.0, top_p=0.95, max_new_tokens=12)
    assert [len(texts) for texts in outputs] == [n] * 3
    assert len({text for texts in outputs for text in texts}) > 3  # samples differ


@pytest.mark.parametrize("temperature, top_p", [(0.2, 0.95), (0.8, 0.5), (1.0, 0.999), (0.5, 1.0)])
def test_nucleus_is_transformers_temperature_and_top_p(temperature, top_p):
    from transformers import TemperatureLogitsWarper, TopPLogitsWarper

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 2048, generator=generator)
    logits[::2] *= 30  # peaked rows take the fast path, flat rows the full sort
    expected = TemperatureLogitsWarper(temperature)(None, logits)
    if top_p < 1.0:
        expected = TopPLogitsWarper(top_p)(None, expected)
    expected = expected.softmax(dim=-1)
    kept, order = nucleus(logits, temperature, top_p)
    ours = torch.zeros_like(logits).scatter_add(-1, order, kept)
    ours = ours / ours.sum(dim=-1, keepdim=True)
    assert torch.equal(ours > 0, expected > 0)
    assert torch.allclose(ours, expected, atol=1e-6)
    for row in (2, 3):  # a row's nucleus does not depend on its batch (peaked and flat rows)
        alone_kept, alone_order = nucleus(logits[row:row + 1], temperature, top_p)
        width = alone_kept.shape[-1]
        assert torch.equal(alone_kept, kept[row:row + 1, :width]) and torch.equal(alone_order, order[row:row + 1, :width])


def test_stop_sequences_cut_and_end_decoding_early():
    backend = backend_for("tiny-gptbigcode-s", batch_size=4)
    free = backend.generate(PROMPTS[:1], temperature=0, max_new_tokens=40)[0][0]
    stop = free[10:13]
    assert stop and stop in free
    stopped = backend.generate(PROMPTS[:1], temperature=0, max_new_tokens=40, stop=[stop])[0][0]
    assert stopped == cut_at_stop(free, [stop]) == free[:free.find(stop)]

    seen = []

    def stop_when(index, text):
        seen.append(index)
        return len(text) >= 5

    early = backend.generate(PROMPTS[:2], temperature=0, max_new_tokens=40, stop_when=stop_when)
    full = backend.generate(PROMPTS[:2], temperature=0, max_new_tokens=40)
    for short, long in zip(early, full):
        assert long[0].startswith(short[0]) and 5 <= len(short[0]) < len(long[0])
    assert set(seen) == {0, 1}


def test_prompt_longer_than_the_context_keeps_its_end():
    backend = backend_for("tiny-gptbigcode-xs", batch_size=2)
    backend.context = 64
    outputs = backend.generate(["word " * 200], temperature=0, max_new_tokens=8)
    assert len(outputs[0]) == 1 and backend.truncated_prompts == 1
    with pytest.raises(ValueError, match="max-new-tokens"):
        backend.generate(["x"], max_new_tokens=64)


def test_loglikelihood_batched_matches_manual_forward_passes():
    backend = backend_for("tiny-gptbigcode-s", batch_size=3)
    requests = [("Is there a defect? Answer:", " YES"), ("Is there a defect? Answer:", " NO"),
                ("def f(x):\n    return", " x + 1"), ("", "hello world"), ("short", "")]
    scores = backend.loglikelihood(requests)
    one_by_one = [TransformersBackend(backend.model, backend.tokenizer, batch_size=1).loglikelihood([r])[0]
                  for r in requests]
    assert scores == float32_approx(one_by_one)
    assert scores[4] == 0.0
    tokenizer = backend.tokenizer
    for (context, continuation), score in zip(requests[:3], scores):
        context_ids = tokenizer(context)["input_ids"]
        ids = tokenizer(context + continuation)["input_ids"]
        with torch.no_grad():
            log_probs = torch.log_softmax(backend.model(torch.tensor([ids])).logits[0].float(), dim=-1)
        manual = sum(float(log_probs[position - 1, ids[position]]) for position in range(len(context_ids), len(ids)))
        assert score == float32_approx(manual)
    assert all(score < 0 for score in scores[:4])


# ----------------------------------------------------------------------------------------------
# Model resolution and adapters


def test_run_directory_resolves_to_base_plus_adapter(tmp_path):
    run = fake_run_dir(tmp_path / "run", "lora")
    source = resolve(str(run))
    assert source.model == "tiny-gptbigcode-xs" and source.adapter == str(run / "final") and source.method == "lora"
    assert source.fingerprint and resolve("tiny-gptbigcode-xs", str(run)).fingerprint == source.fingerprint
    assert resolve(str(run / "final")).adapter == str(run / "final")
    with pytest.raises(ValueError, match="drop --adapter"):
        resolve(str(run), str(run))
    with pytest.raises(ValueError, match="not a directory saved by astraios"):
        resolve("tiny-gptbigcode-xs", str(tmp_path))


def test_full_fine_tuning_directory_is_loaded_as_the_model(tmp_path):
    run = fake_run_dir(tmp_path / "run", "full")
    source = resolve(str(run))
    assert source.model == str(run / "final") and source.adapter is None and source.method == "full"
    model, _, info = load_model_for_inference(source, dtype="float32", device="cpu")
    base = load_model("tiny-gptbigcode-xs")
    assert torch.equal(model.transformer.wte.weight, base.transformer.wte.weight)
    assert info["method"] == "full"


@pytest.mark.parametrize("method, merged", [("lora", True), ("ia3", True), ("ptuning", False), ("adapterp", False)])
def test_adapters_merge_where_the_method_allows(tmp_path, method, merged):
    directory = save_method(tmp_path / method, method)
    source = resolve("tiny-gptbigcode-xs", str(directory))
    _, tokenizer, info = load_model_for_inference(source, dtype="float32", device="cpu")
    assert info["adapter_merged"] is merged, info["adapter_merge_note"]
    unmerged = methods.load_trained(lively("tiny-gptbigcode-xs"), directory)
    reference = TransformersBackend(unmerged, tokenizer, batch_size=1).generate(PROMPTS, temperature=0,
                                                                                max_new_tokens=8)
    model, was_merged, _ = merge_adapter(methods.load_trained(lively("tiny-gptbigcode-xs"), directory))
    assert was_merged is merged
    backend = TransformersBackend(model, tokenizer, batch_size=4)
    assert backend.generate(PROMPTS, temperature=0, max_new_tokens=8) == reference  # merged or not, batched or not
    one_at_a_time = TransformersBackend(model, tokenizer, batch_size=1)
    requests = [("def f(x):\n    return", " x + 1"), ("Answer:", " YES"), ("a", "bc d")]
    assert backend.loglikelihood(requests) == float32_approx(one_at_a_time.loglikelihood(requests))
    bare = TransformersBackend(lively("tiny-gptbigcode-xs"), tokenizer, batch_size=1)
    assert bare.generate(PROMPTS, temperature=0, max_new_tokens=8) != reference  # the adapter matters


# ----------------------------------------------------------------------------------------------
# OpenAI-compatible endpoint


class FakeCompletions(BaseHTTPRequestHandler):
    """A minimal `/v1/completions`: samples are numbered strings with a stop word inside; echo
    requests get one token per character with log-probability -0.5 (or 400 when unsupported)."""

    server_version = "fake-openai"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server = self.server
        server.requests.append(payload)
        if server.fail_first and len(server.requests) == 1:
            return self._send(503, {"error": "warming up"})
        if payload.get("echo"):
            if not server.echo:
                return self._send(400, {"error": "echo is not supported"})
            text = payload["prompt"]
            logprobs = {"tokens": list(text), "text_offset": list(range(len(text))),
                        "token_logprobs": [None] + [-0.5] * (len(text) - 1)}
            return self._send(200, {"choices": [{"index": 0, "text": text, "logprobs": logprobs}]})
        choices = [{"index": i, "text": f" sample {i} of {payload['prompt'][-3:]}\nSTOP more"}
                   for i in range(payload["n"])]
        return self._send(200, {"choices": choices[::-1]})

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCompletions)
    server.requests, server.fail_first, server.echo = [], False, True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_openai_backend_generates_through_the_endpoint(fake_server):
    fake_server.fail_first = True  # a 503 is retried
    url = f"http://127.0.0.1:{fake_server.server_address[1]}/v1"
    backend = OpenAIBackend("served-model", url, concurrency=2, retry_wait_s=0.01)
    outputs = backend.generate(["abc", "xyz"], n=3, temperature=0.2, top_p=0.9, max_new_tokens=16, stop=["\nSTOP"])
    assert outputs == [[f" sample {i} of abc" for i in range(3)], [f" sample {i} of xyz" for i in range(3)]]
    sent = fake_server.requests[-1]
    assert sent["model"] == "served-model" and sent["n"] == 3 and sent["max_tokens"] == 16
    assert sent["stop"] == ["\nSTOP"] and sent["top_p"] == 0.9
    greedy = backend.generate(["abc"], n=4, temperature=0)
    assert greedy == [[" sample 0 of abc\nSTOP more"] * 4] and fake_server.requests[-1]["n"] == 1
    before = len(fake_server.requests)
    seeded = backend.generate(["abc", "xyz"], n=2, temperature=0.2, seeds=[[11, 12], [13, 14]])
    sent = fake_server.requests[before:]
    assert sorted(request["seed"] for request in sent) == [11, 12, 13, 14] and all(r["n"] == 1 for r in sent)
    assert seeded == [[" sample 0 of abc\nSTOP more"] * 2, [" sample 0 of xyz\nSTOP more"] * 2]


def test_openai_backend_loglikelihood_by_echo(fake_server):
    url = f"http://127.0.0.1:{fake_server.server_address[1]}/v1"
    backend = OpenAIBackend("served-model", url)
    assert backend.loglikelihood([("Answer:", " YES"), ("Q", "ab")]) == [pytest.approx(-2.0), pytest.approx(-1.0)]
    fake_server.echo = False
    with pytest.raises(NotImplementedError, match="--backend transformers"):
        backend.loglikelihood([("Answer:", " YES")])


def test_openai_backend_errors_are_clear(fake_server):
    with pytest.raises(ValueError, match="--base-url"):
        OpenAIBackend("m", None)
    backend = OpenAIBackend("m", "http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(EndpointError, match="cannot reach"):
        backend.generate(["x"])


# ----------------------------------------------------------------------------------------------
# Cache


class CountingBackend:
    """Returns `text-<prompt>-<k>` and counts rows; can fail after a number of calls."""

    name = "counting"
    rows_per_call = 4

    def __init__(self, fail_after: int | None = None):
        self.rows = 0
        self.calls = 0
        self.fail_after = fail_after
        self.seeds = []

    def generate(self, prompts, n=1, temperature=0.2, top_p=0.95, max_new_tokens=512, stop=(), stop_when=None, seeds=None):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # an interruption, mid-run
        self.calls += 1
        self.rows += len(prompts) * n
        self.seeds.append(seeds)
        return [[f"text-{prompt}-{self.rows}-{k}" for k in range(n)] for prompt in prompts]

    def loglikelihood(self, requests):
        raise NotImplementedError

    def describe(self):
        return {"backend": self.name}


def requests_for(documents: int, samples: int) -> list[Request]:
    return [Request(d, f"doc{d}", f"prompt {d}", s) for d in range(documents) for s in range(samples)]


def test_cache_resumes_an_interrupted_run_without_regenerating(tmp_path):
    sampling = Sampling(n=5)
    requests = requests_for(6, 5)
    interrupted = CountingBackend(fail_after=3)
    with pytest.raises(KeyboardInterrupt):
        cached_generate(interrupted, GenerationCache(tmp_path, {"model": "m"}), "task", requests, sampling, ["\n"])
    assert interrupted.rows == 15  # three calls of one prompt x 5 samples finished before the interruption
    resumed = CountingBackend()
    first = cached_generate(resumed, GenerationCache(tmp_path, {"model": "m"}), "task", requests, sampling, ["\n"])
    assert resumed.rows == 15 and len(first) == 30
    again = CountingBackend()
    second = cached_generate(again, GenerationCache(tmp_path, {"model": "m"}), "task", requests, sampling, ["\n"])
    assert again.rows == 0 and second == first


class StreamingBackend(CountingBackend):
    """Streams prompt by prompt; can be killed after a number of prompts."""

    def __init__(self, fail_after_prompts=None):
        super().__init__()
        self.fail_after_prompts = fail_after_prompts
        self.calls_prompts = []

    def generate_stream(self, prompts, n=1, **settings):
        self.calls_prompts.append(len(prompts))
        for index, texts in enumerate(self.generate(prompts, n, **settings)):
            if self.fail_after_prompts is not None and index == self.fail_after_prompts:
                raise KeyboardInterrupt
            yield index, texts


def test_a_streaming_backend_gets_every_prompt_at_once_and_each_is_cached_when_done(tmp_path):
    requests = requests_for(10, 3)
    killed = StreamingBackend(fail_after_prompts=4)
    with pytest.raises(KeyboardInterrupt):
        cached_generate(killed, GenerationCache(tmp_path, {"model": "m"}), "task", requests, Sampling(n=3), [])
    assert killed.calls_prompts == [10]  # one call: the batch refills from the whole queue
    resumed = StreamingBackend()
    cached_generate(resumed, GenerationCache(tmp_path, {"model": "m"}), "task", requests, Sampling(n=3), [])
    assert resumed.calls_prompts == [6]  # the four prompts done before the kill were cached


def test_cache_gives_each_sample_a_seed_of_its_own(tmp_path):
    """Seeds depend on (evaluation seed, task, document, sample index) only, not on the call."""
    from astraios.generate.base import sample_seed

    backend = CountingBackend()
    cached_generate(backend, GenerationCache(tmp_path, {"model": "m"}), "task", requests_for(3, 2), Sampling(n=2, seed=5), [])
    assert [seed for call in backend.seeds for row in call for seed in row] == [
        sample_seed(5, "task", f"doc{d}", s) for d in range(3) for s in range(2)]
    assert len({seed for call in backend.seeds for row in call for seed in row}) == 6
    assert sample_seed(5, "task", "doc0", 0) != sample_seed(6, "task", "doc0", 0) != sample_seed(5, "other", "doc0", 0)
    cached_generate(backend, GenerationCache(tmp_path, {"model": "m"}), "task", requests_for(3, 2), Sampling(n=2, seed=6), [])
    assert backend.rows == 12  # another seed is another sample: not served from the cache


def test_cache_key_separates_models_settings_and_reuses_samples(tmp_path):
    requests = requests_for(2, 3)
    backend = CountingBackend()
    cached_generate(backend, GenerationCache(tmp_path, {"model": "m"}), "task", requests, Sampling(n=3), [])
    assert backend.rows == 6
    cached_generate(backend, GenerationCache(tmp_path, {"model": "other"}), "task", requests, Sampling(n=3), [])
    assert backend.rows == 12
    cached_generate(backend, GenerationCache(tmp_path, {"model": "m"}), "task", requests, Sampling(n=3, temperature=0.8), [])
    assert backend.rows == 18
    more = requests_for(2, 5)  # two more samples per document: only those are generated
    cached_generate(backend, GenerationCache(tmp_path, {"model": "m"}), "task", more, Sampling(n=5), [])
    assert backend.rows == 22


def test_cache_survives_a_torn_last_line(tmp_path):
    cache = GenerationCache(tmp_path, {"model": "m"})
    backend = CountingBackend()
    cached_generate(backend, cache, "task", requests_for(1, 2), Sampling(n=2), [])
    with open(cache.path("task"), "a") as handle:
        handle.write('{"key": "torn')
    fresh = CountingBackend()
    cached_generate(fresh, GenerationCache(tmp_path, {"model": "m"}), "task", requests_for(1, 2), Sampling(n=2), [])
    assert fresh.rows == 0


# ----------------------------------------------------------------------------------------------
# vLLM (GPU only)


def _vllm_available() -> bool:
    import importlib.util

    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


@pytest.mark.gpu
@pytest.mark.skipif(not _vllm_available(), reason="needs a CUDA GPU and vLLM (pip install 'astraios[vllm]')")
def test_vllm_backend_generates_and_scores(tmp_path):
    from astraios.generate.vllm_offline import VLLMBackend

    model_dir = tmp_path / "model"
    load_model("tiny-llama-s").save_pretrained(str(model_dir))
    load_tokenizer("tiny-llama-s").save_pretrained(str(model_dir))
    backend = VLLMBackend(resolve(str(model_dir)), dtype="float32", gpu_memory_utilization=0.3)
    outputs = backend.generate(PROMPTS[:2], n=3, temperature=0.8, max_new_tokens=8)
    assert [len(texts) for texts in outputs] == [3, 3]
    scores = backend.loglikelihood([("Answer:", " YES"), ("Answer:", " NO")])
    assert len(scores) == 2 and all(score < 0 for score in scores)


def test_prompt_learning_generation_sees_its_virtual_tokens_once(tmp_path):
    """Greedy generation of a P-Tuning model equals recomputing the whole sequence each step, also
    past the point where re-prepended virtual tokens would run the positions out of the context."""
    directory = save_method(tmp_path / "ptuning", "ptuning")
    model = methods.load_trained(lively("tiny-gptbigcode-xs"), directory)
    tokenizer = load_tokenizer("tiny-gptbigcode-xs")
    backend = TransformersBackend(model, tokenizer, batch_size=1)
    new_tokens = 80  # 80 steps x (1 + 30 virtual tokens) would pass the 2,048-token context
    text = backend.generate(PROMPTS[:1], temperature=0, max_new_tokens=new_tokens)[0][0]
    sequence = torch.tensor([tokenizer(PROMPTS[0])["input_ids"]])
    with torch.inference_mode():
        for _ in range(new_tokens):
            logits = model(input_ids=sequence, attention_mask=torch.ones_like(sequence)).logits
            sequence = torch.cat([sequence, logits[:, -1:].argmax(-1)], dim=1)
    reference = tokenizer.decode(sequence[0, -new_tokens:], skip_special_tokens=True)
    assert text == reference[:len(text)] and len(text) > 0


def test_prompt_learning_inputs_leave_room_for_the_virtual_tokens(tmp_path):
    """A context as long as the model's window still fits once P-Tuning's virtual tokens are in front."""
    directory = save_method(tmp_path / "ptuning", "ptuning")
    model = methods.load_trained(lively("tiny-gptbigcode-xs"), directory)
    backend = TransformersBackend(model, load_tokenizer("tiny-gptbigcode-xs"), batch_size=2)
    assert backend.context == 2048 - 30
    long_context = "x = 1\n" * 2000  # more tokens than the window
    scores = backend.loglikelihood([(long_context, " y"), ("x = 1\n", " y")])
    assert all(score < 0 for score in scores)
    assert len(backend.generate([long_context], temperature=0, max_new_tokens=4)[0]) == 1
