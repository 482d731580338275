"""Hugging Face Hub failures, worded for the user: one line that says what could not be loaded,
why (offline, or not on the Hub) and how to fix it.

transformers, peft, datasets and huggingface_hub each wrap a failed download differently (an
OSError, a ValueError, a ConnectionError, a LocalEntryNotFoundError), but each keeps the original
error in its cause chain. `hub_errors` reads that chain and turns a Hub failure into a `HubError`;
any other error (a broken config, an unsupported architecture) passes through untouched.

Local paths are told apart from Hub ids before anything goes to the network (`looks_local`): a
mistyped run directory is a local "no such directory", not 30 seconds of Hub retries.

Offline is found out once per process (`hub_reachable`: HF_HUB_OFFLINE, else one short request to
the Hub), and then said once (a note); code that reads the Hub then asks the local cache only
(`cache_only`), instead of spending half a minute in the client's retries per file.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

# Error class names anywhere in the cause chain, by what they mean for the user.
OFFLINE = {"ConnectError", "ConnectTimeout", "ConnectionError", "LocalEntryNotFoundError", "OfflineModeIsEnabled",
           "gaierror", "ReadTimeout", "Timeout", "TimeoutException", "ProxyError", "SSLError"}
NOT_FOUND = {"RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError", "DatasetNotFoundError",
             "RemoteEntryNotFoundError"}
GATED = {"GatedRepoError"}
HTTP_LOGGER = "huggingface_hub.utils._http"  # where huggingface_hub logs its retries
REACHABLE_TIMEOUT_S = 5.0  # one answer from the Hub; a black-holed network costs this once, not 30 s per file
OFFLINE_NOTE = ("note: the Hugging Face Hub cannot be reached (offline?): only what is already in the local "
                "Hugging Face cache is used (as with HF_HUB_OFFLINE=1).")
_reachable: dict[str, bool] = {}  # endpoint -> whether it answered, once per process
_noted: set[str] = set()  # endpoints found unreachable and said so
_cache_only = {"depth": 0, "saved": None}
_lock = threading.Lock()  # tasks probe their data in threads (a grid's plan)


class HubError(ValueError):
    """Something could not be loaded from the Hugging Face Hub (offline, missing, gated)."""


def looks_local(name: str) -> bool:
    """Whether `name` was meant as a local path rather than a Hub id (`owner/name`): it starts like a
    path (`.`, `/`, `~`), has more than one `/`, or its first part is a directory here (`runs/x`)."""
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or name.endswith("/"):
        return True
    first, sep, _ = name.partition("/")
    return bool(sep) and Path(first).is_dir()


def missing_local_path(name: str, what: str, fix: str) -> HubError:
    """The error for a local-looking `name` that does not exist."""
    path = Path(name).expanduser()
    parent = next((p for p in path.parents if p.is_dir()), None)
    near = ""
    if parent is not None and parent != Path("."):
        siblings = sorted(p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))[:8]
        near = f" ({parent} holds: {', '.join(siblings)})" if siblings else f" ({parent} is empty)"
    return HubError(f"{what} {name}: no such file or directory{near}. Fix: {fix}")


def classify(error: BaseException) -> str | None:
    """offline | not_found | gated | None (not a Hub failure), from the error's cause chain."""
    seen = set()
    names = []
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        names.append(type(error).__name__)
        error = error.__cause__ or error.__context__
    # The innermost cause decides: a missing repo reached online is "not found", even if wrapped.
    for name in reversed(names):
        if name in GATED:
            return "gated"
        if name in NOT_FOUND:
            return "not_found"
        if name in OFFLINE:
            return "offline"
    return None


def message(kind: str, what: str, name: str, local_fix: str, repo_type: str = "model") -> str:
    download = f"hf download {name}" + (" --repo-type dataset" if repo_type == "dataset" else "")
    if kind == "offline":
        return (f"{what} `{name}` is neither a local path nor in the Hugging Face cache, and the Hub cannot be "
                f"reached (offline?). Fix: connect to the Hub, or download it once where you can (`{download}`, "
                f"then HF_HUB_OFFLINE=1 here), or {local_fix}.")
    if kind == "gated":
        return (f"{what} `{name}` is gated on the Hub: you need to accept its licence and log in. Fix: accept it on "
                f"https://huggingface.co/{name}, run `hf auth login`, or {local_fix}.")
    return (f"{what} `{name}` is neither a local path nor a repository on the Hugging Face Hub. Fix: check the "
            f"name (owner/name) and the revision, log in (`hf auth login`) if it is private, or {local_fix}.")


class _OneRetryNote(logging.Filter):
    """huggingface_hub logs two lines per retry (a dozen while offline); say once what is going on."""

    def __init__(self, name: str):
        super().__init__()
        self.name_looked_up = name
        self.shown = False

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "thrown while requesting" not in text and not text.startswith("Retrying in"):
            return True
        if self.shown:
            return False
        self.shown = True
        record.msg, record.args = (f"note: the Hugging Face Hub does not answer (looking up `{self.name_looked_up}`); "
                                   f"retrying for about 25 s. HF_HUB_OFFLINE=1 uses the local cache only."), ()
        return True


@contextlib.contextmanager
def hub_errors(what: str, name: str, local_fix: str, repo_type: str = "model"):
    """Turn a Hub failure inside the block into one `HubError` line about `what` `name`."""
    retries = logging.getLogger(HTTP_LOGGER)
    note = _OneRetryNote(name)
    retries.addFilter(note)
    try:
        yield
    except HubError:
        raise
    except Exception as error:
        kind = classify(error)
        if kind is None:
            raise
        raise HubError(message(kind, what, name, local_fix, repo_type)) from error
    finally:
        retries.removeFilter(note)


def describe(error: BaseException) -> str:
    """A short cause for messages that word their own fix (e.g. benchmark data)."""
    kind = classify(error)
    if kind == "offline":
        return "the Hub cannot be reached (offline?)"
    if kind == "not_found":
        return "not found on the Hub"
    if kind == "gated":
        return "gated on the Hub (accept its licence and `hf auth login`)"
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first_line}"


def hub_reachable(note: bool = True) -> bool:
    """Whether the Hub can be used: False at once under HF_HUB_OFFLINE=1; else whether the endpoint
    answers one HEAD request (any HTTP status counts: it answered), asked once per process and
    endpoint. With `note`, a "no" found out here is said once, on stderr: what reads the Hub then
    reads the local cache only."""
    import sys
    import urllib.error
    import urllib.request

    from huggingface_hub import constants

    if constants.is_offline_mode():
        return False
    endpoint = constants.ENDPOINT
    with _lock:
        if endpoint not in _reachable:
            try:
                urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"),
                                       timeout=REACHABLE_TIMEOUT_S).close()
                _reachable[endpoint] = True
            except urllib.error.HTTPError:
                _reachable[endpoint] = True
            except (OSError, ValueError):  # no name resolution, refused, timed out, no route
                _reachable[endpoint] = False
        if note and not _reachable[endpoint] and endpoint not in _noted:
            _noted.add(endpoint)
            print(OFFLINE_NOTE, file=sys.stderr)
        return _reachable[endpoint]


@contextlib.contextmanager
def cache_only():
    """Inside, huggingface_hub and datasets read the local cache only, as under HF_HUB_OFFLINE=1
    (their module settings, read at each call; restored when the last thread leaves)."""
    import datasets.config  # now: imported inside, it would take the offline setting for good
    from huggingface_hub import constants

    modules = [constants, datasets.config]
    with _lock:
        if _cache_only["depth"] == 0:
            _cache_only["saved"] = [(module, module.HF_HUB_OFFLINE) for module in modules]
            for module in modules:
                module.HF_HUB_OFFLINE = True
        _cache_only["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _cache_only["depth"] -= 1
            if _cache_only["depth"] == 0:
                for module, value in _cache_only["saved"]:
                    module.HF_HUB_OFFLINE = value


@contextlib.contextmanager
def quiet_retries():
    """The client's retry lines (two per retry) are not shown: the caller words the outcome."""
    retries = logging.getLogger(HTTP_LOGGER)
    level = retries.level
    retries.setLevel(logging.ERROR)
    try:
        yield
    finally:
        retries.setLevel(level)
