"""Shared test fixtures: the real data directory (skip when absent) and tiny training configs."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Comparing float32 results computed two ways (another batch shape or padding, a KV cache, merged
# weights, another thread count or CPU). float32 keeps 24 bits (eps = 2**-23 ~ 1.2e-7); a forward
# pass rounds in reductions of K terms (the hidden width, the 2,048-token vocabulary of log-softmax)
# whose order depends on the kernel, so a result moves by ~sqrt(K) eps ~ 5e-6 of its size (K eps
# ~ 2.4e-4 at worst). A log-likelihood or a loss sums same-sign terms, so the sum keeps its terms'
# relative error: absolute tolerances break as sums grow (-93.44054 vs -93.44067 failed at 1e-4
# although 1.5e-6 apart relatively). Compare relatively at 1e-5 (~80 ulp); the floor serves values
# near 0.
FLOAT32_REL = 1e-5
FLOAT32_ABS_FLOOR = 1e-6


def float32_approx(expected, rel: float = FLOAT32_REL):
    """`pytest.approx` for float32 results computed by another kernel (see FLOAT32_REL)."""
    return pytest.approx(expected, rel=rel, abs=FLOAT32_ABS_FLOOR)


# The real data of the tests that need it: what `astraios data download --all` fetches.
DATA_SKIP_REASON = "real data not found: fetch it with `astraios data download --all --to DIR`, then set ASTRAIOS_DATA_DIR=DIR"


def shared_data_dir() -> Path | None:
    """ASTRAIOS_DATA_DIR, else ../shared/data beside the repository (the project machines' copy), if it exists."""
    candidate = Path(os.environ.get("ASTRAIOS_DATA_DIR", REPO.parent / "shared" / "data"))
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory) -> Iterator[Path]:
    """astraios's per-user cache (parameter counts, batch sizes) in a directory of the session, never
    the user's: for this process and the commands the tests start."""
    path = tmp_path_factory.mktemp("user-cache")
    previous = os.environ.get("ASTRAIOS_CACHE_DIR")
    os.environ["ASTRAIOS_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("ASTRAIOS_CACHE_DIR")
    else:
        os.environ["ASTRAIOS_CACHE_DIR"] = previous


@pytest.fixture(scope="session")  # session scope: module- and session-scoped fixtures can use it too
def data_dir() -> Path:
    found = shared_data_dir()
    if found is None:
        pytest.skip(DATA_SKIP_REASON)
    return found


def tiny_overrides(output_dir: Path, *extra: str) -> list[str]:
    """`--set` overrides for a seconds-long CPU training run on the shipped sample."""
    return [
        f"train.output_dir={output_dir}",
        "model.name=tiny-gptbigcode-xs",
        "data.seq_len=128",
        "data.sources=[{path: astraios-sample, limit: 40}]",
        "data.test_size=8",
        "train.max_steps=6",
        "train.global_batch_size=4",
        "train.micro_batch_size=2",
        "train.warmup_steps=1",
        "train.eval_every=3",
        "train.save_every=2",
        "train.learning_rate=1e-2",
        *extra,
    ]


@pytest.fixture(scope="session")
def warm_base(tmp_path_factory) -> str:
    """A tiny GPTBigCode briefly pre-trained (full fine-tuning, all tokens) on the shipped sample.

    A random-initialised model has near-uniform outputs that small adapters can barely move; a few
    dozen steps of pre-training give it features to steer, so each method's effect is measurable.
    """
    from astraios import train
    from astraios.config import load_config

    run_dir = tmp_path_factory.mktemp("warm-base")
    config = load_config(
        None,
        tiny_overrides(
            run_dir,
            "method.name=full",
            "data.loss_on=all",
            "data.sources=[{path: astraios-sample, limit: 200}]",
            "train.max_steps=40",
            "train.learning_rate=3e-2",
            "train.global_batch_size=8",
            "train.micro_batch_size=8",
            "train.eval_every=40",
            "train.save_every=100",
        ),
    )
    train.run(config, overwrite=True, show_progress=False)
    return str(run_dir / "final")


@pytest.fixture
def offline(monkeypatch):
    """No network, as on this project's machines, on any machine: host names do not resolve (what an
    unplugged machine sees), and huggingface_hub's retry pauses take no time."""
    import socket

    import huggingface_hub.utils._http as hub_http

    def unresolvable(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    from astraios.core import hub

    monkeypatch.setattr(socket, "getaddrinfo", unresolvable)
    monkeypatch.setattr(hub_http.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(hub, "_reachable", {})  # found out anew, and said once, in this test
    monkeypatch.setattr(hub, "_noted", set())
    # The libraries' log handlers keep the stderr of whichever CliRunner call first imported them (closed
    # since): make them write to the stderr of the moment, as in a real process.
    for name in ("huggingface_hub", "transformers"):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler:  # not pytest's capturing subclasses
                monkeypatch.setattr(handler, "stream", CurrentStderr())


class CurrentStderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
