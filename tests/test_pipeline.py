"""The export pipeline in-process: gzip, parallel time slices, stopping mid-build."""

from __future__ import annotations

import errno
import gzip
import hashlib
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from cdrex.cdrs.generate import batches, generate_inbound
from cdrex.exports.formats import CDR_IN_2017
from cdrex.exports.kinds import KINDS
from cdrex.exports.model import CdrSelection, Export, ExportType
from cdrex.exports.window import month_start, next_month_start
from cdrex.pipeline.build import BuildStopped, build_export_file
from cdrex.pipeline.local_files import LocalFiles
from cdrex.pipeline.sources import FETCH_ROWS, write_csv_rows
from cdrex.store.accounts import create_account
from cdrex.store.cdrs import insert_cdrs, owned_by

GZIPPED = "gz-test"  # an API version whose files are gzipped (the real ones come with #4)


@pytest.fixture
def month_export(database, monkeypatch):  # type: ignore[no-untyped-def]
    """A factory of exports of this month's 30,000 calls (ties included)."""
    formats = KINDS[ExportType.CDR_IN].formats
    monkeypatch.setitem(formats, GZIPPED, replace(CDR_IN_2017, suffix=".csv.gz"))
    now = datetime.now(UTC)
    account = create_account(database, "slices")
    insert_cdrs(database, owned_by(account.id, batches(generate_inbound(30_000, 1, now, seed=5))))
    selection = CdrSelection(
        month_start(now.year, now.month), next_month_start(now.year, now.month)
    )

    def make(api_version: str = "2017-09-18") -> Export:
        return Export(
            account_id=account.id,
            api_version=api_version,
            export_type=ExportType.CDR_IN,
            filters={},
            selection=selection,
            created_at=now,
        )

    return make


def _built(database, files, export, **options):  # type: ignore[no-untyped-def]
    built = build_export_file(database, files, export, **options)
    suffix = ".csv.gz" if export.api_version == GZIPPED else ".csv"
    body = files.path(export.file_name + suffix).read_bytes()
    assert (built.byte_size, built.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    return built, body


@pytest.mark.parametrize("slices", [2, 5])
def test_sliced_export_has_the_same_bytes(database, month_export, tmp_path, slices) -> None:  # type: ignore[no-untyped-def]
    files = LocalFiles(tmp_path)
    whole, expected = _built(database, files, month_export())
    sliced, body = _built(database, files, month_export(), slices=slices)
    assert body == expected and sliced.row_count == whole.row_count
    assert whole.row_count == body.count(b"\n") - 1 > 0


def test_gzipped_export_is_standard_gzip_sliced_or_not(database, month_export, tmp_path) -> None:  # type: ignore[no-untyped-def]
    files = LocalFiles(tmp_path)
    _, plain = _built(database, files, month_export())
    for slices in (1, 3):
        built, body = _built(database, files, month_export(GZIPPED), slices=slices, gzip_level=1)
        assert body[:2] == b"\x1f\x8b" and len(body) < len(plain) / 3
        assert gzip.decompress(body) == plain  # members concatenate into the same CSV
        assert built.row_count == plain.count(b"\n") - 1


@pytest.mark.parametrize("slices", [1, 3])
def test_a_stopped_build_leaves_no_file(database, month_export, tmp_path, slices) -> None:  # type: ignore[no-untyped-def]
    files = LocalFiles(tmp_path)
    stop = threading.Event()
    stop.set()
    export = month_export()
    with pytest.raises(BuildStopped):
        build_export_file(database, files, export, slices=slices, stop=stop)
    assert not files.path(export.file_name + ".csv").exists()
    assert list(files.partial.iterdir()) == []


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_copy_cut_short_leaves_every_connection_able_to_write(database) -> None:  # type: ignore[no-untyped-def]
    """A build that fails mid-query (here the file store is full) must not leave the query
    open on its pooled connection: the next write transaction there, once another has
    committed, would fail at once with "database is locked"."""
    now = datetime.now(UTC)
    account = create_account(database, "cut-short")
    insert_cdrs(database, owned_by(account.id, batches(generate_inbound(3 * FETCH_ROWS, 1, now))))
    every_call = CdrSelection(
        datetime(2000, 1, 1, tzinfo=UTC), next_month_start(now.year, now.month)
    )

    def full(chunk: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as cut_short:  # the traceback lives on, as in a worker
        write_csv_rows(database, "cdrs_in", CDR_IN_2017, account.id, every_call, full)
    with sqlite3.connect(database.url.database) as other:  # another process commits
        other.execute("UPDATE accounts SET name = name")
    for _ in range(database.engine.pool.checkedin()):  # each pooled connection in turn
        with database.write() as conn:
            conn.exec_driver_sql("UPDATE accounts SET name = name")
    assert cut_short.value.errno == errno.ENOSPC
