"""Build one export file: header and rows, (gzipped,) hashed and counted on the way to the sink."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import BinaryIO

from isal import isal_zlib

from cdrex.exports.formats import file_format
from cdrex.exports.model import Export
from cdrex.pipeline.sinks import FileStore
from cdrex.pipeline.sources import write_csv_rows
from cdrex.store.db import Database

CDR_TABLES = {"cdr_in": "cdrs_in"}
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

    def close(self) -> None:
        pass


class _Gzip:
    """Standard gzip (one member) with ISA-L: several times faster than zlib at its levels."""

    def __init__(self, downstream: _FileBytes, level: int) -> None:
        self.downstream = downstream
        self.compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)  # 31: gzip

    def write(self, chunk: bytes) -> None:
        if compressed := self.compressor.compress(chunk):
            self.downstream.write(compressed)

    def close(self) -> None:
        self.downstream.write(self.compressor.flush())


def build_export_file(
    db: Database,
    files: FileStore,
    export: Export,
    gzip_level: int = DEFAULT_GZIP_LEVEL,
    stop: threading.Event | None = None,
) -> BuiltFile:
    """Write the export's file; raises BuildStopped (and writes nothing) once ``stop`` is set."""
    fmt = file_format(export.api_version, export.export_type.value)
    with files.writer(export.file_name + fmt.suffix) as out:
        file_bytes = _FileBytes(out, stop)
        stage = _Gzip(file_bytes, gzip_level) if fmt.gzipped else file_bytes
        stage.write(fmt.header_line)
        rows = write_csv_rows(
            db, CDR_TABLES[export.export_type.value], fmt, export.account_id,
            export.selection, stage.write,
        )
        stage.close()
    return BuiltFile(rows, file_bytes.size, file_bytes.digest.hexdigest())
