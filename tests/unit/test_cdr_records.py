"""CDR records and files for import (docs/cdr-record.md), parsed in process."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdrex.cdrs.files import BadCdrFile, read_records
from cdrex.cdrs.records import (
    BadRecord,
    RecordParser,
    check_field_names,
    check_required_names,
    parse_amount,
    parse_integer,
    parse_text,
    parse_timestamp,
)
from cdrex.exports.kinds import KINDS
from cdrex.exports.model import ExportType

INBOUND = KINDS[ExportType.CDR_IN].fields
OUTBOUND = KINDS[ExportType.CDR_OUT].fields
IN_NAMES = [field.name for field in INBOUND]
OUT_NAMES = [field.name for field in OUTBOUND]
TRUNK = "0E5B3C1A-7F52-4C1D-9D57-3B8A1F2E4C6D"


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-05-01 12:34:56", datetime(2026, 5, 1, 12, 34, 56)),
        ("2026-05-01 12:34:56.123456", datetime(2026, 5, 1, 12, 34, 56, 123456)),
        ("2026-05-01T12:34:56Z", datetime(2026, 5, 1, 12, 34, 56)),
        ("2026-05-01t12:34:56z", datetime(2026, 5, 1, 12, 34, 56)),
        ("2026-05-01T14:34:56+02:00", datetime(2026, 5, 1, 12, 34, 56)),
        ("2026-05-01 00:30:00-01:00", datetime(2026, 5, 1, 1, 30)),
        ("2026-01-01T00:30:00+01:00", datetime(2025, 12, 31, 23, 30)),
        (" 2026-05-01 12:34:56 ", datetime(2026, 5, 1, 12, 34, 56)),
    ],
)
def test_timestamps_become_naive_utc(text: str, moment: datetime) -> None:
    assert parse_timestamp(text) == moment


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-05-01T12:34:56", "has no time zone (add Z or an offset)"),
        ("2026-05-01", "is not a timestamp"),
        ("2026-05-01_12:34:56", "is not a timestamp"),
        ("2026-02-30 00:00:00", "is not a valid timestamp"),
        (1767225600, "must be a timestamp string"),
        (None, "must be a timestamp string"),
    ],
)
def test_bad_timestamps(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_timestamp(value)


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        ("0", 0),
        ("12", 12_000_000),
        ("0.5", 500_000),
        ("-0.5", -500_000),
        ("0.000001", 1),
        ("123456789012.123456", 123_456_789_012_123_456),
        (" 1.5 ", 1_500_000),
        ("1e3", 1_000_000_000),
        ("9000000000000", 9_000_000_000_000_000_000),  # the largest amount
        (7, 7_000_000),
        (0.25, 250_000),
        (-3, -3_000_000),
    ],
)
def test_amounts_are_exact_millionths(value: object, micros: int) -> None:
    assert parse_amount(value) == micros


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.0000001", "more than 6 fractional digits"),
        ("9000000000000.000001", "out of range"),
        ("NaN", "out of range"),
        ("Infinity", "out of range"),
        ("1,5", "not a decimal number"),
        ("\u0663", "not a decimal number"),  # ARABIC-INDIC DIGIT THREE
        (True, "not a decimal number"),
        (None, "not a decimal number"),
        ([1], "not a decimal number"),
    ],
)
def test_bad_amounts(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amount(value)


@given(st.integers(-(10**12) + 1, 10**12 - 1), st.integers(0, 999_999))
def test_plain_amounts_round_trip(whole: int, fraction: int) -> None:
    sign = "-" if whole < 0 else ""
    text = f"{sign}{abs(whole)}.{fraction:06d}"
    expected = abs(whole) * 1_000_000 + fraction
    assert parse_amount(text) == (-expected if whole < 0 else expected)
    assert parse_amount(text.rstrip("0").rstrip(".") or "0") == parse_amount(text)


def test_integers_are_32_bit() -> None:
    assert parse_integer("42") == 42
    assert parse_integer("-7") == -7
    assert parse_integer(" 7 ") == 7
    assert parse_integer(2**31 - 1) == 2**31 - 1
    assert parse_integer(-(2**31)) == -(2**31)
    for bad in (2**31, "2147483648", -(2**31) - 1):
        with pytest.raises(ValueError, match="out of range"):
            parse_integer(bad)
    for bad in (True, "1.0", 1.0, "\uff11", "", "0x10", None):
        with pytest.raises(ValueError, match="is not an integer"):
            parse_integer(bad)


def test_text_holds_no_nul() -> None:
    assert parse_text("Zoë") == "Zoë"
    with pytest.raises(ValueError, match="NUL"):
        parse_text("a\x00")
    with pytest.raises(ValueError, match="must be a string"):
        parse_text(5)


def test_field_lists() -> None:
    assert IN_NAMES[:4] == ["time_start", "time_connect", "time_end", "did_number"]
    assert [f.name for f in INBOUND if f.required] == ["time_start", "did_number", "duration"]
    assert [f.name for f in OUTBOUND if f.required] == [
        "time_start",
        "voice_out_trunk_id",
        "destination_number",
        "duration",
    ]
    with pytest.raises(BadRecord, match="unknown field 'calls'"):
        check_field_names(["time_start", "calls"], {f.name: f for f in INBOUND})
    with pytest.raises(BadRecord, match="field 'duration' appears twice"):
        check_field_names(["duration", "duration"], {f.name: f for f in INBOUND})
    with pytest.raises(BadRecord, match="required field 'did_number' is missing"):
        check_required_names(["time_start", "duration"], INBOUND)


def inbound(**values: object) -> dict:
    return {
        "time_start": "2026-05-01 00:00:00",
        "did_number": "442012345678",
        "duration": 30,
        **values,
    }


def test_a_record_by_field_name() -> None:
    parsed = RecordParser(INBOUND).parse_dict(inbound(pstn_amount="0.01", attempt="2"))
    row = dict(zip(IN_NAMES, parsed, strict=True))
    assert row["time_start"] == datetime(2026, 5, 1)
    assert row["did_number"] == "442012345678"
    assert (row["duration"], row["attempt"], row["pstn_amount"]) == (30, 2, 10_000)
    assert row["source"] is None and row["time_end"] is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"did_number": None}, "did_number is required"),
        ({"did_number": "+442012345678"}, "did_number: '+442012345678' is malformed"),
        ({"did_number": "1" * 16}, "is malformed"),
        ({"duration": -1}, "duration: must be at least 0"),
        ({"attempt": 0}, "attempt: must be at least 1"),
        ({"time_connect": "soon"}, "time_connect: 'soon' is not a timestamp"),
        ({"source": 5}, "source: must be a string"),
    ],
)
def test_bad_records_name_the_field(values: dict, message: str) -> None:
    with pytest.raises(BadRecord, match=re.escape(message)):
        RecordParser(INBOUND).parse_dict(inbound(**values))


def test_outbound_trunk_ids_are_stored_lower_case() -> None:
    record = {
        "time_start": "2026-05-01T00:00:00Z",
        "voice_out_trunk_id": TRUNK,
        "destination_number": "15551234567",
        "duration": 0,
        "rate": "0.0125",
    }
    row = dict(zip(OUT_NAMES, RecordParser(OUTBOUND).parse_dict(record), strict=True))
    assert row["voice_out_trunk_id"] == TRUNK.lower()
    assert row["rate"] == 12_500
    with pytest.raises(BadRecord, match=r"voice_out_trunk_id: .* is malformed"):
        RecordParser(OUTBOUND).parse_dict({**record, "voice_out_trunk_id": "{" + TRUNK + "}"})


# --- Files ------------------------------------------------------------------------------


def read(data: bytes, fields=INBOUND, batch_size: int = 5000) -> list[list[tuple]]:  # type: ignore[no-untyped-def]
    return list(read_records(io.BytesIO(data), fields, batch_size))


def file_error(data: bytes, fields=INBOUND) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(BadCdrFile) as error:
        read(data, fields)
    assert str(error.value) == f"line {error.value.line}: {error.value.reason}"
    return error.value.line, error.value.reason


HEADER = b"time_start,did_number,duration,source_name\n"


def test_a_csv_file_with_a_bom_blank_lines_and_empty_cells() -> None:
    data = (
        b"\xef\xbb\xbf"
        + HEADER
        + b"\n2026-05-01 00:00:00,442012345678,30,\n\n2026-05-02 00:00:00,123,0,Zo\xc3\xab\n"
    )
    [batch] = read(data)
    rows = [dict(zip(IN_NAMES, row, strict=True)) for row in batch]
    assert [(r["time_start"], r["did_number"], r["duration"], r["source_name"]) for r in rows] == [
        (datetime(2026, 5, 1), "442012345678", 30, None),  # an empty cell is null
        (datetime(2026, 5, 2), "123", 0, "Zoë"),
    ]


def test_batches() -> None:
    data = HEADER + b"".join(b"2026-05-01 00:00:00,123,%d,\n" % n for n in range(5))
    assert [len(batch) for batch in read(data, batch_size=2)] == [2, 2, 1]


def test_a_jsonl_file() -> None:
    data = b'\n{"time_start": "2026-05-01T00:00:00Z", "did_number": "123", "duration": 5}\n\n'
    [[row]] = read(data)
    assert row[0] == datetime(2026, 5, 1) and row[3] == "123" and row[11] == 5


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b"", 1, "the file is empty (expected a CSV header or JSON Lines)"),
        (b"\n \n", 1, "the file is empty (expected a CSV header or JSON Lines)"),
        (b"time_start,calls\n", 1, "header: unknown field 'calls'"),
        (b"time_start,did_number\n", 1, "header: required field 'duration' is missing"),
        (HEADER + b"2026-05-01 00:00:00,123,30\n", 2, "3 fields, the header has 4"),
        (HEADER + b"\n2026-05-01 00:00:00,x12,30,\n", 3, "did_number: 'x12' is malformed"),
        (HEADER + b"2026-05-01 00:00:00,123,30,a\x00b\n", 2, "NUL byte at column 29"),
        (
            HEADER + b"2026-05-01 00:00:00,123,30,\xff\n",
            2,
            "not UTF-8 text (byte 0xff at column 28)",
        ),
        (b'{"time_start": "2026-05-01T00:00:00Z"}\n', 1, "required"),
        (b'{"time_start": 1}\n[1]\n', 1, "time_start: must be a timestamp string"),
        (
            b'{"time_start": "2026-05-01T00:00:00Z", "did_number": "123", "duration": 5}\n[1]\n',
            2,
            "each line must be a JSON object",
        ),
        (b'{"x": 1}\n', 1, "unknown field 'x'"),
    ],
)
def test_bad_files_name_the_line(data: bytes, line: int, reason: str) -> None:
    found_line, found_reason = file_error(data)
    assert found_line == line
    assert reason in found_reason


def test_bad_json_and_bad_csv() -> None:
    line, reason = file_error(b'{"time_start": \n')
    assert line == 1 and reason.startswith("not valid JSON (")
    # A quoted field may hold a line break: the record is reported where it starts.
    line, reason = file_error(HEADER + b'2026-05-01 00:00:00,123,30,"two\nlines"x\n')
    assert line == 2 and reason.startswith("bad CSV: ")
    line, reason = file_error(HEADER + b'2026-05-01 00:00:00,123,30,"a\nb\nc\n1,2",\n')
    assert line == 2 and "fields, the header has 4" in reason


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (HEADER.replace(b"\n", b"\r") + b"2026-05-01 00:00:00,123,30,x\r", 1),  # old Mac
        (HEADER + b"2026-05-01 00:00:00,123,30,a\rb\n", 2),
    ],
)
def test_a_bare_carriage_return_outside_quotes_is_named(data: bytes, line: int) -> None:
    found_line, reason = file_error(data)
    assert found_line == line
    assert "a carriage return (\\r) outside quotes: end lines with \\n or \\r\\n" in reason
    assert "universal" not in reason


@given(
    st.text(
        alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
        min_size=1,
    )
)
def test_any_text_without_nul_survives_a_csv_round_trip(name: str) -> None:
    out = io.StringIO()
    # RFC 4180's CRLF: Python's writer quotes a value holding \r only when \r ends lines.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["time_start", "did_number", "duration", "source_name"])
    writer.writerow(["2026-05-01 00:00:00", "123", "1", name])
    [[row]] = read(out.getvalue().encode())
    assert row[IN_NAMES.index("source_name")] == name
