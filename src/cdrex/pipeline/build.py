"""Build one export file: header and rows, (gzipped,) hashed and counted on the way to the sink."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import partial
from typing import BinaryIO

from isal import isal_zlib

from cdrex.exports.formats import FileFormat
from cdrex.exports.kinds import KINDS, file_format
from cdrex.exports.model import CdrSelection, Export
from cdrex.pipeline.file_store import FileStore
from cdrex.pipeline.slices import Producer, time_slices, write_in_parallel
from cdrex.pipeline.sources import Write, write_csv_rows
from cdrex.store.db import Database

DEFAULT_GZIP_LEVEL = 1  # ISA-L's levels are 0-3; bench/gzip_levels.py shows why 1


@dataclass(frozen=True)
class BuiltFile:
    row_count: int
    byte_size: int
    sha256: str


class BuildStopped(Exception):
    """The worker was asked to stop; the unfinished file was discarded."""


class _FileBytes:
    """The last stage: counts and hashes exactly the bytes the file receives."""

    def __init__(self, out: BinaryIO, stop: threading.Event | None) -> None:
        self.out = out
        self.stop = stop
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        if self.stop is not None and self.stop.is_set():
            raise BuildStopped  # checked per chunk (64 KiB): shutdown does not wait for a build
        self.digest.update(chunk)
        self.size += len(chunk)
        self.out.write(chunk)


class _Gzip:
    """Standard gzip (one member) with ISA-L: several times faster than zlib at its levels."""

    def __init__(self, downstream: Write, level: int) -> None:
        self.downstream = downstream
        self.compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)  # 31: gzip

    def write(self, chunk: bytes) -> None:
        if compressed := self.compressor.compress(chunk):
            self.downstream(compressed)

    def close(self) -> None:
        self.downstream(self.compressor.flush())


class _Plain:
    def __init__(self, downstream: Write) -> None:
        self.write = downstream

    def close(self) -> None:
        pass


def build_export_file(
    db: Database,
    files: FileStore,
    export: Export,
    *,
    gzip_level: int = DEFAULT_GZIP_LEVEL,
    slices: int = 1,
    stop: threading.Event | None = None,
) -> BuiltFile:
    """Write the export's file; raises BuildStopped (and writes nothing) once ``stop`` is set.

    ``slices`` > 1 copies that many time slices in parallel on PostgreSQL (pipeline/slices.py);
    the file's rows are the same, in the same order.
    """
    fmt = file_format(export.api_version, export.export_type)
    parts = [export.selection] if db.is_sqlite else time_slices(export.selection, max(slices, 1))
    producers: list[Producer] = [
        partial(_write_part, db, export, fmt, part, gzip_level, n == 0)
        for n, part in enumerate(parts)
    ]
    with files.writer(export.file_name + fmt.suffix) as out:
        file_bytes = _FileBytes(out, stop)
        rows = write_in_parallel(producers, file_bytes.write)
    return BuiltFile(rows, file_bytes.size, file_bytes.digest.hexdigest())


def _write_part(
    db: Database,
    export: Export,
    fmt: FileFormat,
    selection: CdrSelection,
    gzip_level: int,
    with_header: bool,
    write: Write,
) -> int:
    """One slice of the file: (header,) rows, through gzip when the format is gzipped."""
    stage = _Gzip(write, gzip_level) if fmt.gzipped else _Plain(write)
    if with_header:
        stage.write(fmt.header_line)
    table = KINDS[export.export_type].table
    rows = write_csv_rows(db, table, fmt, export.account_id, selection, stage.write)
    stage.close()
    return rows
