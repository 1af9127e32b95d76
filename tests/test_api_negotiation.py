"""JSON:API content negotiation (1.0 rules, as DIDWW's docs quote them): 415 for request
bodies that are not plain application/vnd.api+json, 406 for an Accept that rules the JSON:API
media type out, and what real clients send that must keep working."""

from __future__ import annotations

import json
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
    new_accounts,
    send_without,
)

YEAR, MONTH = month_back(0)
BODY = json.dumps(create_body({"year": YEAR, "month": MONTH})).encode()


@dataclass
class Clients:
    client: httpx.Client  # an account that gets exports
    refused: httpx.Client  # an account every request of which is refused
    export_id: str


@pytest.fixture(scope="module")
def clients(api_service: Service) -> Iterator[Clients]:
    (_, key), (_, refused_key) = new_accounts(api_service, 2)
    with (
        api_service.client(key) as client,
        api_service.client(refused_key) as refused,
    ):
        yield Clients(client, refused, create_export(client)["id"])


def _count(client: httpx.Client) -> int:
    response = client.get("/v3/cdr_exports")
    assert response.status_code == 200
    return response.json()["meta"]["total_records"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/vnd.api+json; charset=utf-8",
        "application/vnd.api+json;ext=x",
        'application/vnd.api+json; profile="https://example.test/p"',
        'application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"',
        "application/vnd.api+json, application/json",
        "application/vnd.api",
        "vnd.api+json",
        "",
    ],
)
def test_post_body_not_plain_jsonapi_is_415(clients: Clients, content_type: str) -> None:
    response = clients.refused.post(
        "/v3/cdr_exports", content=BODY, headers={"Content-Type": content_type}
    )
    assert_error(response, 415, code="415")
    assert _count(clients.refused) == 0


def test_post_without_content_type_is_415(clients: Clients) -> None:
    response = clients.refused.post("/v3/cdr_exports", content=BODY)
    assert "content-type" not in response.request.headers
    assert_error(response, 415, code="415")
    assert _count(clients.refused) == 0


@pytest.mark.parametrize("content_type", [JSONAPI, "Application/Vnd.Api+JSON"])
def test_post_with_jsonapi_content_type_is_accepted(clients: Clients, content_type: str) -> None:
    response = clients.client.post(
        "/v3/cdr_exports", content=BODY, headers={"Content-Type": content_type}
    )
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == JSONAPI


REFUSING_ACCEPTS = [
    "text/html",
    "application/json",
    "text/csv",
    "application/xml, text/plain",
    "application/vnd.api+json; ext=x",
    'application/vnd.api+json;ext="https://jsonapi.org/ext/atomic"',
    "application/vnd.api+json; profile=x, text/html",
    "application/vnd.api+json; charset=utf-8",
    "application/vnd.api+json;q=0",
    "*/*;q=0",
    "image/*",
    ";;;,,,;q=abc",
]


def _endpoint(clients: Clients, name: str, client: httpx.Client, **headers: str) -> httpx.Response:
    if name == "list":
        return client.get("/v3/cdr_exports", headers=headers)
    if name == "show":
        return client.get(f"/v3/cdr_exports/{clients.export_id}", headers=headers)
    return client.post(
        "/v3/cdr_exports", content=BODY, headers={"Content-Type": JSONAPI, **headers}
    )


@pytest.mark.parametrize("endpoint", ["list", "show", "create"])
@pytest.mark.parametrize("accept", REFUSING_ACCEPTS)
def test_accept_ruling_out_jsonapi_is_406(clients: Clients, endpoint: str, accept: str) -> None:
    client = clients.refused if endpoint == "create" else clients.client
    response = _endpoint(clients, endpoint, client, Accept=accept)
    assert_error(response, 406, code="406")
    assert _count(clients.refused) == 0


ACCEPTED_ACCEPTS = [
    JSONAPI,
    "*/*",
    "application/*",
    "APPLICATION/VND.API+JSON",
    "application/vnd.api+json; ext=x, application/vnd.api+json",
    "text/html, */*;q=0.1",
    "application/vnd.api+json;q=0.5",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",  # a browser
    "application/json, application/vnd.api+json",
]


@pytest.mark.parametrize("endpoint", ["list", "show", "create"])
@pytest.mark.parametrize("accept", ACCEPTED_ACCEPTS)
def test_accept_allowing_jsonapi_is_served(clients: Clients, endpoint: str, accept: str) -> None:
    response = _endpoint(clients, endpoint, clients.client, Accept=accept)
    assert response.status_code == (201 if endpoint == "create" else 200), response.text
    assert response.headers["content-type"] == JSONAPI


@pytest.mark.parametrize("endpoint", ["list", "show", "create"])
def test_missing_accept_is_served(clients: Clients, endpoint: str) -> None:
    method, url = {
        "list": ("GET", "/v3/cdr_exports"),
        "show": ("GET", f"/v3/cdr_exports/{clients.export_id}"),
        "create": ("POST", "/v3/cdr_exports"),
    }[endpoint]
    extra = {"content": BODY, "headers": {"Content-Type": JSONAPI}} if method == "POST" else {}
    response = send_without(clients.client, method, url, ("accept",), **extra)
    assert "accept" not in response.request.headers
    assert response.status_code == (201 if method == "POST" else 200), response.text
    assert response.headers["content-type"] == JSONAPI


@pytest.mark.parametrize(
    "content_type", [JSONAPI, "application/json", "application/vnd.api+json; charset=utf-8"]
)
def test_get_with_content_type_and_no_body_is_fine(clients: Clients, content_type: str) -> None:
    """SDKs send their session's Content-Type on every GET."""
    headers = {"Content-Type": content_type}
    listed = clients.client.get("/v3/cdr_exports", headers=headers)
    assert listed.status_code == 200, listed.text
    assert listed.headers["content-type"] == JSONAPI
    shown = clients.client.get(f"/v3/cdr_exports/{clients.export_id}", headers=headers)
    assert shown.status_code == 200, shown.text
    assert shown.headers["content-type"] == JSONAPI


def test_sdk_session_headers_work_end_to_end(clients: Clients) -> None:
    """What the Python SDKs send on every JSON call (plus the version header)."""
    headers = {
        "Accept": JSONAPI,
        "Content-Type": JSONAPI,
        "X-DIDWW-API-Version": "2017-09-18",
        "User-Agent": "didww-python-sdk/2.0.0",
    }
    created = clients.client.post("/v3/cdr_exports", content=BODY, headers=headers)
    assert created.status_code == 201, created.text
    shown = clients.client.get(created.headers["location"], headers=headers)
    assert shown.status_code == 200
    assert shown.json()["meta"]["api_version"] == "2017-09-18"


# DIDWW's Cache-Control per kind of answer (its recorded responses); Vary: Accept on all.
REVALIDATE = "max-age=0, private, must-revalidate"
NO_CACHE = "no-cache"


def _patch(clients: Clients) -> httpx.Response:
    document = {
        "data": {
            "id": clients.export_id,
            "type": "exports",
            "attributes": {"external_reference_id": "cache-control"},
        }
    }
    return clients.client.patch(
        f"/v3/exports/{clients.export_id}",
        content=json.dumps(document).encode(),
        headers={"Content-Type": JSONAPI, "X-DIDWW-API-Version": "2026-04-16"},
    )


@pytest.mark.parametrize(
    ("endpoint", "status", "cache_control"),
    [
        ("list", 200, REVALIDATE),
        ("create", 201, REVALIDATE),
        ("show", 200, NO_CACHE),
        ("patch", 200, NO_CACHE),
    ],
)
def test_json_documents_carry_vary_accept_and_didwws_cache_control(
    clients: Clients, endpoint: str, status: int, cache_control: str
) -> None:
    # Twice: the second list is served from the response cache on SQLite, with the same
    # headers.
    for _ in range(2):
        if endpoint == "patch":
            response = _patch(clients)
        else:
            response = _endpoint(clients, endpoint, clients.client)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == JSONAPI
        assert response.headers["vary"] == "Accept"
        assert response.headers["cache-control"] == cache_control
