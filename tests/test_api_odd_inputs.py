"""No input of any kind yields a 500: odd bodies, paths, query strings, headers and methods
all get a 4xx JSON:API error document (and the server logs no unhandled error)."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from conftest import (
    JSONAPI,
    Service,
    assert_error,
    create_body,
    create_export,
    month_back,
    post_export,
    wait_completed,
)

YEAR, MONTH = month_back(0)
MIB = 1024 * 1024


@dataclass
class Target:
    service: Service
    client: httpx.Client
    export_id: str
    url: str  # of the completed export's file


@pytest.fixture(scope="module")
def target(api_service: Service) -> Iterator[Target]:
    with api_service.client(api_service.new_account()) as client:
        export = wait_completed(client, create_export(client)["id"])
        yield Target(api_service, client, export["id"], export["attributes"]["url"])


def assert_client_error(response: httpx.Response) -> dict:
    """A 4xx JSON:API error document, whatever the status."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    return assert_error(response, response.status_code)


def _deep(levels: int) -> bytes:
    return b'{"data":' * levels + b"1" + b"}" * levels


ODD_BODIES = [
    b"\xff\xfe\xfd\xfc",
    b"\x00\x00\x00",
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": "\xc3\x28"}}}}',
    b'{"data": {"type": "\\ud800"}}',
    b"[]",
    b"[[[[[[[[]]]]]]]]",
    b'[{"data": {}}]',
    b'{"data": null}',
    b'{"data": {"type": null, "id": null}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": {"$gt": ""}}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": [[[[{}]]]], '
    b'"month": {"a": {"b": {"c": [null, true, 1e308]}}}, "did_number": {"x": []}}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": 1e400, "month": 1}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": -1e308, "month": -0}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": 1'
    + b"0" * 400
    + b', "month": 1}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": 18446744073709551616,'
    b' "month": 18446744073709551615}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": "2026", "month": "1",'
    b' "did_number": "' + b"9" * 100000 + b'"}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"\\u0000": 1, "year": 1}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": "\\u0000",'
    b' "month": "\\u0000"}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"'
    + "ü☃".encode() * 1000
    + b'": 1}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": NaN, "month": 1}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {}}}, "data": 1}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": 2026, "year": "x"}}}}',
    b'{"data": {"type": "cdr_exports", "attributes": {"filters": {"year": 2026, "month": 1}},'
    b' "relationships": {"x": {"data": {"type": "y", "id": "1"}}}, "links": 5, "meta": []}}',
    _deep(10_000),
    b"{" * 600_000,
    b" " * MIB + b"{}",
    b"\xef\xbb\xbf" + json.dumps(create_body({"year": YEAR, "month": MONTH})).encode(),
]


@pytest.mark.parametrize("body", ODD_BODIES, ids=[f"body{n}" for n in range(len(ODD_BODIES))])
def test_odd_bodies_get_a_4xx_document(target: Target, body: bytes) -> None:
    assert_client_error(post_export(target.client, body))


ODD_PATHS = [
    "/v3/cdr_exports/%E2%98%83",
    "/v3/cdr_exports/☃.csv",
    "/v3/cdr_exports/%FF%FE",
    "/v3/cdr_exports/%FF.csv",
    "/v3/cdr_exports/%00",
    "/v3/cdr_exports/a%00b.csv",
    "/v3/cdr_exports/%25",
    "/v3/cdr_exports/..%2F..%2Fetc%2Fpasswd",
    "/v3/cdr_exports/..%2F..%2Fcdrex.sqlite3.csv",
    "/v3/cdr_exports/" + "a" * 8_000,
    "/v3/cdr_exports/" + "a" * 16_000 + ".csv",
    "/v3/cdr_exports/" + "%F0%9F%92%A9" * 1_300,
    "/v3/cdr_exports/.csv",
    "/v3/cdr_exports/%20",
    "/v3/cdr_exports/null",
    "/v3/cdr_exports/-1",
    "/v3/cdr_exports/99999999999999999999999999999999",
    "/v3/cdr_exports/{export_id}%00",
    "/v3/cdr_exports/{export_id}/file.csv",
    "/",
    "/v3",
    "/v3/",
    "/v3/exports",
    "/v3/exports/{export_id}",
    "/v3/CDR_EXPORTS",
    "/v2/cdr_exports",
    "/v3//cdr_exports",
    "/v3/cdr_exports/a/b/c",
    "/favicon.ico",
    "/v3/cdr_exports;x=1",
]


@pytest.mark.parametrize("path", ODD_PATHS, ids=[f"path{n}" for n in range(len(ODD_PATHS))])
def test_odd_paths_are_404_documents(target: Target, path: str) -> None:
    url = target.service.base_url + path.format(export_id=target.export_id)
    response = target.client.get(httpx.URL(url))
    assert_error(response, 404, code="404")


@pytest.mark.parametrize("path", ["/v3/cdr_exports/", "/v3/cdr_exports/{export_id}/"])
def test_trailing_slash_redirects_to_the_resource(target: Target, path: str) -> None:
    path = path.format(export_id=target.export_id)
    response = target.client.get(path)
    assert response.status_code == 307
    assert response.headers["location"] == target.service.base_url + path.rstrip("/")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v3/cdr_exports", {"GET", "HEAD", "POST"}),
        ("PUT", "/v3/cdr_exports", {"GET", "HEAD", "POST"}),
        ("PATCH", "/v3/cdr_exports", {"GET", "HEAD", "POST"}),
        ("OPTIONS", "/v3/cdr_exports", {"GET", "HEAD", "POST"}),
        ("DELETE", "/v3/cdr_exports/{export_id}", {"GET", "HEAD"}),
        ("PATCH", "/v3/cdr_exports/{export_id}", {"GET", "HEAD"}),
        ("PUT", "/v3/cdr_exports/{export_id}", {"GET", "HEAD"}),
        ("POST", "/v3/cdr_exports/{export_id}", {"GET", "HEAD"}),
        ("POST", "{file}", {"GET", "HEAD"}),
        ("DELETE", "{file}", {"GET", "HEAD"}),
        ("TRACE", "/v3/cdr_exports", {"GET", "HEAD", "POST"}),
        ("PROPFIND", "/v3/cdr_exports/{export_id}", {"GET", "HEAD"}),
    ],
)
def test_wrong_methods_are_405_documents(
    target: Target, method: str, path: str, allow: set[str]
) -> None:
    url = path.format(export_id=target.export_id, file=target.url)
    response = target.client.request(method, url, content=b"{}", headers={"Content-Type": JSONAPI})
    assert_error(response, 405, code="405")
    assert {name.strip() for name in response.headers["allow"].split(",")} == allow


ODD_QUERIES = [
    "sort=%00",
    "sort=%FF",
    "sort=" + "-" * 8_000,
    "sort=" + ",".join(["status"] * 1_999),  # SQLite's ORDER BY limit was a 503
    "sort=" + ",".join(["status"] * 11),
    "page[number]=%00",
    "page[number]=1e3",
    "page[number]=0x10",
    "page[number]=" + "9" * 5_000,
    "page[size]=%F0%9F%92%A9",
    "page[size]=-0",
    "page[size]=+5",
    "page[size]=5&page[size]=abc",
    "page=1",
    "page[number][x]=1",
    "page[]=1",
    "filter=1",
    "filter[]=1",
    "filter[%00]=1",
    "=1",
    "%00=1",
    "%FF=%FF",
    "fields[cdr_exports]=%00",
    "fields=status",
    "a" * 8_000 + "=1",
    "a" * 9_000 + "=1",
    "page[size]=5&" + "b" * 4_000 + "=1&" + "c" * 4_000 + "=1",
]


@pytest.mark.parametrize("query", ODD_QUERIES, ids=[f"query{n}" for n in range(len(ODD_QUERIES))])
def test_odd_query_strings_are_400_documents(target: Target, query: str) -> None:
    url = httpx.URL(f"{target.service.base_url}/v3/cdr_exports?{query}")
    response = target.client.get(url)
    error = assert_error(response, 400)
    assert "source" not in error, error
    assert "parameter" in error["meta"], error


TOO_LONG_TARGETS = [
    "/v3/cdr_exports/" + "a" * 60_000 + ".csv",
    "/v3/cdr_exports/" + "%F0%9F%92%A9" * 3_000,
    "/v3/cdr_exports?sort=" + "status," * 3_000,
    "/v3/cdr_exports?" + "a" * 30_000 + "=1",
]


@pytest.mark.parametrize("path", TOO_LONG_TARGETS, ids=[f"target{n}" for n in range(4)])
def test_over_long_targets_are_414_documents(target: Target, path: str) -> None:
    """Refused before the application (over 16 KiB of path and query): see test_http_limits."""
    response = target.client.get(httpx.URL(target.service.base_url + path))
    assert_error(response, 414, code="414")
    assert response.headers["connection"] == "close"


@pytest.mark.parametrize(
    "query",
    [
        "",
        "&&&",
        "sort=",
        "page[size]=5&page[size]=6",
        "sort=created_at&sort=status",
        "sort=" + ",".join(["-status"] * 10),
    ],
)
def test_harmless_query_strings_are_served(target: Target, query: str) -> None:
    response = target.client.get(httpx.URL(f"{target.service.base_url}/v3/cdr_exports?{query}"))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Api-Key": "x" * 20_000},
        {"Api-Key": "\u00e9\u00ff"},
        {"Api-Key": "' OR 1=1 --"},
        {"Accept": ";;;,,,;q=abc"},
        {"Accept": "*/*;q=NaN"},
        {"Accept": "application/vnd.api+json;q=" + "9" * 5000},
        {"Accept": "," * 10_000},
        {"Content-Type": ";;;"},
        {"Content-Type": "application/vnd.api+json;" + "x=1;" * 2_000},
        {"X-DIDWW-API-Version": "9999-99-99"},
        {"X-DIDWW-API-Version": "\u00ff" * 100},
        {"If-None-Match": '"' * 5000},
        {"Range": "bytes=" + "0-1," * 1_000},
        {"Range": "bytes=" + "9" * 5000 + "-"},
        {"Range": "bytes=--1"},
    ],
    ids=lambda headers: next(iter(headers)),
)
def test_odd_headers_never_give_a_5xx(target: Target, headers: dict[str, str]) -> None:
    encoded = {name: value.encode("latin-1") for name, value in headers.items()}
    responses = [
        target.client.get("/v3/cdr_exports", headers=encoded),
        target.client.get(f"/v3/cdr_exports/{target.export_id}", headers=encoded),
        target.client.get(target.url, headers=encoded),
        target.client.post(
            "/v3/cdr_exports",
            content=json.dumps(create_body({"year": YEAR, "month": MONTH})).encode(),
            headers={"Content-Type": JSONAPI, **encoded},
        ),
    ]
    for response in responses:
        assert response.status_code < 500, (response.status_code, response.text)
        json_document = response.headers.get("content-type") == JSONAPI
        if response.status_code >= 400 and response.status_code != 416:
            assert json_document
            assert_client_error(response)


def test_a_client_gone_mid_body_is_no_error(target: Target) -> None:
    """A client that announces 1000 bytes, sends 10 and closes: one INFO line, no ERROR and
    no traceback; the server goes on answering."""
    service = target.service
    logged_before = len(service.log())
    key = target.client.headers["Api-Key"].encode()
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(
            b"POST /v3/cdr_exports HTTP/1.1\r\nHost: 127.0.0.1\r\nApi-Key: "
            + key
            + b"\r\nContent-Type: "
            + JSONAPI.encode()
            + b"\r\nContent-Length: 1000\r\n\r\n"
            + b'{"data": {'
        )
        time.sleep(0.5)  # the handler is now waiting for the rest of the body
    deadline = time.monotonic() + 15
    while not re.search("went away|Traceback", logged := service.log()[logged_before:]):
        assert time.monotonic() < deadline, logged
        time.sleep(0.1)
    assert "Traceback" not in logged and "ERROR" not in logged, logged
    assert "client went away during POST /v3/cdr_exports" in logged, logged
    assert target.client.get("/v3/cdr_exports").status_code == 200


# --- Inputs that were 500s (issue 8), in 2026-04-16: each is a 4xx naming the member ------

V2026 = {"X-DIDWW-API-Version": "2026-04-16"}


def this_month() -> dict[str, str]:
    """2026-04-16 filters selecting the current month."""
    year, month = month_back(0)
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return {
        "from": f"{year}-{month:02d}-01 00:00:00",
        "to": f"{next_year}-{next_month:02d}-01 00:00:00",
    }


def send_2026(client: httpx.Client, method: str, path: str, body: object) -> httpx.Response:
    return client.request(
        method, path, content=json.dumps(body).encode(), headers={"Content-Type": JSONAPI, **V2026}
    )


def post_2026(client: httpx.Client, **attributes: object) -> httpx.Response:
    """POST a 2026-04-16 create document for this month's inbound CDRs, with ``attributes``."""
    body = {
        "data": {
            "type": "exports",
            "attributes": {"export_type": "cdr_in", "filters": this_month(), **attributes},
        }
    }
    return send_2026(client, "POST", "/v3/exports", body)


def test_the_valid_2026_document_is_created(target: Target) -> None:
    """The documents below differ from this one only in the member they point at."""
    assert post_2026(target.client).status_code == 201


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("export_type", {}),
        ("export_type", ["cdr_in"]),
        ("export_type", {"a": [1, {}]}),
        ("callback_method", {"post": 1}),
        ("callback_method", ["post"]),
    ],
)
def test_object_and_array_values_are_422(target: Target, member: str, value: object) -> None:
    attributes = {member: value, "callback_url": "https://hooks.example.com/cb"}
    assert_error(
        post_2026(target.client, **attributes),
        422,
        code="100",
        pointer=f"/data/attributes/{member}",
    )


@pytest.mark.parametrize(
    ("member", "value"),
    [("from", "0001-01-01T00:00:00+23:59"), ("to", "9999-12-31T23:59:59-23:59")],
)
def test_offsets_past_the_datetime_range_are_422(target: Target, member: str, value: str) -> None:
    filters = {**this_month(), member: value}
    error = assert_error(
        post_2026(target.client, filters=filters),
        422,
        code="100",
        pointer=f"/data/attributes/filters/{member}",
    )
    assert "out of range" in error["detail"], error


@pytest.mark.parametrize(
    ("member", "value"),
    [("external_reference_id", "a\u0000b"), ("callback_url", "https://hooks.example.com/\u0000")],
)
def test_nul_characters_in_attributes_are_422(target: Target, member: str, value: str) -> None:
    """PostgreSQL text cannot hold U+0000; it is refused on both backends alike."""
    assert_error(
        post_2026(target.client, **{member: value}),
        422,
        code="100",
        pointer=f"/data/attributes/{member}",
    )


def test_nul_characters_in_a_patch_are_422(target: Target) -> None:
    export_id = post_2026(target.client).json()["data"]["id"]
    body = {
        "data": {
            "type": "exports",
            "id": export_id,
            "attributes": {"external_reference_id": "\u0000"},
        }
    }
    response = send_2026(target.client, "PATCH", f"/v3/exports/{export_id}", body)
    assert_error(response, 422, code="100", pointer="/data/attributes/external_reference_id")


@pytest.mark.parametrize(
    ("query", "code", "parameter"),
    [
        ("filter[id]=%00", "107", "filter[id]"),
        ("filter[external_reference_id]=a%00b", "107", "filter[external_reference_id]"),
        ("filter[id]=" + ",".join(["x"] * 101), "107", "filter[id]"),
        ("sort=" + ",".join(["status"] * 11), "114", "sort"),
        ("sort=" + ",".join(["status"] * 1_999), "400", "sort"),
        ("filter[external_reference_id]=" + "r" * 8_200, "400", "filter[external_reference_id]"),
    ],
)
def test_list_queries_over_limits_are_400_naming_the_parameter(
    target: Target, query: str, code: str, parameter: str
) -> None:
    response = target.client.get(f"/v3/exports?{query}", headers=V2026)
    assert_error(response, 400, code=code, parameter=parameter)


@pytest.mark.parametrize(
    "query",
    [
        "filter[id]=" + ",".join(["x"] * 100),
        "sort=" + ",".join(["-created_at"] * 10),
        "filter[external_reference_id]=" + "r" * 8_000,
    ],
)
def test_list_queries_at_the_limits_are_served(target: Target, query: str) -> None:
    assert target.client.get(f"/v3/exports?{query}", headers=V2026).status_code == 200


def test_server_logged_no_unhandled_error(target: Target) -> None:
    """Runs after the tests above (same module): a 500 anywhere would have been logged."""
    log = target.service.log()
    assert "unhandled error" not in log, log[-5000:]
    assert "Traceback" not in log, log[-5000:]
