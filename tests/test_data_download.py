"""`astraios data download` (astraios.tasks.download) against a local stand-in for GitHub and the
Hub (tests/fake_sources.py): files land where --data-dir reads them, every checksum is checked, a
re-run fetches only what is missing or corrupt; and the pinned checksums match the reference data."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import pytest
from typer.testing import CliRunner

from astraios import tasks
from astraios.cli import app
from astraios.core import hub
from astraios.tasks import catalogue
from astraios.tasks.catalogue import Dataset
from astraios.tasks.download import MANIFEST, content_sha256
from conftest import DATA_SKIP_REASON, REPO as PROJECT
from fake_sources import COMMIT, FakeSources

runner = CliRunner()
REPO, SOURCE_COMMIT = "someowner/somedata", "a" * 40
FILES = {  # path in the data directory -> content (a .gz path is stored gzipped)
    "demo/a.jsonl": b'{"x": 1}\n',
    "demo/sub/b.jsonl.gz": b'{"y": 2}\n' * 1000,
    "demo/c.txt": b"1 2 3\n",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


@pytest.fixture
def sources(monkeypatch):
    """The fake servers, with a dataset `demo` of three pinned GitHub files."""
    with FakeSources() as fake:
        pinned = []
        for path, data in FILES.items():
            source = "upstream/" + path.removesuffix(".gz")
            fake.files[f"/{REPO}/{SOURCE_COMMIT}/{source}"] = data
            pinned.append({"path": path, "repo": REPO, "commit": SOURCE_COMMIT, "source": source,
                           "sha256": sha256(data), "size": len(data)})
        monkeypatch.setattr(catalogue, "GITHUB_RAW", fake.url)
        monkeypatch.setattr(catalogue, "_pinned", lambda: {"demo": pinned})
        monkeypatch.setitem(catalogue.DATASETS, "demo", Dataset("demo", "three files"))
        yield fake


def download(*arguments: str):
    return runner.invoke(app, ["data", "download", "--quiet", *arguments])


def test_files_are_fetched_checked_and_a_rerun_fetches_nothing(sources, tmp_path):
    result = download("demo", "--to", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert lines(result)[0].startswith("demo: 3 files, ") and "sha256 checked (fetched 3)" in lines(result)[0]
    assert (tmp_path / "demo" / "a.jsonl").read_bytes() == FILES["demo/a.jsonl"]
    stored = (tmp_path / "demo" / "sub" / "b.jsonl.gz").read_bytes()
    assert stored[:2] == b"\x1f\x8b" and gzip.decompress(stored) == FILES["demo/sub/b.jsonl.gz"]
    manifest = json.loads((tmp_path / MANIFEST).read_text())["datasets"]["demo"]
    assert manifest["files"] == {path: sha256(data) for path, data in FILES.items()}
    assert manifest["origin"] == f"github:{REPO}@{SOURCE_COMMIT[:8]}"

    sources.requests.clear()
    again = download("demo", "--to", str(tmp_path))
    assert again.exit_code == 0 and "(all already in place)" in lines(again)[0]
    assert sources.requests == []


def test_a_partial_file_is_fetched_again_and_a_corrupt_one_is_named_and_replaced(sources, tmp_path):
    assert download("demo", "--to", str(tmp_path)).exit_code == 0
    (tmp_path / "demo" / "c.txt").write_bytes(b"1 2")  # truncated in place
    (tmp_path / "demo" / "a.jsonl").unlink()
    (tmp_path / "demo" / "a.jsonl.part").write_bytes(b'{"x"')  # an interrupted download
    sources.requests.clear()
    result = download("demo", "--to", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "fetched 2, 1 already in place; replaced 1 corrupt (checksum differed): demo/c.txt" in lines(result)[0]
    assert sorted(sources.requests) == [f"GET /{REPO}/{SOURCE_COMMIT}/upstream/demo/{name}" for name in ("a.jsonl", "c.txt")]
    assert all(content_sha256(tmp_path / path) == sha256(data) for path, data in FILES.items())
    assert not list(tmp_path.rglob("*.part"))


def test_a_download_that_does_not_match_its_checksum_is_not_kept(sources, tmp_path):
    sources.files[f"/{REPO}/{SOURCE_COMMIT}/upstream/demo/c.txt"] = b"changed upstream\n"
    result = download("demo", "--to", str(tmp_path))
    assert result.exit_code == 1
    first, error = lines(result)
    assert first.startswith("demo: not fetched: demo/c.txt: the file fetched from") and "it was not kept" in first
    assert error.startswith("error: 1 of 1 datasets not fetched (demo). Fix: re-run")
    assert not (tmp_path / "demo" / "c.txt").exists() and not list(tmp_path.rglob("*.part"))
    assert not (tmp_path / MANIFEST).exists()  # nothing recorded as fetched

    del sources.files[f"/{REPO}/{SOURCE_COMMIT}/upstream/demo/c.txt"]
    assert "answered HTTP 404" in lines(download("demo", "--to", str(tmp_path)))[0]


def test_a_connection_cut_mid_file_leaves_no_file_and_says_so(sources, tmp_path, monkeypatch):
    def cut(path):  # the whole file announced, half of it sent
        status, headers, data = answer(path)
        return status, {**headers, "Content-Length": str(len(data))}, data[:len(data) // 2]

    answer = sources.answer
    monkeypatch.setattr(sources, "answer", cut)
    result = download("demo", "--to", str(tmp_path))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert lines(result)[0].startswith("demo: not fetched: ")  # a checksum that differs, or a read cut short
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]


def test_offline_each_dataset_is_one_line_at_once_and_nothing_is_left(offline, tmp_path):
    result = download("humanevalsynthesize-python", "devign", "--to", str(tmp_path / "data"))
    assert result.exit_code == 1
    assert "" not in result.output.strip().splitlines()  # no blank lines between them
    humanevalpack, devign, error = lines(result)
    assert humanevalpack.startswith("humanevalpack-python: not fetched: cannot fetch https://raw.githubusercontent.com/"
                                    "bigcode-project/octopack/e17a8f6470264286bc6a52eb8263582083bf3bf6/")
    assert "offline?" in humanevalpack
    assert devign == "devign: not fetched: the Hugging Face Hub cannot be reached (offline?). Fix: re-run where it can be reached."
    assert error.startswith("error: 2 of 2 datasets not fetched (humanevalpack-python, devign)")
    assert not (tmp_path / "data").exists()  # made for the download, removed again


def test_names_are_tasks_or_datasets_and_a_typo_is_a_usage_error(tmp_path):
    result = download("humanevalsynthesis-python", "--to", str(tmp_path))
    assert result.exit_code == 2 and "did you mean humanevalsynthesize-python?" in result.output
    assert "needs no download" in download("toy-synthesize", "--to", str(tmp_path)).output
    assert "Fix: --to DIR" in runner.invoke(app, ["data", "download"], env={"ASTRAIOS_DATA_DIR": ""}).output


def parquet_bytes(rows: list[dict]) -> bytes:
    import pyarrow
    import pyarrow.parquet

    buffer = io.BytesIO()
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    import huggingface_hub.constants as constants

    with FakeSources() as fake:
        monkeypatch.setattr(constants, "ENDPOINT", fake.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", fake.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        monkeypatch.setattr(hub, "_reachable", {})
        monkeypatch.setattr(hub, "_noted", set())
        yield fake


def test_a_hub_dataset_is_fetched_where_its_loader_reads_it_and_pinned_to_its_commit(fake_hub, tmp_path):
    rows = [{"id": idx, "func": f"int f{idx}(void) {{ return {idx}; }}", "target": bool(idx % 2), "project": "qemu",
             "commit_id": "c"} for idx in range(6)]
    fake_hub.hub["google/code_x_glue_cc_defect_detection"] = {"data/test-00000-of-00001.parquet": parquet_bytes(rows),
                                                               "data/train-00000-of-00001.parquet": b"not asked for"}
    target = tmp_path / "data"
    result = download("devign", "--to", str(target))
    assert result.exit_code == 0, result.output
    assert lines(result)[0].startswith("devign: 1 file, ") and f"hub:google/code_x_glue_cc_defect_detection@{COMMIT[:8]}" in result.output
    assert (target / "devign" / "data" / "test-00000-of-00001.parquet").is_file()
    assert not (target / "devign" / "data" / "train-00000-of-00001.parquet").exists()
    assert json.loads((target / MANIFEST).read_text())["datasets"]["devign"]["revision"] == COMMIT
    documents = tasks.get("devign").documents(target)
    assert [(d["doc_id"], d["label"]) for d in documents] == [(str(r["id"]), int(r["target"])) for r in rows]

    fake_hub.requests.clear()
    assert "(all already in place)" in download("devign", "--to", str(target)).output
    assert not [request for request in fake_hub.requests if "/resolve/" in request]  # listed, not fetched
    assert all(f"/revision/" not in request for request in fake_hub.requests)  # the recorded commit is kept


def test_a_hub_file_that_does_not_match_the_listed_checksum_is_not_kept(fake_hub, tmp_path, monkeypatch):
    data = parquet_bytes([{"id": 1}])
    fake_hub.hub["google/code_x_glue_cc_defect_detection"] = {"data/test-00000-of-00001.parquet": data}
    real_answer = fake_hub.answer
    monkeypatch.setattr(fake_hub, "answer", lambda path: (
        (200, {"X-Repo-Commit": COMMIT, "ETag": '"x"'}, b"garbage") if "/resolve/" in path else real_answer(path)))
    result = download("devign", "--to", str(tmp_path))
    assert result.exit_code == 1
    assert "does not have the checksum the Hub lists for it; it was not kept" in lines(result)[0]
    assert not (tmp_path / "devign" / "data" / "test-00000-of-00001.parquet").exists()


def test_every_pinned_checksum_matches_the_reference_data(data_dir):
    """The checksums in data_files.json are those of the reference copy (decompressed where it is gzipped)."""
    checked = 0
    for dataset in catalogue.DATASETS.values():
        for file in dataset.files:
            path = data_dir / file.path
            assert path.is_file(), f"{file.path} is pinned but not in {data_dir}"
            assert content_sha256(path) == file.sha256, file.path
            checked += 1
    assert checked == sum(1 for path in data_dir.rglob("*") if path.is_file() and path.name != "SOURCES.md")


def test_downloaded_reference_files_load_as_the_reference_does(data_dir, tmp_path, monkeypatch):
    """GitHub served from the reference copy: what the download writes is what the tasks read from it."""
    with FakeSources() as fake:
        for name in ("humanevalpack-java", "aatk"):
            for file in catalogue.DATASETS[name].files:
                raw = (data_dir / file.path).read_bytes()
                fake.files[f"/{file.repo}/{file.commit}/{file.source}"] = (
                    gzip.decompress(raw) if file.path.endswith(".gz") else raw)
        monkeypatch.setattr(catalogue, "GITHUB_RAW", fake.url)
        result = download("humanevalfixtests-java", "aatk", "--to", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert lines(result)[-1] == f"use it: --data-dir {tmp_path} (or ASTRAIOS_DATA_DIR={tmp_path})"
    for name in ("humanevalsynthesize-java", "aatk"):
        assert tasks.get(name).documents(tmp_path) == tasks.get(name).documents(data_dir)


def test_tasks_says_where_each_task_finds_its_data_offline(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.delenv("ASTRAIOS_DATA_DIR", raising=False)
    cache = tmp_path / "hub-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    cached = cache / "datasets--bigcode--humanevalpack" / "snapshots" / "0123abc" / "data" / "java" / "data"
    cached.mkdir(parents=True)
    (cached / "humanevalpack.jsonl").write_text("{}\n")
    for repo, name in (("RaymondLi--perturbed_humaneval", "format/test/0000.parquet"),
                       ("openai--openai_humaneval", "openai_humaneval/test-00000-of-00001.parquet")):
        (cache / f"datasets--{repo}" / "snapshots" / "4567def" / name).parent.mkdir(parents=True)
        (cache / f"datasets--{repo}" / "snapshots" / "4567def" / name).write_bytes(b"")

    def rows(*arguments):
        result = runner.invoke(app, ["tasks", "--json", *arguments])
        assert result.exit_code == 0, result.output
        return {row["task"]: row for row in json.loads(result.output)}

    found = rows()
    assert found["humanevalfixtests-java"]["data"] == "hub cache" and "download" not in found["humanevalfixtests-java"]
    assert (found["humanevalsynthesize-python"]["data"], found["humanevalsynthesize-python"]["download"]) == (
        "missing", ["humanevalpack-python"])
    assert found["toy-synthesize"]["data"] == "built in"
    # ReCode's format category and the nominal problems are cached; the other categories are not.
    assert [found[name]["data"] for name in ("recode-format", "recode-nominal", "recode-syntax")] == [
        "hub cache", "hub cache", "missing"]

    data = tmp_path / "data"
    (data / "humanevalpack").mkdir(parents=True)
    (data / "humanevalpack" / "humanevalpack_python.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    (data / "devign" / "data").mkdir(parents=True)
    (data / "devign" / "data" / "test-00000-of-00001.parquet").write_bytes(b"")
    (data / "recode" / "nominal").mkdir(parents=True)
    (data / "recode" / "nominal" / "HumanEval.jsonl").write_text("{}\n")  # one file of 166: not the dataset
    found = rows("--data-dir", str(data))
    assert {name: found[name]["data"] for name in ("humanevalsynthesize-python", "humanevalsynthesize-java", "devign",
                                                   "recode-format", "toy-synthesize")} == {
        "humanevalsynthesize-python": "data dir", "humanevalsynthesize-java": "missing",  # the Hub cache is not read
        "devign": "data dir", "recode-format": "missing", "toy-synthesize": "built in"}
    table = runner.invoke(app, ["tasks", "--data-dir", str(data)]).output
    assert f"astraios data download humanevalpack-java bigclonebench recode aatk --to {data}" in " ".join(table.split())


def test_no_message_sends_users_to_the_projects_own_data_folder():
    """Users have no ../shared: the package and the tests' skip reason name the download command instead."""
    offenders = [f"{path.relative_to(PROJECT)}:{number}" for path in (PROJECT / "astraios").rglob("*.py")
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if "shared/" in line or "laid out like the project" in line]
    assert offenders == []
    assert "astraios data download" in DATA_SKIP_REASON and "ASTRAIOS_DATA_DIR" in DATA_SKIP_REASON
    assert "shared" not in DATA_SKIP_REASON


def test_a_data_dir_that_is_not_there_names_the_download_command(tmp_path, monkeypatch):
    from astraios.tasks.data import DataNotFoundError, data_dir

    with pytest.raises(DataNotFoundError, match=rf"not a directory\. .*`astraios data download --to {tmp_path / 'data'}`"):
        data_dir(tmp_path / "data")
    monkeypatch.setenv("ASTRAIOS_DATA_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(DataNotFoundError, match=r"\$ASTRAIOS_DATA_DIR points to .*elsewhere.*astraios data download"):
        data_dir(None)
