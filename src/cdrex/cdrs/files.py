"""Reading CDR files for import: CSV with a header, or JSON Lines; errors name the line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from itertools import islice
from typing import BinaryIO

import orjson

from cdrex.cdrs.records import BadRecord, Field, check_field_names, parse_record


class BadCdrFile(ValueError):
    """A bad file: ``line`` is the 1-based line number the problem is on."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


def _csv_records(text: io.TextIOBase, fields: dict[str, Field]) -> Iterator[tuple[int, dict]]:
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as error:
        raise BadCdrFile(1, str(error)) from None
    try:
        check_field_names(header, fields)
    except BadRecord as error:
        raise BadCdrFile(1, str(error)) from None
    line = reader.line_num
    try:
        for values in reader:
            if len(values) != len(header):
                raise BadCdrFile(line + 1, f"{len(values)} fields, the header has {len(header)}")
            # An empty CSV field is null (the record format's rule).
            yield line + 1, {name: value for name, value in zip(header, values, strict=True) if value != ""}
            line = reader.line_num
    except csv.Error as error:
        raise BadCdrFile(reader.line_num, str(error)) from None


def _jsonl_records(text: io.TextIOBase, fields: dict[str, Field]) -> Iterator[tuple[int, dict]]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise BadCdrFile(number, f"not valid JSON ({error})") from None
        if not isinstance(record, dict):
            raise BadCdrFile(number, "each line must be a JSON object")
        try:
            check_field_names(list(record), fields)
        except BadRecord as error:
            raise BadCdrFile(number, str(error)) from None
        yield number, record


def read_records(
    stream: BinaryIO, fields: tuple[Field, ...], batch_size: int = 5000
) -> Iterator[list[tuple]]:
    """Parsed records in batches. The format is told by the first byte: ``{`` is JSON Lines,
    anything else CSV."""
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore
    is_jsonl = buffered.peek(1)[:1] == b"{"
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")
    by_name = {field.name: field for field in fields}
    records = (_jsonl_records if is_jsonl else _csv_records)(text, by_name)
    line = 1
    while True:
        batch = []
        try:
            for line, record in islice(records, batch_size):  # noqa: B007 (used on error)
                batch.append(parse_record(record, fields))
        except BadRecord as error:
            raise BadCdrFile(line, str(error)) from None
        except UnicodeDecodeError:
            raise BadCdrFile(line + 1, "the file is not UTF-8 text") from None
        if not batch:
            return
        yield batch
