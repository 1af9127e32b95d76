"""GET /v3/cdr_exports/{file}.csv (2017-09-18): the file's bytes (header, value formats,
RFC 4180 quoting, order, month and DID selection), and the HTTP around it: HEAD, Range,
ETag / If-None-Match, Content-Disposition, independence from Accept, and the 404s."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import (
    JSONAPI,
    Service,
    assert_error,
    create_export,
    month_back,
    new_accounts,
    run_sql,
    send_without,
    wait_completed,
)

HEADER = (
    "Date/Time (UTC),Source,DID,Destination,Duration (secs),Disconnect Initiator,"
    "Disconnect Code,Response,TollFree Amount (USD),Termination Amount (USD),"
    "Metered Channels Amount (USD),Customer ID,Sell Amount (Points)"
)
DID, OTHER_DID = "441234567890", "449999999999"

# The month the imported calls are in: the previous one, so that every call is in the past.
YEAR, MONTH = month_back(1)
P = f"{YEAR}-{MONTH:02d}"
NEXT_MONTH_START = "{}-{:02d}-01 00:00:00".format(*month_back(0))
LAST_SECOND_BEFORE = f"{datetime(YEAR, MONTH, 1) - timedelta(seconds=1):%Y-%m-%d %H:%M:%S}"

IMPORT_FIELDS = (
    "time_start",
    "did_number",
    "source",
    "destination",
    "duration",
    "disconnect_initiator",
    "disconnect_code",
    "response",
    "tollfree_amount",
    "pstn_amount",
    "metered_amount",
    "customer_id",
    "sell_amount",
    "source_name",
)


def _call(time_start: str, source: str, did: str = DID, duration: str = "1", **more: str) -> dict:
    return {
        "time_start": time_start,
        "did_number": did,
        "source": source,
        "duration": duration,
        **more,
    }


# Imported as CSV, in this order ("" is an empty CSV field: null).
CSV_CALLS = [
    _call(
        f"{P}-01 10:00:00",
        "Smith, John",
        duration="5",
        destination="sip:100@example.com",
        disconnect_initiator="Origination",
        disconnect_code="200",
        response="Bye",
        tollfree_amount="0",
        pstn_amount="0.0005",
        metered_amount="1.2345",
        sell_amount="2.5",
        source_name="not a 2017 column, so not exported",
    ),
    _call(
        f"{P}-02 08:30:15.999999",
        'He said "hi"',
        duration="0",
        destination="iax:324@34234234",
        disconnect_initiator="Destination",
        disconnect_code="404",
        response="Not Found",
        tollfree_amount="0",
        pstn_amount="0",
        metered_amount="0",
        customer_id="cust-1",
        sell_amount="0",
    ),
    _call(
        f"{P}-02T09:30:15+02:00",
        "line one\nline two",
        duration="61",
        destination="sip:x@example.com",
        disconnect_initiator="Origination",
        disconnect_code="487",
        response="Request Terminated, by caller",
        tollfree_amount="12345.678901",
        pstn_amount="-0.0005",
        metered_amount="0.0015",
        customer_id='a,"b"',
        sell_amount="-1.2344",
    ),
    _call(
        f"{P}-01 09:00:00",
        "+15551234567",
        did=OTHER_DID,
        duration="7",
        destination="sip:other@example.com",
        disconnect_initiator="Origination",
        disconnect_code="200",
        response="Bye",
        tollfree_amount="0.003",
        pstn_amount="0",
        metered_amount="0",
        customer_id="cust-2",
        sell_amount="0",
    ),
    _call(f"{P}-01 08:00:00", "Zoë ☃ 李", duration="2", destination="sip:ü@example.com"),
    _call(f"{P}-01 07:00:00", "a\rb"),
    _call(f"{P}-01 00:00:00", "first second", duration="3"),
]
# Calls just outside the month, and calls at the same second (of another DID, two months
# back), imported in this order after the ones above.
OUTSIDE_CALLS = [
    _call(LAST_SECOND_BEFORE, "month before", duration="4"),
    _call(NEXT_MONTH_START, "month after", duration="4"),
]
TIE_DID, TIE = "447777777777", "{}-{:02d}-10 12:00:0".format(*month_back(2))
TIE_CALLS = [
    _call(f"{TIE}0", "tie-first", did=TIE_DID),
    _call(f"{TIE}1", "tie-newer", did=TIE_DID),
    _call(f"{TIE}0", "tie-second", did=TIE_DID),
    _call(f"{TIE}0", "tie-third", did=TIE_DID),
]
# Imported as JSON Lines: the one way to give an empty string rather than null.
JSONL_CALLS = [
    {
        "time_start": f"{P}-02T20:00:00Z",
        "did_number": DID,
        "source": "",
        "duration": 3,
        "customer_id": None,
        "response": "",
    },
]


def _line(*fields: str) -> str:
    assert len(fields) == 13
    return ",".join(fields)


# The export of the month, newest call first, ties in insertion order; one entry per line
# as the raw CSV text the spec gives (null empty, "" for an empty string, RFC 4180 quotes).
EXPECTED_LINES = [
    _line(f"{P}-02 20:00:00", '""', DID, "", "3", "", "", '""', "", "", "", "", ""),
    _line(
        f"{P}-02 08:30:15",
        '"He said ""hi"""',
        DID,
        "iax:324@34234234",
        "0",
        "Destination",
        "404",
        "Not Found",
        "0.000",
        "0.000",
        "0.000",
        "cust-1",
        "0.000",
    ),
    _line(
        f"{P}-02 07:30:15",
        '"line one\nline two"',
        DID,
        "sip:x@example.com",
        "61",
        "Origination",
        "487",
        '"Request Terminated, by caller"',
        "12345.679",
        "-0.001",
        "0.002",
        '"a,""b"""',
        "-1.234",
    ),
    _line(
        f"{P}-01 10:00:00",
        '"Smith, John"',
        DID,
        "sip:100@example.com",
        "5",
        "Origination",
        "200",
        "Bye",
        "0.000",
        "0.001",
        "1.235",
        "",
        "2.500",
    ),
    _line(
        f"{P}-01 09:00:00",
        "+15551234567",
        OTHER_DID,
        "sip:other@example.com",
        "7",
        "Origination",
        "200",
        "Bye",
        "0.003",
        "0.000",
        "0.000",
        "cust-2",
        "0.000",
    ),
    _line(
        f"{P}-01 08:00:00",
        "Zoë ☃ 李",
        DID,
        "sip:ü@example.com",
        "2",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ),
    _line(f"{P}-01 07:00:00", '"a\rb"', DID, "", "1", "", "", "", "", "", "", "", ""),
    _line(f"{P}-01 00:00:00", "first second", DID, "", "3", "", "", "", "", "", "", "", ""),
]


def _file(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in [HEADER, *lines]).encode()


def _values(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline=""), strict=True))


def _write_import_files(directory: Path) -> tuple[Path, Path]:
    csv_path = directory / "calls.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, IMPORT_FIELDS)  # RFC 4180: CRLF, quotes "\r" too
        writer.writeheader()
        writer.writerows(CSV_CALLS + OUTSIDE_CALLS + TIE_CALLS)
    jsonl_path = directory / "calls.jsonl"
    jsonl_path.write_text("".join(json.dumps(call) + "\n" for call in JSONL_CALLS), "utf-8")
    return csv_path, jsonl_path


@dataclass
class Calls:
    """An account with the calls above, and an account with generated calls whose first
    export was made before it had any."""

    service: Service
    client: httpx.Client
    export: dict  # completed export of the month, all DIDs
    generated: httpx.Client
    empty_export: dict  # completed export of the current month, made before any call existed

    @property
    def url(self) -> str:
        return self.export["attributes"]["url"]


@pytest.fixture(scope="module")
def calls(api_service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Calls]:
    service = api_service
    (name, key), (generated_name, generated_key) = new_accounts(service, 2)
    csv_path, jsonl_path = _write_import_files(tmp_path_factory.mktemp("imports"))
    service.cli("cdrs", "import", str(csv_path), "--account", name)
    service.cli("cdrs", "import", str(jsonl_path), "--account", name)
    with service.client(key) as client, service.client(generated_key) as generated:
        empty = wait_completed(generated, create_export(generated)["id"])
        service.cli(
            "cdrs", "generate", "--account", generated_name, "--rows", "300", "--months", "3"
        )
        export = wait_completed(client, create_export(client, months_back=1)["id"])
        yield Calls(service, client, export, generated, empty)


def test_file_has_the_2017_header_values_and_order(calls: Calls) -> None:
    response = calls.client.get(calls.url)
    assert response.status_code == 200
    assert response.content.split(b"\n", 1)[0] == HEADER.encode()
    assert response.content == _file(EXPECTED_LINES)


def test_file_parses_back_to_the_imported_values(calls: Calls) -> None:
    rows = _values(calls.client.get(calls.url).content)
    assert rows[0] == HEADER.split(",")
    by_source = {row[1]: row for row in rows[1:]}
    assert len(by_source) == len(EXPECTED_LINES)
    for call in CSV_CALLS:
        row = by_source[call["source"]]
        assert row[2] == call["did_number"]
        assert row[3] == call.get("destination", "")
        assert row[7] == call.get("response", "")
        assert row[11] == call.get("customer_id", "")
    assert by_source["line one\nline two"][11] == 'a,"b"'
    assert by_source['He said "hi"'][0] == f"{P}-02 08:30:15"
    assert by_source["line one\nline two"][0] == f"{P}-02 07:30:15"  # +02:00 made UTC
    assert by_source[""][7] == ""


def test_file_selects_the_did_number(calls: Calls) -> None:
    export = create_export(calls.client, months_back=1, did_number=DID)
    body = calls.client.get(wait_completed(calls.client, export["id"])["attributes"]["url"])
    lines = [line for line in EXPECTED_LINES if f",{OTHER_DID}," not in line]
    assert len(lines) == len(EXPECTED_LINES) - 1
    assert body.content == _file(lines)


def test_file_selects_the_month_on_call_start(calls: Calls) -> None:
    before = create_export(calls.client, months_back=2, did_number=DID)
    after = create_export(calls.client, months_back=0)
    before_file = calls.client.get(wait_completed(calls.client, before["id"])["attributes"]["url"])
    after_file = calls.client.get(wait_completed(calls.client, after["id"])["attributes"]["url"])
    assert before_file.content == _file(
        [_line(LAST_SECOND_BEFORE, "month before", DID, "", "4", *[""] * 8)]
    )
    assert after_file.content == _file(
        [_line(NEXT_MONTH_START, "month after", DID, "", "4", *[""] * 8)]
    )


def test_calls_at_the_same_second_keep_their_insertion_order(calls: Calls) -> None:
    export = create_export(calls.client, months_back=2, did_number=TIE_DID)
    url = wait_completed(calls.client, export["id"])["attributes"]["url"]
    sources = [row[1] for row in _values(calls.client.get(url).content)[1:]]
    assert sources == ["tie-newer", "tie-first", "tie-second", "tie-third"]


def test_month_without_calls_is_the_header_alone(calls: Calls) -> None:
    assert calls.empty_export["attributes"]["status"] == "Completed"
    response = calls.generated.get(calls.empty_export["attributes"]["url"])
    assert response.status_code == 200
    assert response.content == (HEADER + "\n").encode()
    other = create_export(calls.client, did_number="123456789")  # a DID without calls
    url = wait_completed(calls.client, other["id"])["attributes"]["url"]
    assert calls.client.get(url).content == (HEADER + "\n").encode()


def test_two_exports_of_the_same_calls_are_byte_identical(calls: Calls) -> None:
    again = wait_completed(calls.client, create_export(calls.client, months_back=1)["id"])
    assert again["attributes"]["url"] != calls.url
    first, second = calls.client.get(calls.url), calls.client.get(again["attributes"]["url"])
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]


TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
AMOUNT = re.compile(r"^-?\d+\.\d{3}$")


def test_generated_calls_export_in_the_2017_formats(calls: Calls) -> None:
    rows_per_month = []
    for months in (0, 1, 2):
        year, month = month_back(months)
        export = create_export(calls.generated, months_back=months)
        url = wait_completed(calls.generated, export["id"])["attributes"]["url"]
        body = calls.generated.get(url).content
        assert body.endswith(b"\n")
        assert b"\r\n" not in body
        rows = _values(body)
        assert rows[0] == HEADER.split(",")
        starts = [row[0] for row in rows[1:]]
        assert starts == sorted(starts, reverse=True)  # newest first
        for row in rows[1:]:
            assert len(row) == 13
            assert TIMESTAMP.match(row[0]) and row[0].startswith(f"{year}-{month:02d}-"), row
            assert row[2].isdigit()
            assert row[3].startswith(("sip:", "iax:"))
            assert row[4].isdigit()
            assert row[6].isdigit()
            assert all(AMOUNT.match(value) for value in (row[8], row[9], row[10], row[12])), row
        rows_per_month.append(len(rows) - 1)
    assert sum(rows_per_month) == 300  # generated over exactly these three months
    assert all(rows_per_month)


def test_download_headers(calls: Calls) -> None:
    response = calls.client.get(calls.url)
    assert response.status_code == 200
    media_type, _, parameters = response.headers["content-type"].partition(";")
    assert media_type == "text/csv"
    assert parameters.strip() in ("", "charset=utf-8")
    name = calls.url.rsplit("/", 1)[1]
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert response.headers["content-length"] == str(len(response.content))
    assert re.fullmatch(r'"[^"]+"', response.headers["etag"])
    assert "content-encoding" not in response.headers


def test_head_gives_the_headers_without_the_body(calls: Calls) -> None:
    full = calls.client.get(calls.url)
    head = calls.client.head(calls.url)
    assert head.status_code == 200
    assert head.content == b""
    for header in ("content-type", "content-length", "etag", "content-disposition"):
        assert head.headers[header] == full.headers[header]


@pytest.mark.parametrize(
    ("range_", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, None),
        ("bytes=-5", -5, None),
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
    ],
)
def test_range_gives_206_with_the_slice(
    calls: Calls, range_: str, start: int, end: int | None
) -> None:
    full = calls.client.get(calls.url).content
    response = calls.client.get(calls.url, headers={"Range": range_})
    assert response.status_code == 206
    expected = full[start:] if end is None else full[start : end + 1]
    assert response.content == expected
    first = start if start >= 0 else len(full) + start
    assert response.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(full)}"
    )


def test_range_past_the_end_is_416(calls: Calls) -> None:
    size = len(calls.client.get(calls.url).content)
    response = calls.client.get(calls.url, headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"


@pytest.mark.parametrize(
    "range_",
    [
        "bytes=abc",
        "items=0-1",
        "bytes=9-2",
        "bytes=",
        "bytes",
        "0-9",
        "bytes=a-b",
        "bytes=0-1,5-6",  # several ranges: one range or the whole file (cdrex.api.ranges)
    ],
)
def test_unusable_range_is_ignored(calls: Calls, range_: str) -> None:
    """RFC 9110 §14.2: a Range the server cannot use is ignored, the whole file is sent."""
    full = calls.client.get(calls.url).content
    response = calls.client.get(calls.url, headers={"Range": range_})
    assert response.status_code == 200
    assert response.content == full


def test_range_with_stale_if_range_sends_the_whole_file(calls: Calls) -> None:
    full = calls.client.get(calls.url)
    fresh = calls.client.get(
        calls.url, headers={"Range": "bytes=0-9", "If-Range": full.headers["etag"]}
    )
    assert fresh.status_code == 206
    stale = calls.client.get(calls.url, headers={"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == full.content
    # A date is not a validator of the bytes here, even the file's own (see range_applies).
    dated = {"Range": "bytes=0-9", "If-Range": full.headers["last-modified"]}
    assert calls.client.get(calls.url, headers=dated).status_code == 200


def test_if_none_match(calls: Calls) -> None:
    etag = calls.client.get(calls.url).headers["etag"]
    for value in (etag, f"W/{etag}", "*", f'"other", {etag}'):
        for method in ("GET", "HEAD"):
            response = calls.client.request(method, calls.url, headers={"If-None-Match": value})
            assert response.status_code == 304, (value, method)
            assert response.content == b""
            assert response.headers["etag"] == etag
    for value in ('"other"', etag[:-2] + '"', ""):
        response = calls.client.get(calls.url, headers={"If-None-Match": value})
        assert response.status_code == 200, value


@pytest.mark.parametrize(
    "accept",
    [None, "text/csv", "*/*", JSONAPI, "text/html", "application/json", f"{JSONAPI}; ext=x"],
)
def test_download_does_not_depend_on_accept(calls: Calls, accept: str | None) -> None:
    expected = _file(EXPECTED_LINES)
    if accept is None:  # what the Python SDKs send: no Accept, no Content-Type
        response = send_without(calls.client, "GET", calls.url, ("accept",))
        assert "accept" not in response.request.headers
    else:
        response = calls.client.get(calls.url, headers={"Accept": accept})
    assert response.status_code == 200
    assert response.content == expected
    with_type = calls.client.get(calls.url, headers={"Content-Type": JSONAPI})
    assert with_type.status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "{uuid}.csv",
        "{file}.CSV",
        "{file}.csv.gz",
        "{FILE}.csv",
        "{export_id}.csv",
        "{file}",
        "{file}.json",
        "x.csv",
        "{file}x.csv",
        "%20{file}.csv",
        "{file}.csv%00",
    ],
)
def test_unknown_file_is_404(calls: Calls, name: str) -> None:
    file_name = calls.url.rsplit("/", 1)[1].removesuffix(".csv")
    path = name.format(
        uuid=uuid.uuid4(), file=file_name, FILE=file_name.upper(), export_id=calls.export["id"]
    )
    response = calls.client.get(f"/v3/cdr_exports/{path}")
    assert_error(response, 404, code="404")
    assert calls.client.head(f"/v3/cdr_exports/{path}").status_code == 404


def test_unfinished_export_file_is_404(calls: Calls) -> None:
    """The file is served on the export's status, not on a file being on disk: an export
    that is not completed has no file, even where one exists (here its status is set back
    in the database, with a lease no worker would take over)."""
    export = wait_completed(calls.client, create_export(calls.client, months_back=1)["id"])
    url = export["attributes"]["url"]
    full = calls.client.get(url)
    assert full.status_code == 200
    [(file_name,)] = run_sql(
        calls.service, "SELECT file_name FROM exports WHERE id = :id", id=export["id"]
    )
    assert url.endswith(f"/v3/cdr_exports/{file_name}.csv")
    unfinished = (
        "UPDATE exports SET status = :status, lease_owner = 'test', lease_expires_at = :until "
        "WHERE id = :id"
    )
    try:
        for status in ("processing", "failed"):
            run_sql(
                calls.service,
                unfinished,
                status=status,
                until=datetime(2999, 1, 1),
                id=export["id"],
            )
            shown = calls.client.get(f"/v3/cdr_exports/{export['id']}").json()["data"]
            assert shown["attributes"]["url"] is None
            if status == "processing":
                assert shown["attributes"]["status"] == "Processing"
            assert_error(calls.client.get(url), 404, code="404")
            assert calls.client.head(url).status_code == 404
    finally:
        run_sql(
            calls.service,
            "UPDATE exports SET status = 'completed', lease_owner = NULL, "
            "lease_expires_at = NULL WHERE id = :id",
            id=export["id"],
        )
    assert calls.client.get(url).content == full.content
