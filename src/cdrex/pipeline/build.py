"""Build one export file: header and rows, hashed and counted on the way to the sink."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cdrex.exports.formats import file_format
from cdrex.exports.model import Export
from cdrex.pipeline.sinks import LocalFiles
from cdrex.pipeline.sources import write_csv_rows
from cdrex.store.db import Database

CDR_TABLES = {"cdr_in": "cdrs_in"}


@dataclass(frozen=True)
class BuiltFile:
    row_count: int
    byte_size: int
    sha256: str


def build_export_file(db: Database, files: LocalFiles, export: Export) -> BuiltFile:
    fmt = file_format(export.api_version, export.export_type.value)
    digest = hashlib.sha256()
    size = 0
    with files.writer(export.file_name + fmt.suffix) as out:

        def write(chunk: bytes) -> None:
            nonlocal size
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)

        write(fmt.header_line)
        rows = write_csv_rows(
            db, CDR_TABLES[export.export_type.value], fmt, export.account_id,
            export.selection, write,
        )
    return BuiltFile(rows, size, digest.hexdigest())
