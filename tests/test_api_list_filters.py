"""2026-04-16 list filters (``filter[external_reference_id]``, ``filter[id]``; a
comma-separated value matches any listed value) and sorting by external_reference_id.
Earlier versions have no list filters: any ``filter[...]`` is 400, code 102."""

from __future__ import annotations

import time

import httpx
import pytest

from conftest import JSONAPI, Service, assert_error


@pytest.fixture
def exports_2026(make_service) -> tuple[Service, httpx.Client, dict[str, str]]:  # type: ignore[no-untyped-def]
    service = make_service()
    name = f"lf-{time.monotonic_ns()}"
    key = service.new_account(name)
    service.cli("accounts", "update", name, "--api-version", "2026-04-16")
    service.start("--workers", "0")
    client = service.client(key)
    year, month = time.gmtime()[:2]
    ids = {}
    for reference in ("b-ref", "a-ref", "c,ref", None):
        response = client.post(
            "/v3/exports",
            headers={"Content-Type": JSONAPI},
            json={
                "data": {
                    "type": "exports",
                    "attributes": {
                        "export_type": "cdr_in",
                        "external_reference_id": reference,
                        "filters": {
                            "from": f"{year}-{month:02d}-01 00:00:00",
                            "to": f"{year}-{month:02d}-02 00:00:00",
                        },
                    },
                }
            },
        )
        assert response.status_code == 201, response.text
        ids[reference or ""] = response.json()["data"]["id"]
    yield service, client, ids
    client.close()


def _listed(client: httpx.Client, query: str) -> list[str | None]:
    response = client.get(f"/v3/exports?{query}")
    assert response.status_code == 200, response.text
    return [item["attributes"]["external_reference_id"] for item in response.json()["data"]]


def test_filter_by_reference_and_id(exports_2026) -> None:  # type: ignore[no-untyped-def]
    _, client, ids = exports_2026
    assert _listed(client, "filter[external_reference_id]=a-ref") == ["a-ref"]
    assert sorted(_listed(client, "filter[external_reference_id]=a-ref,b-ref")) == [
        "a-ref",
        "b-ref",
    ]
    assert _listed(client, "filter[external_reference_id]=nothing") == []
    assert _listed(client, f"filter[id]={ids['b-ref']}") == ["b-ref"]
    both = f"filter[id]={ids['a-ref']},{ids['b-ref']}&filter[external_reference_id]=b-ref"
    assert _listed(client, both) == ["b-ref"]  # filters are ANDed
    response = client.get("/v3/exports?filter[external_reference_id]=a-ref&page[size]=1")
    document = response.json()
    assert document["meta"]["total_records"] == 1
    assert "filter%5Bexternal_reference_id%5D=a-ref" in document["links"]["first"]


def test_sort_by_reference(exports_2026) -> None:  # type: ignore[no-untyped-def]
    _, client, _ = exports_2026
    ascending = _listed(client, "sort=external_reference_id")
    assert [ref for ref in ascending if ref] == ["a-ref", "b-ref", "c,ref"]
    descending = _listed(client, "sort=-external_reference_id")
    assert [ref for ref in descending if ref] == ["c,ref", "b-ref", "a-ref"]


def test_unknown_filters_and_older_versions_are_400_code_102(exports_2026) -> None:  # type: ignore[no-untyped-def]
    _, client, _ = exports_2026
    assert_error(
        client.get("/v3/exports?filter[status]=completed"),
        400,
        code="102",
        parameter="filter[status]",
    )
    older = client.get("/v3/exports?filter[id]=x", headers={"X-DIDWW-API-Version": "2022-05-10"})
    # 2022-05-10 is older than this account's default, so 2026-04-16 answers and accepts it.
    assert older.status_code == 200
    assert older.json()["meta"]["api_version"] == "2026-04-16"


def test_2022_has_no_list_filters(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    key = service.new_account()
    service.start("--workers", "0")
    with service.client(key) as client:
        response = client.get(
            "/v3/exports?filter[external_reference_id]=a",
            headers={"X-DIDWW-API-Version": "2022-05-10"},
        )
        assert_error(response, 400, code="102", parameter="filter[external_reference_id]")
        response = client.get(
            "/v3/exports?sort=external_reference_id", headers={"X-DIDWW-API-Version": "2022-05-10"}
        )
        assert_error(response, 400, code="114", parameter="sort")
