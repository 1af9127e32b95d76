"""Provisioning through the operator API (accounts, customer keys, DID and trunk
assignments), on SQLite and PostgreSQL: what the CLI does, over HTTP, and a customer key
that gets nowhere near it."""

from __future__ import annotations

import random
import uuid

import httpx
import pytest

from conftest import Service, assert_error


@pytest.fixture(scope="module")
def operator(cli_service: Service):  # type: ignore[no-untyped-def]
    key = cli_service.cli("operator-keys", "create").stdout.decode().strip()
    with httpx.Client(
        base_url=cli_service.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:
        yield client


def test_an_account_is_provisioned_end_to_end_and_its_key_works(
    cli_service: Service, operator: httpx.Client
) -> None:
    name = f"prov-{uuid.uuid4().hex[:8]}"
    created = operator.post("/operator/v1/accounts", json={"name": name})
    assert created.status_code == 201
    assert created.json()["name"] == name
    assert_error(operator.post("/operator/v1/accounts", json={"name": name}), 422)
    assert name in [a["name"] for a in operator.get("/operator/v1/accounts").json()["accounts"]]
    issued = operator.post(f"/operator/v1/accounts/{name}/keys")
    assert issued.status_code == 201
    key = issued.json()["key"]
    with cli_service.client(key) as customer:
        assert customer.get("/v3/cdr_exports").status_code == 200
        # A customer key never reaches the operator API.
        refused = customer.get("/operator/v1/accounts", headers={"Authorization": f"Bearer {key}"})
        assert_error(refused, 401)
    (listed,) = operator.get(f"/operator/v1/accounts/{name}/keys").json()["keys"]
    assert listed["prefix"] == issued.json()["prefix"] and listed["revoked_at"] is None
    assert operator.delete(f"/operator/v1/keys/{listed['prefix']}").status_code == 200
    with cli_service.client(key) as customer:
        assert_error(customer.get("/v3/cdr_exports"), 401)
    assert_error(operator.post("/operator/v1/accounts/nobody-here/keys"), 422)


def test_numbers_and_trunks_are_assigned_listed_and_released(
    cli_service: Service, operator: httpx.Client
) -> None:
    name = f"prov-{uuid.uuid4().hex[:8]}"
    operator.post("/operator/v1/accounts", json={"name": name})
    did = str(random.randrange(10**11, 10**12))
    assigned = operator.post(
        "/operator/v1/dids",
        json={"id": did, "account": name, "since": "2026-01-01", "name": "reception"},
    )
    assert assigned.status_code == 201, assigned.text
    assert assigned.json() == {
        "id": did, "account": name, "since": "2026-01-01T00:00:00Z", "until": None,
        "name": "reception",
    }  # fmt: skip
    overlap = operator.post("/operator/v1/dids", json={"id": did, "account": name})
    assert_error(overlap, 422)
    assert "overlaps" in overlap.text
    released = operator.post(
        f"/operator/v1/dids/{did}/release", json={"at": "2026-06-01T00:00:00Z"}
    )
    assert released.json()["until"] == "2026-06-01T00:00:00Z"
    listed = operator.get("/operator/v1/dids", params={"account": name}).json()["dids"]
    assert [(held["id"], held["until"]) for held in listed] == [(did, "2026-06-01T00:00:00Z")]
    trunk = str(uuid.uuid4())
    assert (
        operator.post("/operator/v1/trunks", json={"id": trunk, "account": name}).status_code == 201
    )
    assert cli_service.cli("trunks", "list", "--account", name).stdout.decode().startswith(trunk)
    for body in ({"id": did}, {"id": 5, "account": name}, {"id": did, "account": name, "x": "1"},
                 {"id": did, "account": name, "since": "yesterday"}):  # fmt: skip
        assert_error(operator.post("/operator/v1/dids", json=body), 422)
    assert_error(operator.post("/operator/v1/dids", content=b"[1"), 400)
    assert_error(operator.post("/operator/v1/trunks", json={"id": "nope", "account": name}), 422)
