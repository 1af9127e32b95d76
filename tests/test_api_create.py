"""POST /v3/cdr_exports (2017-09-18): 201 with Location, filter validation (422 with a
pointer at the offending member), the exportable window, and the structural errors: 409
wrong type, 403 client id, 400 not a JSON:API document, 413 too large."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import (
    JSONAPI,
    Service,
    assert_error,
    create_body,
    month_back,
    new_accounts,
    post_export,
    wait_completed,
)

CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MIB = 1024 * 1024
YEAR, MONTH = month_back(0)
FILTERS = "/data/attributes/filters"


@pytest.fixture(scope="module")
def keys(api_service: Service) -> list[str]:
    return [key for _, key in new_accounts(api_service, 2)]


@pytest.fixture(scope="module")
def client(api_service: Service, keys: list[str]) -> Iterator[httpx.Client]:
    """A client of an account that successful creates may add exports to."""
    with api_service.client(keys[0]) as client:
        yield client


@pytest.fixture(scope="module")
def refused(api_service: Service, keys: list[str]) -> Iterator[httpx.Client]:
    """A client of an account every request of which must be refused: it never gets an
    export, so each test can check that a refusal created nothing."""
    with api_service.client(keys[1]) as client:
        yield client


def assert_nothing_created(client: httpx.Client) -> None:
    response = client.get("/v3/cdr_exports")
    assert response.status_code == 200
    assert response.json()["meta"]["total_records"] == 0


def test_create_returns_pending_export_and_location(
    api_service: Service, client: httpx.Client
) -> None:
    filters = {"year": str(YEAR), "month": str(MONTH), "did_number": "441234567890"}
    before = datetime.now(UTC)
    response = post_export(client, create_body(filters))
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == JSONAPI
    document = response.json()
    assert set(document) == {"data", "meta"}
    assert document["meta"] == {"api_version": "2017-09-18"}
    data = document["data"]
    assert set(data) == {"id", "type", "attributes"}
    assert data["type"] == "cdr_exports"
    assert UUID.match(data["id"])
    attributes = data["attributes"]
    assert set(attributes) == {"filters", "status", "created_at", "url"}
    assert attributes["filters"] == filters
    assert attributes["status"] == "Pending"
    assert attributes["url"] is None
    assert CREATED_AT.match(attributes["created_at"])
    created = datetime.strptime(attributes["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    created = created.replace(tzinfo=UTC)
    assert before - timedelta(milliseconds=1) <= created <= after
    location = f"{api_service.base_url}/v3/cdr_exports/{data['id']}"
    assert response.headers["location"] == location

    shown = client.get(location)
    assert shown.status_code == 200
    assert shown.json()["data"]["id"] == data["id"]
    assert shown.json()["data"]["attributes"]["filters"] == filters
    assert shown.json()["data"]["attributes"]["created_at"] == attributes["created_at"]

    completed = wait_completed(client, data["id"])["attributes"]
    assert completed["filters"] == filters
    assert completed["created_at"] == attributes["created_at"]
    url = completed["url"]
    assert re.fullmatch(
        re.escape(api_service.base_url) + r"/v3/cdr_exports/[0-9a-f-]{36}\.csv", url
    )
    assert data["id"] not in url


@pytest.mark.parametrize(
    ("filters", "echo"),
    [
        ({"year": YEAR, "month": MONTH}, {"year": str(YEAR), "month": str(MONTH)}),
        ({"year": str(YEAR), "month": str(MONTH)}, {"year": str(YEAR), "month": str(MONTH)}),
        (
            {"year": YEAR, "month": MONTH, "did_number": 441234567890},
            {"year": str(YEAR), "month": str(MONTH), "did_number": "441234567890"},
        ),
        (
            {"did_number": "123", "month": MONTH, "year": YEAR},
            {"year": str(YEAR), "month": str(MONTH), "did_number": "123"},
        ),
        (
            {"year": YEAR, "month": MONTH, "did_number": "1" * 15},
            {"year": str(YEAR), "month": str(MONTH), "did_number": "1" * 15},
        ),
    ],
    ids=["ints", "strings", "int-did", "short-did", "15-digit-did"],
)
def test_filter_values_are_echoed_as_strings(
    client: httpx.Client, filters: dict, echo: dict
) -> None:
    response = post_export(client, create_body(filters))
    assert response.status_code == 201, response.text
    assert response.json()["data"]["attributes"]["filters"] == echo


def test_zero_padded_month_is_accepted_and_echoed_as_sent(client: httpx.Client) -> None:
    year, month = month_back(2)
    filters = {"year": str(year), "month": f"{month:02d}"}
    response = post_export(client, create_body(filters))
    assert response.status_code == 201, response.text
    assert response.json()["data"]["attributes"]["filters"] == filters


BAD_FILTERS = [
    # (id, filters, pointer of the first error)
    ("no-year", {"month": MONTH}, f"{FILTERS}/year"),
    ("no-month", {"year": YEAR}, f"{FILTERS}/month"),
    ("year-word", {"year": "abc", "month": MONTH}, f"{FILTERS}/year"),
    ("year-empty", {"year": "", "month": MONTH}, f"{FILTERS}/year"),
    ("year-space", {"year": f" {YEAR}", "month": MONTH}, f"{FILTERS}/year"),
    ("year-decimal-string", {"year": f"{YEAR}.0", "month": MONTH}, f"{FILTERS}/year"),
    ("year-float", {"year": float(YEAR), "month": MONTH}, f"{FILTERS}/year"),
    ("year-negative", {"year": -YEAR, "month": MONTH}, f"{FILTERS}/year"),
    ("year-plus", {"year": f"+{YEAR}", "month": MONTH}, f"{FILTERS}/year"),
    ("year-true", {"year": True, "month": MONTH}, f"{FILTERS}/year"),
    ("year-null", {"year": None, "month": MONTH}, f"{FILTERS}/year"),
    ("year-list", {"year": [YEAR], "month": MONTH}, f"{FILTERS}/year"),
    ("year-object", {"year": {"value": YEAR}, "month": MONTH}, f"{FILTERS}/year"),
    ("year-fullwidth", {"year": "\uff12\uff10\uff12\uff16", "month": MONTH}, f"{FILTERS}/year"),
    ("year-5000-digits", {"year": "9" * 5000, "month": MONTH}, f"{FILTERS}/year"),
    ("month-word", {"year": YEAR, "month": "may"}, f"{FILTERS}/month"),
    ("month-0", {"year": YEAR, "month": 0}, f"{FILTERS}/month"),
    ("month-0-string", {"year": YEAR, "month": "0"}, f"{FILTERS}/month"),
    ("month-00", {"year": YEAR, "month": "00"}, f"{FILTERS}/month"),
    ("month-13", {"year": YEAR, "month": 13}, f"{FILTERS}/month"),
    ("month-13-string", {"year": YEAR, "month": "13"}, f"{FILTERS}/month"),
    ("month-negative", {"year": YEAR, "month": -1}, f"{FILTERS}/month"),
    ("month-float", {"year": YEAR, "month": 1.5}, f"{FILTERS}/month"),
    ("month-null", {"year": YEAR, "month": None}, f"{FILTERS}/month"),
    ("month-huge", {"year": YEAR, "month": 2**64 - 1}, f"{FILTERS}/month"),
    ("month-5000-digits", {"year": YEAR, "month": "1" * 5000}, f"{FILTERS}/month"),
    ("unknown-day", {"year": YEAR, "month": MONTH, "day": "1"}, f"{FILTERS}/day"),
    ("unknown-Year", {"Year": YEAR, "year": YEAR, "month": MONTH}, f"{FILTERS}/Year"),
    (
        "unknown-from",
        {"from": "2026-01-01 00:00:00", "year": YEAR, "month": MONTH},
        f"{FILTERS}/from",
    ),
    (
        "unknown-trunk",
        {"voice_out_trunk.id": str(uuid.uuid4()), "year": YEAR, "month": MONTH},
        f"{FILTERS}/voice_out_trunk.id",
    ),
    ("unknown-empty-key", {"": "1", "year": YEAR, "month": MONTH}, f"{FILTERS}/"),
    ("unknown-slash-key", {"a/b": "1", "year": YEAR, "month": MONTH}, f"{FILTERS}/a~1b"),
    ("unknown-tilde-key", {"~x": "1", "year": YEAR, "month": MONTH}, f"{FILTERS}/~0x"),
    ("did-letters", {"year": YEAR, "month": MONTH, "did_number": "abc"}, f"{FILTERS}/did_number"),
    (
        "did-plus",
        {"year": YEAR, "month": MONTH, "did_number": "+441234567890"},
        f"{FILTERS}/did_number",
    ),
    ("did-too-short", {"year": YEAR, "month": MONTH, "did_number": "12"}, f"{FILTERS}/did_number"),
    (
        "did-too-long",
        {"year": YEAR, "month": MONTH, "did_number": "1" * 16},
        f"{FILTERS}/did_number",
    ),
    ("did-empty", {"year": YEAR, "month": MONTH, "did_number": ""}, f"{FILTERS}/did_number"),
    (
        "did-spaces",
        {"year": YEAR, "month": MONTH, "did_number": "44 1234 5678"},
        f"{FILTERS}/did_number",
    ),
    (
        "did-newline",
        {"year": YEAR, "month": MONTH, "did_number": "441234567890\n"},
        f"{FILTERS}/did_number",
    ),
    (
        "did-arabic-digits",
        {"year": YEAR, "month": MONTH, "did_number": "٤٤١٢٣٤٥٦٧"},
        f"{FILTERS}/did_number",
    ),
    ("did-null", {"year": YEAR, "month": MONTH, "did_number": None}, f"{FILTERS}/did_number"),
    (
        "did-list",
        {"year": YEAR, "month": MONTH, "did_number": ["441234567890"]},
        f"{FILTERS}/did_number",
    ),
    ("did-true", {"year": YEAR, "month": MONTH, "did_number": True}, f"{FILTERS}/did_number"),
    (
        "did-nul",
        {"year": YEAR, "month": MONTH, "did_number": "4412\u00003456"},
        f"{FILTERS}/did_number",
    ),
    ("filters-string", f"{YEAR}-{MONTH}", FILTERS),
    ("filters-list", [YEAR, MONTH], FILTERS),
    ("filters-null", None, FILTERS),
    ("filters-number", 5, FILTERS),
]


@pytest.mark.parametrize(
    ("filters", "pointer"), [case[1:] for case in BAD_FILTERS], ids=[c[0] for c in BAD_FILTERS]
)
def test_invalid_filters_are_422_with_a_pointer(
    refused: httpx.Client, filters: object, pointer: str
) -> None:
    response = post_export(refused, create_body(filters))
    error = assert_error(response, 422, code="100", pointer=pointer)
    assert len(response.json()["errors"]) == 1, response.json()
    for member in ("title", "detail"):
        assert len(error[member]) < 300  # no echo of a 5000-digit value
    assert_nothing_created(refused)


def test_several_problems_are_reported_together(refused: httpx.Client) -> None:
    response = post_export(refused, create_body({"year": "x", "month": "13", "foo": 1}))
    assert_error(response, 422, code="100")
    pointers = {error["source"]["pointer"] for error in response.json()["errors"]}
    assert pointers == {f"{FILTERS}/year", f"{FILTERS}/month", f"{FILTERS}/foo"}
    response = post_export(refused, create_body({}))
    assert_error(response, 422, code="100")
    pointers = {error["source"]["pointer"] for error in response.json()["errors"]}
    assert pointers == {f"{FILTERS}/year", f"{FILTERS}/month"}
    assert_nothing_created(refused)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"data": {"type": "cdr_exports"}}, FILTERS),
        ({"data": {"type": "cdr_exports", "attributes": {}}}, FILTERS),
        ({"data": {"type": "cdr_exports", "attributes": None}}, "/data/attributes"),
        ({"data": {"type": "cdr_exports", "attributes": ["filters"]}}, "/data/attributes"),
        (
            {
                "data": {
                    "type": "cdr_exports",
                    "attributes": {
                        "filters": {"year": YEAR, "month": MONTH},
                        "callback_url": "https://x.test/",
                    },
                }
            },
            "/data/attributes/callback_url",
        ),
        (
            {
                "data": {
                    "type": "cdr_exports",
                    "attributes": {
                        "filters": {"year": YEAR, "month": MONTH},
                        "status": "Completed",
                    },
                }
            },
            "/data/attributes/status",
        ),
        (
            {
                "data": {
                    "type": "cdr_exports",
                    "attributes": {
                        "filters": {"year": YEAR, "month": MONTH},
                        "export_type": "cdr_in",
                    },
                }
            },
            "/data/attributes/export_type",
        ),
        (
            {
                "data": {
                    "type": "cdr_exports",
                    "attributes": {
                        "filters": {"year": YEAR, "month": MONTH},
                        "url": "https://x.test/a.csv",
                    },
                }
            },
            "/data/attributes/url",
        ),
        (
            {
                "data": {
                    "type": "cdr_exports",
                    "attributes": {"filters": {"year": YEAR, "month": MONTH}},
                    "relationships": {},
                }
            },
            "/data/relationships",
        ),
    ],
    ids=[
        "no-attributes",
        "no-filters",
        "attributes-null",
        "attributes-list",
        "callback_url",
        "status",
        "export_type",
        "url",
        "relationships",
    ],
)
def test_invalid_attributes_are_422_with_a_pointer(
    refused: httpx.Client, body: dict, pointer: str
) -> None:
    assert_error(post_export(refused, body), 422, code="100", pointer=pointer)
    assert_nothing_created(refused)


@pytest.mark.parametrize("months", [0, 1, 2])
def test_current_and_two_previous_months_are_exportable(client: httpx.Client, months: int) -> None:
    year, month = month_back(months)
    response = post_export(client, create_body({"year": year, "month": month}))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "filters",
    [
        dict(zip(("year", "month"), month_back(3), strict=True)),
        dict(zip(("year", "month"), month_back(12), strict=True)),
        dict(zip(("year", "month"), month_back(-1), strict=True)),  # next month
        dict(zip(("year", "month"), month_back(-12), strict=True)),
        {"year": YEAR - 1, "month": MONTH},
        {"year": 2017, "month": 8},
        {"year": 0, "month": 1},
        {"year": "9999", "month": "12"},
        {"year": "000000002017", "month": "8"},
    ],
    ids=[
        "3-back",
        "12-back",
        "next-month",
        "next-year",
        "last-year",
        "2017",
        "year-0",
        "year-9999",
        "zero-padded-2017",
    ],
)
def test_months_outside_the_window_are_422(refused: httpx.Client, filters: dict) -> None:
    response = post_export(refused, create_body(filters))
    error = assert_error(response, 422, code="100", pointer=FILTERS)
    assert "2 previous months" in error["detail"]
    assert_nothing_created(refused)


def test_window_is_configurable(new_api_service) -> None:  # type: ignore[no-untyped-def]
    service = new_api_service(CDREX_EXPORT_WINDOW_MONTHS="4")
    service.start()
    try:
        with service.client(service.new_account()) as client:
            for months in (0, 3, 4):
                year, month = month_back(months)
                response = post_export(client, create_body({"year": year, "month": month}))
                assert response.status_code == 201, (months, response.text)
            for months in (5, -1):
                year, month = month_back(months)
                response = post_export(client, create_body({"year": year, "month": month}))
                error = assert_error(response, 422, code="100", pointer=FILTERS)
                assert "4 previous months" in error["detail"]
    finally:
        service.stop()


@pytest.mark.parametrize(
    "type_", ["exports", "cdr_export", "CDR_EXPORTS", "", None, 1, ["cdr_exports"], {"a": 1}]
)
def test_wrong_type_is_409(refused: httpx.Client, type_: object) -> None:
    body = create_body({"year": YEAR, "month": MONTH}, type_=type_)  # type: ignore[arg-type]
    assert_error(post_export(refused, body), 409, pointer="/data/type")
    assert_nothing_created(refused)


def test_missing_type_is_400(refused: httpx.Client) -> None:
    body = {"data": {"attributes": {"filters": {"year": YEAR, "month": MONTH}}}}
    assert_error(post_export(refused, body), 400, pointer="/data/type")
    assert_nothing_created(refused)


@pytest.mark.parametrize("export_id", [str(uuid.uuid4()), "", None, 1])
def test_client_generated_id_is_403(refused: httpx.Client, export_id: object) -> None:
    body = create_body({"year": YEAR, "month": MONTH})
    body["data"]["id"] = export_id
    assert_error(post_export(refused, body), 403, pointer="/data/id")
    assert_nothing_created(refused)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b" ",
        b"not json",
        b"{",
        b'{"data": {"type": "cdr_exports",}}',
        b"\xff\xfe\xfa",
        b'{"data": "\xff"}',
        b"[]",
        b"null",
        b"1",
        b'"data"',
        b"true",
        b"{}",
        b'{"data": null}',
        b'{"data": []}',
        b'{"data": "x"}',
        b'{"data": 1}',
        b'{"errors": [{"status": "400"}]}',
        b'{"meta": {}}',
        b'[{"data": {"type": "cdr_exports"}}]',
        b"NaN",
        b'{"data": {"type": "cdr_exports"}} x',
        b"\xef\xbb\xbf{}",
    ],
)
def test_body_that_is_not_a_jsonapi_document_is_400(refused: httpx.Client, body: bytes) -> None:
    assert_error(post_export(refused, body), 400)
    assert_nothing_created(refused)


def _padded(size: int) -> bytes:
    """A valid create document padded with whitespace to exactly ``size`` bytes."""
    document = json.dumps(create_body({"year": YEAR, "month": MONTH})).encode()
    return document + b" " * (size - len(document))


def test_body_of_exactly_1_mib_is_accepted(client: httpx.Client) -> None:
    response = post_export(client, _padded(MIB))
    assert response.status_code == 201, response.text


def test_body_over_1_mib_is_413(refused: httpx.Client) -> None:
    assert_error(post_export(refused, _padded(MIB + 1)), 413)
    assert_error(post_export(refused, b"[" * (2 * MIB)), 413)
    assert_nothing_created(refused)


def test_chunked_body_over_1_mib_is_413(refused: httpx.Client) -> None:
    body = _padded(MIB + 64 * 1024)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server must count
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = refused.post("/v3/cdr_exports", content=chunks(), headers={"Content-Type": JSONAPI})
    assert "content-length" not in response.request.headers
    assert_error(response, 413)
    assert_nothing_created(refused)
