"""`--batch-size auto`: the most rows that fit, found by halving on out-of-memory (a fake one here:
the model refuses more rows than it "has memory" for), cached per model, device and length."""

from __future__ import annotations

import functools
import json
import platform

import pytest
from test_generate import PROMPTS, backend_for

from astraios.core.cache import user_cache_dir
from astraios.generate import batch_size
from astraios.generate.huggingface import TransformersBackend

FITS = 5  # rows the fake device holds: the halving from 32 gives 32, 16, 8, 4


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch, tmp_path):
    """Each test finds its batch sizes anew (one model fingerprint is shared by all of them)."""
    monkeypatch.setenv("ASTRAIOS_CACHE_DIR", str(tmp_path / "cache"))


def with_memory_for(model, rows: int) -> list[int]:
    """Make `model` fail as a GPU out of memory does above `rows` rows; returns the batch of every call."""
    calls: list[int] = []
    forward = model.forward

    @functools.wraps(forward)  # the probe reads the forward's signature (what it calls its KV cache)
    def limited(*args, **kwargs):
        batch = (kwargs.get("input_ids") if kwargs.get("input_ids") is not None else kwargs["inputs_embeds"]).shape[0]
        calls.append(batch)
        if batch > rows:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.11 GiB total capacity)")
        return forward(*args, **kwargs)

    model.forward = limited
    return calls


@pytest.mark.parametrize("value, expected", [("auto", "auto"), ("8", 8), (8, 8), (" 8", 8)])
def test_batch_size_values(value, expected):
    assert batch_size.parse_batch_size(value) == expected


@pytest.mark.parametrize("value, message", [("0", "at least 1"), ("-2", "at least 1"), ("8.5", "not a number"),
                                            ("Auto", "not a number"), (True, "whole number")])
def test_bad_batch_sizes_say_what_is_accepted(value, message):
    with pytest.raises(ValueError, match=message):
        batch_size.parse_batch_size(value)


def test_auto_halves_on_out_of_memory_and_answers_from_the_cache_next_time():
    backend = backend_for("tiny-gptbigcode-xs", 1)
    calls = with_memory_for(backend.model, FITS)
    lines: list[str] = []
    assert batch_size.auto_batch_size(backend.model, 256, lines.append) == 4
    assert calls == [32, 16, 8, 4, 4]  # from CPU_START, halving; then 4 fit (prefill, one decoding step)
    assert lines == [f"--batch-size auto: 4 rows of 256 tokens fit on the {platform.machine()} CPU: tried from 32 rows "
                     f"(the most tried on a CPU), halving on out-of-memory; cached"]
    calls.clear(), lines.clear()
    assert batch_size.auto_batch_size(backend.model, 256, lines.append) == 4  # another process would read the same
    assert calls == [] and len(lines) == 1 and "cached" in lines[0]
    assert batch_size.auto_batch_size(backend.model, 512, lines.append) == 4 and calls  # another length: probed
    (entry,) = [path for path in (user_cache_dir() / batch_size.CACHE_KIND).glob("*.json")
                if json.loads(path.read_text())["key"]["length"] == 256]
    entry.write_text('{"key": ')  # torn: probed again and rewritten
    calls.clear()
    assert batch_size.auto_batch_size(backend.model, 256, lines.append) == 4 and calls == [32, 16, 8, 4, 4]
    assert json.loads(entry.read_text())["values"]["batch_size"] == 4


def test_auto_stops_when_nothing_fits_and_passes_other_errors_on():
    backend = backend_for("tiny-gptbigcode-xs", 1)
    with_memory_for(backend.model, 0)
    with pytest.raises(ValueError, match="not even one row of 768 tokens fits"):
        batch_size.auto_batch_size(backend.model, 768, print)
    other = backend_for("tiny-gptbigcode-xs", 1)
    other.model.forward = lambda *args, **kwargs: (_ for _ in ()).throw(RuntimeError("shapes do not match"))
    with pytest.raises(RuntimeError, match="shapes do not match"):
        batch_size.auto_batch_size(other.model, 1024, print)


def test_generation_under_auto_decodes_that_many_rows_and_equals_a_fixed_batch():
    seeds = [[7, 8, 9]] * len(PROMPTS)
    fixed = backend_for("tiny-gptbigcode-xs", 4).generate(PROMPTS, n=3, temperature=0.8, max_new_tokens=8, seeds=seeds)
    auto = backend_for("tiny-gptbigcode-xs", 1)
    lines: list[str] = []
    auto = TransformersBackend(auto.model, auto.tokenizer, batch_size="auto", announce=lines.append)
    calls = with_memory_for(auto.model, FITS)
    generated = auto.generate(PROMPTS, n=3, temperature=0.8, max_new_tokens=8, seeds=seeds)
    assert generated == fixed
    assert auto.decoder.batch_size == 4 and max(calls) == 32 and len(lines) == 1
    assert max(calls[calls.index(4, 3) + 1:]) <= 4  # decoding never took more rows than fit
    assert auto.describe()["batch_size"] == "auto" and auto.describe()["auto_batch_sizes"] == {"256": 4}


def test_a_grid_evaluation_takes_auto_or_a_positive_number():
    from astraios.grid.evaluation import EvaluationConfig

    assert EvaluationConfig(batch_size="auto").batch_size == "auto" and EvaluationConfig(batch_size=8).batch_size == 8
    for wrong in (0, "lots"):
        with pytest.raises(ValueError, match="batch_size"):
            EvaluationConfig(batch_size=wrong)
