"""The outbound CDR record format (`cdr_out`): parsing CSV and JSON Lines files against
OUTBOUND_FIELDS, and the synthetic outbound generator.

Pure functions only: no database, no server, no subprocess.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, datetime

import pytest

from cdrex.cdrs.files import BadCdrFile, read_records
from cdrex.cdrs.generate import generate_outbound, outbound_trunks
from cdrex.cdrs.records import (
    INBOUND_FIELDS,
    OUTBOUND_BY_NAME,
    OUTBOUND_FIELDS,
    Field,
    Kind,
)
from cdrex.exports.kinds import KINDS
from cdrex.exports.model import ExportType

NOW = datetime(2026, 5, 17, 13, 5, tzinfo=UTC)
TRUNK = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f708192"


def parse(content: str | bytes) -> list[tuple]:
    """Every record of a file, parsed against OUTBOUND_FIELDS."""
    data = content.encode() if isinstance(content, str) else content
    stream = io.BytesIO(data)
    return [record for batch in read_records(stream, OUTBOUND_FIELDS) for record in batch]


def record(**values: object) -> tuple:
    """An outbound record tuple: the given values, every other field null."""
    assert set(values) <= set(OUTBOUND_BY_NAME)
    return tuple(values.get(field.name) for field in OUTBOUND_FIELDS)


def cell(field: Field, value: object) -> str:
    """A parsed value as the record format writes it in CSV (null is an empty field)."""
    if value is None:
        return ""
    if field.kind is Kind.AMOUNT:
        whole, fraction = divmod(abs(value), 1_000_000)  # type: ignore[arg-type]
        return f"{'-' if value < 0 else ''}{whole}.{fraction:06d}"  # type: ignore[operator]
    if field.kind is Kind.TIMESTAMP:
        return value.isoformat(" ")  # type: ignore[attr-defined]  # space form means UTC
    return str(value)


def to_csv(records: list[tuple]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([field.name for field in OUTBOUND_FIELDS])
    for values in records:
        writer.writerow([cell(f, v) for f, v in zip(OUTBOUND_FIELDS, values, strict=True)])
    return out.getvalue().encode()


def test_fields_follow_the_spec_table() -> None:
    assert [field.name for field in OUTBOUND_FIELDS] == [
        "time_start", "time_connect", "time_end", "voice_out_trunk_id", "voice_out_trunk",
        "source", "cli", "destination_number", "status", "duration", "billing_duration",
        "disconnect_code", "disconnect_reason", "destination_country", "network",
        "call_type", "rate", "charged", "p_charge_info", "call_id",
    ]  # fmt: skip
    required = {field.name for field in OUTBOUND_FIELDS if field.required}
    assert required == {"time_start", "voice_out_trunk_id", "destination_number", "duration"}
    assert {kind: KINDS[kind].fields for kind in KINDS} == {
        ExportType.CDR_IN: INBOUND_FIELDS,
        ExportType.CDR_OUT: OUTBOUND_FIELDS,
    }


# --- files that parse ----------------------------------------------------------------------

# A subset of the fields in an order of its own; quoted fields hold commas, doubled quotes
# and a line break; an upper-case trunk id is stored in lower case; an empty field is null.
# (Single quotes: the doubled CSV quotes would end a string in triple double quotes.)
CSV_FILE = f'''\
duration,destination_number,voice_out_trunk_id,time_start,rate,charged,disconnect_reason,cli
61,4930123456,{TRUNK.upper()},2026-05-01T10:00:00Z,0.012345,0.025,"Busy, ""here""",
0,14155550100,{TRUNK},2026-05-01 12:30:00+02:00,-1,0,"two
lines",anonymous
'''


def test_csv_file_parses_into_outbound_tuples() -> None:
    assert parse(CSV_FILE) == [
        record(
            duration=61, destination_number="4930123456", voice_out_trunk_id=TRUNK,
            time_start=datetime(2026, 5, 1, 10), rate=12345, charged=25000,
            disconnect_reason='Busy, "here"',
        ),
        record(
            duration=0, destination_number="14155550100", voice_out_trunk_id=TRUNK,
            time_start=datetime(2026, 5, 1, 10, 30), rate=-1_000_000, charged=0,
            disconnect_reason="two\nlines", cli="anonymous",
        ),
    ]  # fmt: skip


# JSON Lines: numbers or strings for integers and amounts; "" stays an empty string.
JSONL_FILE = f"""\
{{"time_start": "2026-05-02T00:00:00Z", "voice_out_trunk_id": "{TRUNK}", \
"destination_number": "442071234567", "duration": 30, "billing_duration": "60", \
"disconnect_code": 200, "rate": 0.0085, "charged": "0.0085", "source": "", \
"p_charge_info": "<sip:123@example.net>;npi=ISDN", "status": "Completed"}}

{{"voice_out_trunk_id": "{TRUNK.upper()}", "destination_number": "81312345678", \
"duration": "0", "time_start": "2026-05-02 00:00:00.500000", "call_id": null}}
"""


def test_jsonl_file_parses_into_outbound_tuples() -> None:
    assert parse(JSONL_FILE) == [
        record(
            time_start=datetime(2026, 5, 2), voice_out_trunk_id=TRUNK,
            destination_number="442071234567", duration=30, billing_duration=60,
            disconnect_code=200, rate=8500, charged=8500, source="",
            p_charge_info="<sip:123@example.net>;npi=ISDN", status="Completed",
        ),
        record(
            voice_out_trunk_id=TRUNK, destination_number="81312345678", duration=0,
            time_start=datetime(2026, 5, 2, 0, 0, 0, 500000),
        ),
    ]  # fmt: skip


# --- files that are rejected ---------------------------------------------------------------

HEADER = "time_start,voice_out_trunk_id,destination_number,duration"
GOOD_ROW = f"2026-05-01T10:00:00Z,{TRUNK},4930123456,5"


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        pytest.param(
            f"time_start,voice_out_trunk_id,duration\n2026-05-01T10:00:00Z,{TRUNK},5\n",
            1, "header: required field 'destination_number' is missing",
            id="required-field-not-in-header",
        ),
        pytest.param(
            f"{HEADER}\n{GOOD_ROW}\n2026-05-01T10:00:00Z,,4930123456,5\n",
            3, "voice_out_trunk_id is required", id="required-field-empty",
        ),
        pytest.param(
            f"{HEADER}\n2026-05-01T10:00:00Z,{TRUNK[:-1]},4930123456,5\n",
            2, f"voice_out_trunk_id: {TRUNK[:-1]!r} is malformed", id="short-uuid",
        ),
        pytest.param(
            f"{HEADER}\n2026-05-01T10:00:00Z,{{{TRUNK}}},4930123456,5\n",
            2, f"voice_out_trunk_id: {'{' + TRUNK + '}'!r} is malformed", id="braced-uuid",
        ),
        pytest.param(
            f"{HEADER}\n2026-05-01T10:00:00Z,{TRUNK.replace('-', '')},4930123456,5\n",
            2, "voice_out_trunk_id: ", id="uuid-without-dashes",
        ),
        pytest.param(
            f"{HEADER}\n2026-05-01T10:00:00Z,{'g' + TRUNK[1:]},4930123456,5\n",
            2, "voice_out_trunk_id: ", id="uuid-not-hex",
        ),
        pytest.param(
            f"{HEADER}\n{GOOD_ROW}\n2026-05-01T10:00:00Z,{TRUNK},4930123456,-1\n",
            3, "duration: must be at least 0", id="negative-duration",
        ),
        pytest.param(
            f"{HEADER},billing_duration\n{GOOD_ROW},-5\n",
            2, "billing_duration: must be at least 0", id="negative-billing-duration",
        ),
        pytest.param(
            f"{HEADER},did_number\n{GOOD_ROW},441234567890\n",
            1, "header: unknown field 'did_number'", id="inbound-field-in-header",
        ),
        pytest.param(
            f'{{"time_start": "2026-05-01T10:00:00Z", "voice_out_trunk_id": "{TRUNK}", '
            '"destination_number": "1", "duration": 1, "trunk": "x"}\n',
            1, "unknown field 'trunk'", id="jsonl-unknown-field",
        ),
        pytest.param(
            f'{{"time_start": "2026-05-01T10:00:00Z", "voice_out_trunk_id": "{TRUNK}", '
            '"duration": 1}\n',
            1, "destination_number is required", id="jsonl-required-field-absent",
        ),
        pytest.param(
            '{"time_start": "2026-05-01T10:00:00Z", "voice_out_trunk_id": 42, '
            '"destination_number": "1", "duration": 1}\n',
            1, "voice_out_trunk_id: must be a string", id="jsonl-uuid-not-a-string",
        ),
    ],
)  # fmt: skip
def test_bad_outbound_files_are_rejected(content: str, line: int, reason: str) -> None:
    with pytest.raises(BadCdrFile) as caught:
        parse(content)
    assert caught.value.line == line
    assert caught.value.reason.startswith(reason), caught.value.reason


# --- the generator -------------------------------------------------------------------------


def test_generate_outbound_is_deterministic() -> None:
    first = list(generate_outbound(500, 3, NOW, seed=7))
    assert first == list(generate_outbound(500, 3, NOW, seed=7))
    assert first != list(generate_outbound(500, 3, NOW, seed=8))
    # Same day, later hour: the same calls (the window ends at the start of the day).
    assert first == list(generate_outbound(500, 3, NOW.replace(hour=23), seed=7))


@pytest.mark.parametrize(
    ("now", "months", "first", "end"),
    [
        (NOW, 3, datetime(2026, 3, 1), datetime(2026, 5, 17)),
        (NOW, 1, datetime(2026, 5, 1), datetime(2026, 5, 17)),
        # On the first of a month the current month still gets its share, up to now.
        (datetime(2026, 1, 1, 9, 30, tzinfo=UTC), 2, datetime(2025, 12, 1),
         datetime(2026, 1, 1, 9, 30)),
        (datetime(2026, 12, 1, 0, 5, tzinfo=UTC), 3, datetime(2026, 10, 1),
         datetime(2026, 12, 1, 0, 5)),
        (datetime(2026, 12, 31, 23, 55, tzinfo=UTC), 3, datetime(2026, 10, 1),
         datetime(2026, 12, 31)),
    ],
)  # fmt: skip
def test_generate_outbound_fills_the_month_window(
    now: datetime, months: int, first: datetime, end: datetime
) -> None:
    records = list(generate_outbound(2000, months, now, seed=3))
    assert len(records) == 2000
    starts = [values[0] for values in records]
    assert starts == sorted(starts)  # oldest first
    assert first <= starts[0] and starts[-1] < end
    assert all(start.tzinfo is None for start in starts)  # naive UTC, as the parser gives
    # An equal share in every month of the window, however early in the current one.
    shares = Counter((start.year, start.month) for start in starts)
    assert len(shares) == months and max(shares.values()) - min(shares.values()) <= 1, shares


def test_generate_outbound_uses_the_trunks_it_exposes() -> None:
    trunks = outbound_trunks(seed=5, trunks=3)
    assert [name for _, name in trunks] == [f"Voice OUT Trunk {n}" for n in (1, 2, 3)]
    assert len({trunk_id for trunk_id, _ in trunks}) == 3
    assert outbound_trunks(seed=6, trunks=3) != trunks  # each seed (account) its own
    used = {(values[3], values[4]) for values in generate_outbound(300, 1, NOW, 5, trunks=3)}
    assert used == set(trunks)


def test_generated_calls_are_consistent() -> None:
    by = {name: n for n, name in enumerate(OUTBOUND_BY_NAME)}
    records = list(generate_outbound(3000, 2, NOW, seed=11))
    failed = [values for values in records if values[by["status"]] == "Failed"]
    assert 0.1 < len(failed) / len(records) < 0.3
    for values in failed:
        assert values[by["duration"]] == values[by["billing_duration"]] == 0
        assert values[by["charged"]] == 0
        assert values[by["time_connect"]] is None and values[by["time_end"]] is None
        assert values[by["disconnect_code"]] >= 400
    for values in records:
        billed, rate = values[by["billing_duration"]], values[by["rate"]]
        assert billed >= values[by["duration"]] >= 0
        assert values[by["charged"]] == (rate * billed + 30) // 60  # rate is per minute
    reasons = {values[by["disconnect_reason"]] for values in records}
    assert any("," in reason and '"' in reason for reason in reasons)  # exercises quoting


def test_generated_records_round_trip_through_the_csv_format() -> None:
    records = list(generate_outbound(2000, 3, NOW, seed=2))
    for values in records:
        for field, value in zip(OUTBOUND_FIELDS, values, strict=True):
            assert value != ""  # CSV could not give it back: "" reads as null
            assert value is not None or not field.required
    assert parse(to_csv(records)) == records
