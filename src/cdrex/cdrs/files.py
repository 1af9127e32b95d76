"""Reading CDR files for import: CSV with a header, or JSON Lines; errors name the line.

Lines are decoded one at a time, so a bad byte is reported on the line it is on (a text
wrapper decodes whole chunks ahead of the parser, which would blame an earlier line).
Line numbers are physical lines of the file, counting from 1; a CSV record that spans
several lines (a quoted field holding a line break) is reported at the line it starts on.
Blank lines are skipped in both formats.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any

import orjson

from cdrex.cdrs.records import (
    BadRecord,
    Field,
    RecordParser,
    check_field_names,
    check_required_names,
)

BATCH_SIZE = 5000
CsvReader = Any  # what csv.reader returns; the csv module does not export its type
NUL = b"\x00"


class BadCdrFile(ValueError):
    """A bad file: ``line`` is the 1-based line number the problem is on."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _decoded_lines(stream: Iterable[bytes]) -> Iterator[str]:
    """The stream's lines as text, without a leading byte order mark.

    A NUL byte is refused here, once per line, so CSV cells need no check of their own
    (PostgreSQL text cannot hold NUL, and no CDR field has a use for it).
    """
    for number, raw in enumerate(stream, start=1):
        if NUL in raw:
            raise BadCdrFile(number, f"NUL byte at column {raw.index(NUL) + 1}")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadCdrFile(
                number,
                f"not UTF-8 text (byte 0x{raw[error.start]:02x} at column {error.start + 1})",
            ) from None
        yield line.removeprefix("\ufeff") if number == 1 else line


Numbered = Iterator[tuple[int, tuple]]  # (line the record starts on, the record)


def _csv_records(lines: Iterator[str], fields: tuple[Field, ...]) -> Numbered:
    reader = csv.reader(lines, strict=True)
    parse = _csv_header(reader, fields)
    start = reader.line_num  # the line before the record being read
    try:
        for row in reader:
            if row:  # a blank line reads as []: skipped
                yield start + 1, parse(row)
            start = reader.line_num
    except csv.Error as error:
        where = "" if reader.line_num == start + 1 else f" (on line {reader.line_num})"
        raise BadCdrFile(start + 1, f"bad CSV: {_csv_problem(error)}{where}") from None
    except BadRecord as error:
        raise BadCdrFile(start + 1, str(error)) from None


def _csv_problem(error: csv.Error) -> str:
    """The csv module's message, except where it speaks of Python rather than the file."""
    if "universal-newline" in str(error):
        # RFC 4180: a line ends in CRLF (or, as cdrex also reads, LF); a CR that is part
        # of a value must be inside quotes. Old Mac files end lines in CR alone.
        return "a carriage return (\\r) outside quotes: end lines with \\n or \\r\\n"
    return str(error)


def _csv_header(reader: CsvReader, fields: tuple[Field, ...]) -> Callable[[list[str]], tuple]:
    """Read the header, the first non-blank line; return the parser of the rows under it."""
    try:
        header: list[str] = next((row for row in reader if row), [])
        check_field_names(header, {field.name: field for field in fields})
        check_required_names(header, fields)
    except csv.Error as error:
        raise BadCdrFile(reader.line_num, f"header: {_csv_problem(error)}") from None
    except BadRecord as error:
        raise BadCdrFile(reader.line_num, f"header: {error}") from None
    # Fields the header leaves out read the extra cell appended to every row: always empty.
    columns = [
        header.index(field.name) if field.name in header else len(header) for field in fields
    ]
    parser = RecordParser(fields, trusted_text=True)

    def parse(row: list[str]) -> tuple:
        if len(row) != len(header):
            raise BadRecord(f"{len(row)} fields, the header has {len(header)}")
        row.append("")
        # An empty CSV field is null (the record format's rule).
        return parser.parse_values([row[column] or None for column in columns])

    return parse


def _jsonl_records(lines: Iterator[str], fields: tuple[Field, ...]) -> Numbered:
    by_name = {field.name: field for field in fields}
    parser = RecordParser(fields)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
            if not isinstance(record, dict):
                raise BadRecord("each line must be a JSON object")
            check_field_names(list(record), by_name)
            yield number, parser.parse_dict(record)
        except orjson.JSONDecodeError as error:
            raise BadCdrFile(number, f"not valid JSON ({error})") from None
        except BadRecord as error:
            raise BadCdrFile(number, str(error)) from None


RecordsOf = Callable[[Iterator[str]], Numbered]  # a format's reader: lines -> records


def read_records(
    stream: Iterable[bytes], fields: tuple[Field, ...], batch_size: int = BATCH_SIZE
) -> Iterator[list[tuple]]:
    """Parsed records in batches; BadCdrFile on the first problem (read_numbered_records)."""
    for _, records in read_numbered_records(stream, fields, batch_size):
        yield records


def read_numbered_records(
    stream: Iterable[bytes],
    fields: tuple[Field, ...],
    batch_size: int = BATCH_SIZE,
    records_of: RecordsOf | None = None,
) -> Iterator[tuple[list[int], list[tuple]]]:
    """Parsed records in batches, each with the lines its records start on; BadCdrFile on
    the first problem.

    ``records_of`` reads another system's format (cdrex.cdrs.mapping); without it the file
    is in cdrex's own (cdrex_records).
    """
    lines = _decoded_lines(stream)
    records = records_of(lines) if records_of else cdrex_records(lines, fields)
    while batch := list(islice(records, batch_size)):
        numbers, parsed = zip(*batch, strict=True)
        yield list(numbers), list(parsed)


def cdrex_records(lines: Iterator[str], fields: tuple[Field, ...]) -> Numbered:
    """The records of a file in cdrex's format (docs/cdr-record.md).

    The format is told by the first non-blank line: ``{`` starts JSON Lines, anything else
    is a CSV header. A file with neither is an error: a CSV file always has a header, so an
    empty one is more likely a failed dump than a day without calls.
    """
    head = []  # up to the first non-blank line, read to tell the format
    for line in lines:
        head.append(line)
        if line.strip():
            break
    else:
        raise BadCdrFile(1, "the file is empty (expected a CSV header or JSON Lines)")
    reader = _jsonl_records if head[-1].lstrip().startswith("{") else _csv_records
    return reader(chain(head, lines), fields)
