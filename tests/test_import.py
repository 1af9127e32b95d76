"""`cdrex cdrs import` and `cdrex cdrs generate` end to end, through real subprocesses.

What was stored is read back from the database directly, and once through an export file
downloaded from the running server (2017-09-18 columns, amounts with 3 decimals).
"""

from __future__ import annotations

import gzip
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from cdrex.cdrs.records import INBOUND_FIELDS
from conftest import (
    JSONAPI,
    Service,
    assert_cli_error,
    create_account,
    create_export,
    month_back,
    run_sql,
    wait_completed,
)

NULL_RECORD = {field.name: None for field in INBOUND_FIELDS}
# The files below are written with calls of May 2026; they are imported, and expected
# back, moved to last month: cdrex refuses calls older than the months it keeps.
WRITTEN, MOVED = "2026-05", "{:04d}-{:02d}".format(*month_back(1))


def moved(content: bytes) -> bytes:
    return content.replace(WRITTEN.encode(), MOVED.encode())


@pytest.fixture(scope="module")
def rejecting(cli_service: Service) -> str:
    """The account the rejected files are imported into: it must stay empty."""
    return create_account(cli_service, "imp")


def import_file(service: Service, account: str, content: bytes, suffix: str = ".csv", **kw):  # type: ignore[no-untyped-def]
    path = service.data_dir / f"import-{uuid.uuid4().hex[:8]}{suffix}"
    path.write_bytes(moved(content))
    return service.cli("cdrs", "import", str(path), "--account", account, **kw)


def import_stdin(service: Service, account: str, content: bytes, **kw):  # type: ignore[no-untyped-def]
    return service.cli("cdrs", "import", "-", "--account", account, input=moved(content), **kw)


def _utc_text(value: object) -> object:
    """Timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC, whichever backend stored them."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def stored(service: Service, account: str) -> list[dict]:
    """The account's CDRs as field -> value, in insertion order, read with plain SQL."""
    columns = ", ".join(f"c.{field.name}" for field in INBOUND_FIELDS)
    rows = run_sql(
        service,
        f"SELECT {columns} FROM cdrs_in c JOIN accounts a ON a.id = c.account_id"
        " WHERE a.name = :name ORDER BY c.id",
        name=account,
    )
    return [
        {field.name: _utc_text(value) for field, value in zip(INBOUND_FIELDS, row, strict=True)}
        for row in rows
    ]


def record(**values: object) -> dict:
    """A stored record: the given values, every other field null."""
    return {
        **NULL_RECORD,
        **{
            name: value.replace(WRITTEN, MOVED) if isinstance(value, str) else value
            for name, value in values.items()
        },
    }


# --- files that import ---------------------------------------------------------------------

# The header names a subset of the fields, in an order of its own. Quoted fields hold
# commas, doubled quotes, a line break and non-ASCII text; an empty field is null, `""`
# too (CSV cannot tell them apart). Timestamps: Z, +02:00, and the space form meaning UTC.
CSV_FILE = """\
duration,pstn_amount,source_name,time_start,did_number,time_end,total_amount,customer_id,source,response
60,0.123456,"Smith, John",2026-05-01T10:00:00Z,441234567890,2026-05-01T10:01:00Z,-1.5,,12345,Bye
0,0,"Robert ""Bob"" Jones
Line two, ünïcödé 李小龙",2026-05-01T12:30:00+02:00,441234567891,,7,cust-7,,"Busy, here"
5,1,,2026-05-01 10:00:00,441234567892,2026-05-01 10:00:05.250000,0.5,,"",
""".encode()


def test_csv_file_with_its_own_field_order_and_quoting(cli_service: Service) -> None:
    account = create_account(cli_service, "imp")
    done = import_file(cli_service, account, CSV_FILE)
    assert done.stdout.decode() == f"imported 3 CDRs into account {account}\n"
    assert "Traceback" not in done.stderr.decode()
    assert stored(cli_service, account) == [
        record(
            duration=60, pstn_amount=123456, source_name="Smith, John",
            time_start="2026-05-01 10:00:00.000000", did_number="441234567890",
            time_end="2026-05-01 10:01:00.000000", total_amount=-1500000,
            source="12345", response="Bye",
        ),
        record(
            duration=0, pstn_amount=0,
            source_name='Robert "Bob" Jones\nLine two, ünïcödé 李小龙',
            time_start="2026-05-01 10:30:00.000000", did_number="441234567891",
            total_amount=7000000, customer_id="cust-7", response="Busy, here",
        ),
        record(
            duration=5, pstn_amount=1000000, time_start="2026-05-01 10:00:00.000000",
            did_number="441234567892", time_end="2026-05-01 10:00:05.250000",
            total_amount=500000,
        ),
    ]  # fmt: skip


# In JSON Lines null is null and "" is an empty string; amounts and integers may be JSON
# numbers or strings; blank lines are skipped.
JSONL_FILE = b"""\
{"time_start": "2026-05-02T00:00:00Z", "did_number": "441234567890", "duration": "30", \
"source": "", "source_name": null, "attempt": 2, "disconnect_code": "486", \
"pstn_amount": 0.000001, "sell_amount": "12.345678", "tollfree_amount": 3, \
"source_country": "Deutschland \\u00fc", "status": "Failed"}

{"did_number": "441234567891", "time_start": "2026-05-02 00:00:00.500000", "duration": 0, \
"response": "\\"quoted\\", and\\nnewline", "cnam_amount": "-0.000001"}
"""


def test_jsonl_from_stdin_keeps_empty_strings_apart_from_null(cli_service: Service) -> None:
    account = create_account(cli_service, "imp")
    done = import_stdin(cli_service, account, JSONL_FILE)
    assert done.stdout.decode() == f"imported 2 CDRs into account {account}\n"
    assert stored(cli_service, account) == [
        record(
            time_start="2026-05-02 00:00:00.000000", did_number="441234567890", duration=30,
            source="", attempt=2, disconnect_code=486, pstn_amount=1,
            sell_amount=12345678, tollfree_amount=3000000,
            source_country="Deutschland ü", status="Failed",
        ),
        record(
            did_number="441234567891", time_start="2026-05-02 00:00:00.500000", duration=0,
            response='"quoted", and\nnewline', cnam_amount=-1,
        ),
    ]  # fmt: skip


def test_csv_from_stdin_with_byte_order_mark_and_crlf(cli_service: Service) -> None:
    account = create_account(cli_service, "imp")
    content = (
        b"\xef\xbb\xbftime_start,did_number,duration,source_name\r\n"
        b'2026-05-03T00:00:00Z,441234567890,1,"two\r\nlines"\r\n'
    )
    assert import_stdin(cli_service, account, content).stdout.startswith(b"imported 1 CDRs")
    assert stored(cli_service, account) == [
        record(
            time_start="2026-05-03 00:00:00.000000",
            did_number="441234567890",
            duration=1,
            source_name="two\r\nlines",
        )
    ]


def test_header_alone_imports_nothing_and_succeeds(cli_service: Service) -> None:
    account = create_account(cli_service, "imp")
    done = import_stdin(cli_service, account, b"time_start,did_number,duration\n")
    assert done.stdout.decode() == f"imported 0 CDRs into account {account}\n"


# --- files that are refused, whole -----------------------------------------------------------

HEADER = "time_start,did_number,duration"
GOOD_ROW = "2026-05-04 00:00:00,441234567890,1"
JSON_ROW = '{"time_start": "2026-05-04T00:00:00Z", "did_number": "441234567890", "duration": 1}'


def lines(*rows: str) -> bytes:
    return "".join(row + "\n" for row in rows).encode()


REJECTED = {
    # name: (file content, line reported, what the message says)
    "bad row after a field spanning lines": (
        lines(
            "time_start,did_number,duration,source_name",
            f'{GOOD_ROW},"one',
            "two",
            'three"',
            f"{GOOD_ROW},plain",
            "2026-05-04 00:00:00,441234567890,abc,x",
        ),
        6,
        "duration: 'abc' is not an integer",
    ),
    "bad row in a later batch": (
        lines(HEADER, *[GOOD_ROW] * 7000, "2026-05-04 00:00:00,441234567890,-1"),
        7002,
        "duration: must be at least 0",
    ),
    "unknown header field": (lines(HEADER + ",colour", GOOD_ROW + ",red"), 1, "'colour'"),
    "required field not in header": (lines("time_start,did_number", GOOD_ROW[:-2]), 1, "duration"),
    "header names a field twice": (lines(HEADER + ",duration", GOOD_ROW + ",1"), 1, "twice"),
    "required field empty": (
        lines(HEADER, GOOD_ROW, "2026-05-04 00:00:00,,1"),
        3,
        "did_number is required",
    ),
    "jsonl required field missing": (
        lines(JSON_ROW, '{"did_number": "441234567890", "duration": 1}'),
        2,
        "time_start",
    ),
    "jsonl required field null": (
        lines(JSON_ROW, JSON_ROW.replace('"441234567890"', "null")),
        2,
        "did_number is required",
    ),
    "jsonl empty string is not null": (
        lines(JSON_ROW.replace('"441234567890"', '""')),
        1,
        "did_number: '' is malformed",
    ),
    "jsonl empty amount": (lines(JSON_ROW[:-1] + ', "pstn_amount": ""}'), 1, "pstn_amount"),
    "jsonl not json": (lines(JSON_ROW, JSON_ROW, "{oops"), 3, "not valid JSON"),
    "jsonl unknown field": (lines(JSON_ROW[:-1] + ', "account": "x"}'), 1, "'account'"),
    "amount with 7 decimals": (
        lines(HEADER + ",pstn_amount", GOOD_ROW + ",0.1234567"),
        2,
        "more than 6 fractional",
    ),
    "timestamp without zone": (
        lines(HEADER, "2026-05-04T00:00:00,441234567890,1"),
        2,
        "no time zone",
    ),
    "timestamp out of range": (lines(HEADER, "2026-13-04 00:00:00,441234567890,1"), 2, "month"),
    "integer out of range": (lines(HEADER, GOOD_ROW + "0000000000"), 2, "out of range"),
    "did with a plus": (lines(HEADER, "2026-05-04 00:00:00,+441234567890,1"), 2, "malformed"),
    "too many fields": (lines(HEADER, GOOD_ROW + ",1"), 2, "4 fields, the header has 3"),
    "unterminated quote": (lines(HEADER, GOOD_ROW, '2026-05-04 00:00:00,"44,1'), 3, "bad CSV"),
    "nul byte": (lines(HEADER, GOOD_ROW, GOOD_ROW + "\0"), 3, "NUL"),
    "empty file": (b"", 1, "empty"),
    "blank lines only": (b"\n  \n", 1, "empty"),
}


@pytest.mark.parametrize("name", REJECTED)
def test_bad_file_imports_nothing_and_names_the_line(
    cli_service: Service, rejecting: str, name: str
) -> None:
    content, line, reason = REJECTED[name]
    failed = import_file(cli_service, rejecting, content, check=False)
    assert_cli_error(failed, f": line {line}: ", reason, "nothing was imported")
    assert stored(cli_service, rejecting) == []


def test_non_utf8_byte_is_reported_on_its_own_line(cli_service: Service, rejecting: str) -> None:
    # 30 KB of good rows first: decoding in chunks would blame an earlier line
    good = lines(HEADER + ",source_name", *[GOOD_ROW + ",Müller"] * 600)
    failed = import_stdin(
        cli_service, rejecting, good + "a,b,c,Müller\n".encode("latin-1"), check=False
    )
    assert_cli_error(failed, "<stdin>: line 602: not UTF-8", "0xfc at column 8")
    assert stored(cli_service, rejecting) == []


def test_unknown_account_is_refused_before_reading(cli_service: Service) -> None:
    failed = import_stdin(cli_service, "no-such-account", lines(HEADER, GOOD_ROW), check=False)
    assert_cli_error(failed, "no account named 'no-such-account'")


# --- what an export shows of imported calls ----------------------------------------------------


def test_imported_calls_in_a_2017_export(cli_service: Service) -> None:
    account = create_account(cli_service, "imp")
    key = cli_service.cli("keys", "create", "--account", account).stdout.decode().strip()
    month = datetime.now(UTC).strftime("%Y-%m")
    jsonl = "\n".join(
        [
            # 02:00+02:00 on the 1st is the first instant of the month in UTC: included
            f'{{"time_start": "{month}-01T02:00:00+02:00", "did_number": "100", "duration": 1,'
            ' "source": "", "tollfree_amount": "0.0005", "pstn_amount": "-0.0005",'
            ' "metered_amount": "0.0004", "sell_amount": 1.2345}',
            f'{{"time_start": "{month}-02 10:00:00.123456", "did_number": "200", "duration": 0,'
            ' "source": "Smith, \\"J\\"\\nnext", "destination": "sip:200@example.com",'
            ' "disconnect_initiator": "Destination", "disconnect_code": 486,'
            ' "response": "Busy, here", "tollfree_amount": "2.9995", "pstn_amount": "-2.9995",'
            ' "metered_amount": "123456.7894", "customer_id": "Ünïcødé", "sell_amount": "0"}',
            f'{{"time_start": "{month}-03T10:00:00Z", "did_number": "300", "duration": 42}}',
            # 01:30+02:00 on the 1st is still the previous month in UTC: left out
            f'{{"time_start": "{month}-01T01:30:00+02:00", "did_number": "400", "duration": 1}}',
        ]
    )
    import_file(cli_service, account, jsonl.encode(), suffix=".jsonl")
    with cli_service.client(key) as client:
        export = wait_completed(client, create_export(client)["id"])
        download = client.get(export["attributes"]["url"])
    assert download.status_code == 200, download.text
    assert download.text == (
        "Date/Time (UTC),Source,DID,Destination,Duration (secs),Disconnect Initiator,"
        "Disconnect Code,Response,TollFree Amount (USD),Termination Amount (USD),"
        "Metered Channels Amount (USD),Customer ID,Sell Amount (Points)\n"
        f"{month}-03 10:00:00,,300,,42,,,,,,,,\n"
        f'{month}-02 10:00:00,"Smith, ""J""\nnext",200,sip:200@example.com,0,Destination,486,'
        '"Busy, here",3.000,-3.000,123456.789,Ünïcødé,0.000\n'
        f'{month}-01 00:00:00,"",100,,1,,,,0.001,-0.001,0.000,,1.235\n'
    )


def test_imported_outbound_calls_in_a_2026_export(cli_service: Service) -> None:
    """`--type cdr_out`: the outbound record format in, the 2026-04-16 outbound file out,
    one trunk's calls selected by `voice_out_trunk.id` (given in capitals)."""
    account = create_account(cli_service, "out")
    key = cli_service.cli("keys", "create", "--account", account).stdout.decode().strip()
    cli_service.cli("accounts", "update", account, "--api-version", "2026-04-16")
    month = datetime.now(UTC).strftime("%Y-%m")
    trunk, other = "0f0e0d0c-0b0a-4987-8654-3210fedcba98", str(uuid.uuid4())
    csv = (
        "time_start,voice_out_trunk_id,voice_out_trunk,destination_number,duration,"
        "billing_duration,rate,charged,disconnect_reason,status,call_id\n"
        f"{month}-01 00:00:00,{trunk.upper()},Trunk A,4930111,59,60,0.0105,0.0105,"
        '"Normal, clearing",Completed,c1\n'
        f"{month}-02 08:00:00,{other},Trunk B,4930222,10,60,0.01,0.01,,Completed,c2\n"
        f"{month}-03 09:30:00,{trunk},Trunk A,4930333,0,,,,Busy,Failed,c3\n"
    )
    path = cli_service.data_dir / f"out-{uuid.uuid4().hex[:8]}.csv"
    path.write_bytes(csv.encode())
    done = cli_service.cli("cdrs", "import", str(path), "--account", account, "--type", "cdr_out")
    assert done.stdout.decode().strip() == f"imported 3 CDRs into account {account}"
    assert run_sql(
        cli_service,
        "SELECT count(*) FROM cdrs_in JOIN accounts a ON a.id = account_id WHERE a.name = :n",
        n=account,
    ) == [(0,)]
    with cli_service.client(key) as client:
        response = client.post(
            "/v3/exports",
            headers={"Content-Type": JSONAPI},
            json={
                "data": {
                    "type": "exports",
                    "attributes": {
                        "export_type": "cdr_out",
                        "filters": {
                            "from": f"{month}-01 00:00:00",
                            "to": "2099-01-01 00:00:00",
                            "voice_out_trunk.id": trunk.upper(),
                        },
                    },
                }
            },
        )
        assert response.status_code == 201, response.text
        export_id = response.json()["data"]["id"]
        deadline = time.monotonic() + 30
        while (data := client.get(f"/v3/exports/{export_id}").json()["data"])["attributes"][
            "status"
        ] != "completed":
            assert time.monotonic() < deadline, data
            time.sleep(0.05)
        download = client.get(data["attributes"]["url"])
    assert gzip.decompress(download.content).decode() == (
        "Date/Time Start (UTC),Date/Time Connect (UTC),Date/Time End (UTC),Status,Source,CLI,"
        "Destination Number,Call Duration (sec),Billing Duration (sec),Disconnect Code,"
        "Disconnect Reason,Voice OUT Trunk,Destination Country,Network,Call Type,Rate (USD),"
        "Charged (USD),P-Charge-Info,Call ID\n"
        f"{month}-03 09:30:00,,,Failed,,,4930333,0,,,Busy,Trunk A,,,,,,,c3\n"
        f'{month}-01 00:00:00,,,Completed,,,4930111,59,60,,"Normal, clearing",Trunk A,,,,'
        "0.011,0.011,,c1\n"
    )


# --- generated calls ------------------------------------------------------------------------


def generate(service: Service, account: str, seed: int, until: datetime, rows: int = 3000) -> None:
    done = service.cli(
        "cdrs", "generate", "--account", account, "--rows", str(rows), "--months", "3",
        "--seed", str(seed), "--until", f"{until:%Y-%m-%d %H:%M:%S}",
    )  # fmt: skip
    assert done.stdout.decode() == f"generated {rows} CDRs for account {account}\n"


def test_generate_same_seed_same_calls(cli_service: Service) -> None:
    first, again, other = (create_account(cli_service, "imp") for _ in range(3))
    now = datetime.now(UTC)
    for account, seed in ((first, 5), (again, 5), (other, 6)):
        generate(cli_service, account, seed, now)
    calls = stored(cli_service, first)
    assert calls == stored(cli_service, again)
    assert calls != stored(cli_service, other)
    assert len(calls) == 3000

    oldest = f"{now.year - (now.month <= 2)}-{(now.month - 3) % 12 + 1:02}-01"
    starts = [call["time_start"] for call in calls]
    assert oldest <= min(starts) and max(starts) <= now.strftime("%Y-%m-%d %H:%M:%S")
    # an equal share in each month, the current one included however early in it
    months = Counter(start[:7] for start in starts)
    assert sorted(months.values()) == [1000] * 3, months
    names = {call["source_name"] for call in calls}
    assert None in names and "" in names
    assert any("," in name for name in names if name)
    assert any('"' in name for name in names if name)
    assert any(not name.isascii() for name in names if name)
    assert {call["status"] for call in calls} == {"Completed", "Failed"}


def test_generate_into_unknown_account_fails_cleanly(cli_service: Service) -> None:
    failed = cli_service.cli("cdrs", "generate", "--account", "no-such-account", check=False)
    assert_cli_error(failed, "no account named 'no-such-account'")
