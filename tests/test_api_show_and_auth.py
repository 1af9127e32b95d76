"""GET /v3/cdr_exports/{id}, account scoping (another account's export is a 404 everywhere,
exactly like a missing one) and Api-Key authentication on every endpoint."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
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
    post_export,
    wait_completed,
)


@dataclass
class Owner:
    """An account with one completed export, and a second account that must not see it."""

    service: Service
    key: str
    client: httpx.Client  # the owner's
    intruder: httpx.Client  # the other account's
    bare: httpx.Client  # no Api-Key
    export: dict  # the completed resource object

    @property
    def url(self) -> str:
        return self.export["attributes"]["url"]


@pytest.fixture(scope="module")
def owner(api_service: Service) -> Iterator[Owner]:
    (_, key), (_, intruder_key) = new_accounts(api_service, 2)
    with (
        api_service.client(key) as client,
        api_service.client(intruder_key) as intruder,
        api_service.client(None) as bare,
    ):
        export = wait_completed(client, create_export(client, did_number="441234567890")["id"])
        yield Owner(api_service, key, client, intruder, bare, export)


def test_show_returns_the_export(owner: Owner) -> None:
    created = create_export(owner.client, months_back=1)
    response = owner.client.get(f"/v3/cdr_exports/{created['id']}")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSONAPI
    document = response.json()
    assert set(document) == {"data", "meta"}
    assert document["meta"] == {"api_version": "2017-09-18"}
    shown = document["data"]
    assert shown["id"] == created["id"]
    assert shown["type"] == "cdr_exports"
    assert set(shown["attributes"]) == {"filters", "status", "created_at", "url"}
    assert shown["attributes"]["filters"] == created["attributes"]["filters"]
    assert shown["attributes"]["created_at"] == created["attributes"]["created_at"]
    assert shown["attributes"]["status"] in ("Pending", "Processing", "Completed")


def test_show_completed_export(owner: Owner) -> None:
    response = owner.client.get(f"/v3/cdr_exports/{owner.export['id']}")
    assert response.status_code == 200
    assert response.json()["data"] == owner.export
    assert owner.url.startswith(owner.service.base_url + "/v3/cdr_exports/")
    assert owner.url.endswith(".csv")


@pytest.mark.parametrize(
    "export_id",
    [str(uuid.uuid4()), str(uuid.uuid4()).upper(), "not-an-id", "123", "null"],
)
def test_show_unknown_export_is_404(owner: Owner, export_id: str) -> None:
    response = owner.client.get(f"/v3/cdr_exports/{export_id}")
    error = assert_error(response, 404, code="404")
    assert error["title"] == "Record not found"
    assert error["detail"] == f"The record identified by {export_id} could not be found."


def test_show_of_own_export_id_in_upper_case_is_404(owner: Owner) -> None:
    response = owner.client.get(f"/v3/cdr_exports/{owner.export['id'].upper()}")
    assert_error(response, 404)


def _same_as_missing(response: httpx.Response, missing: httpx.Response, real: str, fake: str):  # type: ignore[no-untyped-def]
    """Two 404s that differ only in the name they were asked for."""
    assert response.status_code == missing.status_code == 404
    assert response.headers["content-type"] == missing.headers["content-type"] == JSONAPI
    assert response.text.replace(real, "NAME") == missing.text.replace(fake, "NAME")


def test_another_accounts_export_is_a_404_everywhere(owner: Owner) -> None:
    export_id = owner.export["id"]
    file_name = owner.url.rsplit("/", 1)[1].removesuffix(".csv")
    fake_id, fake_file = str(uuid.uuid4()), str(uuid.uuid4())
    intruder = owner.intruder
    shown = intruder.get(f"/v3/cdr_exports/{export_id}")
    missing = intruder.get(f"/v3/cdr_exports/{fake_id}")
    assert_error(shown, 404, code="404")
    _same_as_missing(shown, missing, export_id, fake_id)

    downloaded = intruder.get(owner.url)
    missing_file = intruder.get(f"/v3/cdr_exports/{fake_file}.csv")
    assert_error(downloaded, 404, code="404")
    _same_as_missing(downloaded, missing_file, file_name, fake_file)
    assert intruder.head(owner.url).status_code == 404

    listed = intruder.get("/v3/cdr_exports")
    assert listed.status_code == 200
    assert listed.json()["data"] == []
    assert listed.json()["meta"]["total_records"] == 0

    # The owner still sees all of it.
    assert owner.client.get(f"/v3/cdr_exports/{export_id}").status_code == 200
    assert owner.client.get(owner.url).status_code == 200
    listed = owner.client.get("/v3/cdr_exports").json()
    assert export_id in [item["id"] for item in listed["data"]]


def _endpoints(owner: Owner) -> dict[str, Callable[[dict[str, str]], httpx.Response]]:
    """Every endpoint, called without a key but with the given headers."""
    year, month = month_back(0)
    bare = owner.bare
    return {
        "list": lambda headers: bare.get("/v3/cdr_exports", headers=headers),
        "show": lambda headers: bare.get(f"/v3/cdr_exports/{owner.export['id']}", headers=headers),
        "show-missing": lambda headers: bare.get(
            f"/v3/cdr_exports/{uuid.uuid4()}", headers=headers
        ),
        "create": lambda headers: post_export(
            bare, create_body({"year": year, "month": month}), **headers
        ),
        "download": lambda headers: bare.get(owner.url, headers=headers),
        "download-head": lambda headers: bare.head(owner.url, headers=headers),
        "download-missing": lambda headers: bare.get(
            f"/v3/cdr_exports/{uuid.uuid4()}.csv", headers=headers
        ),
    }


ENDPOINTS = [
    "list",
    "show",
    "show-missing",
    "create",
    "download",
    "download-head",
    "download-missing",
]


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    if response.request.method == "HEAD":
        assert response.headers["content-type"] == JSONAPI
        return
    error = assert_error(response, 401, code="401")
    assert error["title"] == "Unauthorized"
    assert error["detail"] == "Authorization failed"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "credentials",
    [
        "none",
        "empty",
        "unknown",
        "bearer-prefix",
        "authorization-bearer",
        "truncated",
        "case-changed",
        "other-header-name",
    ],
)
def test_missing_or_unknown_key_is_401(owner: Owner, endpoint: str, credentials: str) -> None:
    headers = {
        "none": {},
        "empty": {"Api-Key": ""},
        "unknown": {"Api-Key": "cdrex_" + uuid.uuid4().hex},
        "bearer-prefix": {"Api-Key": f"Bearer {owner.key}"},
        "authorization-bearer": {"Authorization": f"Bearer {owner.key}"},
        "truncated": {"Api-Key": owner.key[:-1]},
        "case-changed": {"Api-Key": owner.key.swapcase()},
        "other-header-name": {"X-Api-Key": owner.key},
    }[credentials]
    _refused(_endpoints(owner)[endpoint](headers))


@pytest.mark.parametrize("header", ["Api-Key", "api-key", "API-KEY"])
def test_key_header_name_is_case_insensitive(owner: Owner, header: str) -> None:
    assert owner.bare.get("/v3/cdr_exports", headers={header: owner.key}).status_code == 200
    assert owner.bare.get(owner.url, headers={header: owner.key}).status_code == 200


def _status_with_key(service: Service, value: bytes) -> int:
    """The status of a list request whose Api-Key field is exactly ``value``: over a raw
    socket, since httpx refuses to send a value with surrounding whitespace."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(
            b"GET /v3/cdr_exports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Accept: "
            + JSONAPI.encode()
            + b"\r\nApi-Key: "
            + value
            + b"\r\nConnection: close\r\n\r\n"
        )
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    ("spelling", "status"),
    [  # KEY: the key; KE Y: a space inside it
        (b"KEY ", 200),
        (b"KEY\t", 200),
        (b"\tKEY", 200),
        (b" \t KEY \t ", 200),
        (b"KE Y", 401),  # whitespace inside the value is part of it
        (b"KEY x", 401),
        (b" \t ", 401),
    ],
)
def test_whitespace_around_the_key_is_not_part_of_it(
    owner: Owner, spelling: bytes, status: int
) -> None:
    key = owner.key.encode()
    value = spelling.replace(b"KEY", key).replace(b"KE Y", key[:8] + b" " + key[8:])
    assert _status_with_key(owner.service, value) == status


def test_revoked_key_is_refused_at_once(owner: Owner) -> None:
    service = owner.service
    [(name, key)] = new_accounts(service, 1)
    spare = service.cli("keys", "create", "--account", name).stdout.decode().strip()
    with service.client(key) as client:
        export = wait_completed(client, create_export(client)["id"])
        url = export["attributes"]["url"]
        assert client.get("/v3/cdr_exports").status_code == 200
        assert client.get(url).status_code == 200

        service.cli("keys", "revoke", key)

        _refused(client.get("/v3/cdr_exports"))
        _refused(client.get(f"/v3/cdr_exports/{export['id']}"))
        year, month = month_back(0)
        _refused(post_export(client, create_body({"year": year, "month": month})))
        _refused(client.get(url))
        _refused(client.head(url))
    with service.client(spare) as client:  # the account's other key still works
        listed = client.get("/v3/cdr_exports")
        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["data"]] == [export["id"]]
        assert client.get(f"/v3/cdr_exports/{export['id']}").status_code == 200
        assert client.get(url).status_code == 200
