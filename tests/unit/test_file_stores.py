"""The FileStore contract (cdrex.pipeline.file_store), the same tests for every store: in
memory, a local directory, and S3 (moto's in-process double; tests/test_s3.py runs the S3
store against a server, with multipart uploads and outages)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdrex.pipeline.file_store import READ_CHUNK, FileStore
from cdrex.pipeline.local_files import LocalFiles
from cdrex.pipeline.memory_files import MemoryFiles

DATA = bytes(range(256)) * (READ_CHUNK // 100)  # more than two chunks, not a multiple
PART = 5 * 1024 * 1024  # S3's smallest part


@pytest.fixture
def s3_files() -> Iterator[FileStore]:
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from moto import mock_aws

    from cdrex.pipeline.s3_files import S3Files

    with mock_aws():
        client = boto3.client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(signature_version="s3v4"),  # as open_s3_files signs
        )
        client.create_bucket(Bucket="bucket")
        # The smallest parts: an abandoned write of one part is an upload the sweep sees.
        yield S3Files("bucket", "unit", client, part_size=PART)


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore:
    if request.param == "memory":
        return MemoryFiles()
    if request.param == "local":
        return LocalFiles(tmp_path / "files")
    return request.getfixturevalue("s3_files")


def _write(store: FileStore, name: str, data: bytes = DATA) -> None:
    with store.writer(name) as out:
        for start in range(0, len(data), 10_000):
            out.write(data[start : start + 10_000])


def _read(store: FileStore, name: str, span: tuple[int, int] | None = None) -> bytes:
    reader = store.read(name, span)
    try:
        chunks = list(reader.chunks())
    finally:
        reader.close()
    assert all(0 < len(chunk) <= READ_CHUNK for chunk in chunks)
    assert sum(map(len, chunks)) == reader.length
    return b"".join(chunks)


def _clock(store: FileStore, tmp_path: Path) -> float:
    """Now by the store's own clock: a local file's time is the kernel's, which a faked
    clock (tests/at_date.sh) leaves alone; the others keep Python's."""
    if not isinstance(store, LocalFiles):
        return time.time()
    probe = tmp_path / "clock-probe"
    probe.write_bytes(b"")
    return probe.stat().st_mtime


def test_a_written_file_reads_back_whole_and_stats(store: FileStore, tmp_path: Path) -> None:
    before = _clock(store, tmp_path)
    _write(store, "a.csv")
    assert _read(store, "a.csv") == DATA
    stored = store.stat("a.csv")
    assert stored.size == len(DATA)
    # S3 times have whole seconds.
    assert before - 1 <= stored.last_modified.timestamp() <= _clock(store, tmp_path) + 1
    assert store.read("a.csv").last_modified == stored.last_modified
    store.read("a.csv").close()  # a reader never read closes, and closes again
    reader = store.read("a.csv")
    reader.close()
    reader.close()


@pytest.mark.parametrize("span", [(0, 1), (10, 20), (0, len(DATA)), (len(DATA) - 1, len(DATA))])
def test_a_span_reads_its_bytes_only(store: FileStore, span: tuple[int, int]) -> None:
    _write(store, "a.csv")
    assert _read(store, "a.csv", span) == DATA[span[0] : span[1]]
    assert store.read("a.csv", span).length == span[1] - span[0]


def test_an_empty_file(store: FileStore) -> None:
    _write(store, "empty.csv", b"")
    assert store.stat("empty.csv").size == 0
    assert _read(store, "empty.csv") == b""


def test_a_write_replaces_the_file_only_when_it_finishes(store: FileStore) -> None:
    _write(store, "a.csv", b"old")
    with store.writer("a.csv") as out:
        out.write(b"new" * 1000)
        assert _read(store, "a.csv") == b"old"  # never part of the new one
    assert _read(store, "a.csv") == b"new" * 1000


def test_a_failed_write_leaves_nothing_and_the_earlier_file_untouched(store: FileStore) -> None:
    with pytest.raises(RuntimeError), store.writer("new.csv") as out:
        out.write(DATA)
        raise RuntimeError("export failed")
    with pytest.raises(FileNotFoundError):
        store.stat("new.csv")
    _write(store, "a.csv", b"before")
    with pytest.raises(RuntimeError), store.writer("a.csv") as out:
        out.write(DATA)
        raise RuntimeError("export failed")
    assert _read(store, "a.csv") == b"before"
    assert store.delete_stale_partials(time.time() + 3600) == 0  # no partial left behind


def test_missing_files(store: FileStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.stat("missing.csv")
    with pytest.raises(FileNotFoundError):
        store.read("missing.csv")
    store.delete("missing.csv")  # no error


def test_delete(store: FileStore) -> None:
    _write(store, "a.csv")
    _write(store, "b.csv")
    store.delete("a.csv")
    with pytest.raises(FileNotFoundError):
        store.stat("a.csv")
    assert _read(store, "b.csv") == DATA


def test_the_sweep_removes_only_writes_idle_since_the_cut_off(store: FileStore) -> None:
    """A write a killed worker left: entered, written to, never finished."""
    abandoned = store.writer("abandoned.csv")
    out = abandoned.__enter__()
    out.write(bytes(PART))  # one part: S3 holds an unfinished upload
    assert store.delete_stale_partials(time.time() - 3600) == 0  # written to since
    assert store.delete_stale_partials(time.time() + 3600) == 1
    assert store.delete_stale_partials(time.time() + 3600) == 0
    with pytest.raises(FileNotFoundError):
        store.stat("abandoned.csv")


def test_presigned_url_or_none(store: FileStore) -> None:
    _write(store, "a.csv")
    url = store.presigned_url("a.csv", 60, "text/csv", 'attachment; filename="a.csv"')
    if isinstance(store, LocalFiles | MemoryFiles):
        assert url is None  # they cannot: the API streams their files
    else:
        assert url is not None
        assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
