"""GET /v3/cdr_exports (2017-09-18): the document, status names, sorting, paging, and the
400s for query parameters it does not take. Real server, real HTTP, both backends."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from conftest import (
    JSONAPI,
    Service,
    assert_error,
    create_export,
    run_sql,
    wait_completed,
)

CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
COMPLETED, PENDING, TOTAL = 5, 50, 55  # one of the pending ones is set to processing


@dataclass
class Mixed:
    service: Service
    key: str
    ids: list[str]  # in creation order
    http: httpx.Client  # kept open for the module: a new client costs tens of milliseconds

    def client(self) -> AbstractContextManager[httpx.Client]:
        return nullcontext(self.http)

    @property
    def collection(self) -> str:
        return self.service.base_url + "/v3/cdr_exports"


@pytest.fixture(scope="module")
def mixed(new_api_service) -> Iterator[Mixed]:  # type: ignore[no-untyped-def]
    """An account with 55 exports in all three states: 5 completed by the workers, then, on
    the same data with the workers off, 50 pending, one of them marked processing."""
    service = new_api_service()
    service.start()
    key = service.new_account()
    ids = []
    with service.client(key) as client:
        for n in range(COMPLETED):
            ids.append(create_export(client, months_back=n % 3)["id"])
            time.sleep(0.003)  # distinct created_at milliseconds: sort orders are exact
        for export_id in ids:
            wait_completed(client, export_id)
    service.stop()
    service.start("--workers", "0")
    with service.client(key) as client:
        for n in range(PENDING):
            filters = {"did_number": f"44123456{n:04d}"} if n % 2 else {}
            ids.append(create_export(client, months_back=n % 3, **filters)["id"])
            time.sleep(0.003)
    run_sql(service, "UPDATE exports SET status = 'processing' WHERE id = :id", id=ids[10])
    with service.client(key) as http:
        yield Mixed(service, key, ids, http)
    service.stop()


def get_list(client: httpx.Client, **params: object) -> httpx.Response:
    return client.get("/v3/cdr_exports", params=params)


def page_data(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSONAPI
    return response.json()["data"]


def everything(mixed: Mixed) -> list[dict]:
    with mixed.client() as client:
        data = page_data(get_list(client, **{"page[size]": 100}))
    assert len(data) == TOTAL
    return data


def link_query(link: str, collection: str) -> dict[str, str]:
    """The query of a page link, after checking it is an absolute link to the collection
    with its brackets percent-encoded (as DIDWW writes them)."""
    assert link.startswith(collection + "?"), link
    assert "page%5Bnumber%5D=" in link and "page%5Bsize%5D=" in link, link
    query = parse_qs(urlsplit(link).query, keep_blank_values=True)
    return {name: values[0] for name, values in query.items() if len(values) == 1}


def test_list_document_has_exactly_the_2017_attributes(mixed: Mixed) -> None:
    with mixed.client() as client:
        response = get_list(client, **{"page[size]": 100})
    data = page_data(response)
    document = response.json()
    assert set(document) == {"data", "meta", "links"}
    assert document["meta"] == {"total_records": TOTAL, "api_version": "2017-09-18"}
    assert sorted(item["id"] for item in data) == sorted(mixed.ids)
    for item in data:
        assert set(item) == {"id", "type", "attributes"}
        assert item["type"] == "cdr_exports"
        assert UUID.match(item["id"])
        attributes = item["attributes"]
        assert set(attributes) == {"filters", "status", "created_at", "url"}
        assert CREATED_AT.match(attributes["created_at"]), attributes["created_at"]
        assert set(attributes["filters"]) <= {"year", "month", "did_number"}
        assert all(isinstance(value, str) for value in attributes["filters"].values())
        if attributes["status"] == "Completed":
            url = attributes["url"]
            assert re.fullmatch(re.escape(mixed.collection) + r"/[0-9a-f-]{36}\.csv", url), url
            assert item["id"] not in url  # the file name is not the export id
        else:
            assert attributes["url"] is None
    statuses = Counter(item["attributes"]["status"] for item in data)
    assert statuses == {"Completed": COMPLETED, "Pending": PENDING - 1, "Processing": 1}
    processing = next(item for item in data if item["id"] == mixed.ids[10])
    assert processing["attributes"]["status"] == "Processing"


def test_default_page_size_is_50(mixed: Mixed) -> None:
    with mixed.client() as client:
        response = get_list(client)
        data = page_data(response)
        document = response.json()
        assert len(data) == 50
        assert document["meta"]["total_records"] == TOTAL
        links = document["links"]
        assert set(links) == {"self", "first", "next", "last"}
        assert link_query(links["self"], mixed.collection) == {
            "page[number]": "1",
            "page[size]": "50",
        }
        assert link_query(links["next"], mixed.collection)["page[number]"] == "2"
        assert link_query(links["last"], mixed.collection)["page[number]"] == "2"
        rest = page_data(client.get(links["next"]))
    assert len(rest) == TOTAL - 50
    assert {item["id"] for item in data + rest} == set(mixed.ids)


@pytest.mark.parametrize(
    ("number", "names", "count"),
    [
        (1, {"self", "first", "next", "last"}, 20),
        (2, {"self", "first", "prev", "next", "last"}, 20),
        (3, {"self", "first", "prev", "last"}, 15),
        (4, {"self", "first", "prev", "last"}, 0),  # past the end: empty, prev is the last
    ],
)
def test_page_links(mixed: Mixed, number: int, names: set[str], count: int) -> None:
    with mixed.client() as client:
        response = get_list(client, **{"page[number]": number, "page[size]": 20})
    data = page_data(response)
    document = response.json()
    assert len(data) == count
    assert document["meta"] == {"total_records": TOTAL, "api_version": "2017-09-18"}
    links = document["links"]
    assert set(links) == names
    numbers = {
        name: link_query(link, mixed.collection)["page[number]"] for name, link in links.items()
    }
    assert all(link_query(link, mixed.collection)["page[size]"] == "20" for link in links.values())
    expected = {"self": str(number), "first": "1", "last": "3"}
    if "prev" in names:
        expected["prev"] = str(min(number - 1, 3))
    if "next" in names:
        expected["next"] = str(number + 1)
    assert numbers == expected


def test_pages_partition_the_collection(mixed: Mixed) -> None:
    whole = [item["id"] for item in everything(mixed)]
    with mixed.client() as client:
        pages = [
            page_data(get_list(client, **{"page[number]": n, "page[size]": 20})) for n in (1, 2, 3)
        ]
    assert [item["id"] for page in pages for item in page] == whole


def test_following_next_links_keeps_the_sort(mixed: Mixed) -> None:
    expected = sorted(everything(mixed), key=lambda item: item["attributes"]["created_at"])
    expected.reverse()
    seen: list[dict] = []
    pages = 0
    with mixed.client() as client:
        response = get_list(client, sort="-created_at", **{"page[size]": 7})
        while True:
            seen += page_data(response)
            pages += 1
            links = response.json()["links"]
            assert link_query(links["self"], mixed.collection)["sort"] == "-created_at"
            if "next" not in links:
                break
            response = client.get(links["next"])
    assert pages == 8
    assert [item["id"] for item in seen] == [item["id"] for item in expected]


def _created(item: dict) -> str:
    return item["attributes"]["created_at"]


def _status(item: dict) -> str:
    return item["attributes"]["status"]


def _sorted(items: list[dict], *keys: tuple[str, bool]) -> list[str]:
    """Ids sorted by several (attribute, descending) keys, applied left to right."""
    result = list(items)
    for name, descending in reversed(keys):  # stable sorts, least significant key first
        result.sort(key=lambda item, n=name: item["attributes"][n], reverse=descending)
    return [item["id"] for item in result]


@pytest.mark.parametrize(
    ("sort", "keys"),
    [
        ("created_at", [("created_at", False)]),
        ("-created_at", [("created_at", True)]),
        ("status,created_at", [("status", False), ("created_at", False)]),
        ("status,-created_at", [("status", False), ("created_at", True)]),
        ("-status,created_at", [("status", True), ("created_at", False)]),
        ("-status,-created_at", [("status", True), ("created_at", True)]),
        ("created_at,status", [("created_at", False)]),
    ],
)
def test_sort(mixed: Mixed, sort: str, keys: list[tuple[str, bool]]) -> None:
    items = everything(mixed)
    assert len({_created(item) for item in items}) == TOTAL  # no ties: one right order
    with mixed.client() as client:
        data = page_data(get_list(client, sort=sort, **{"page[size]": 100}))
    assert [item["id"] for item in data] == _sorted(items, *keys)


@pytest.mark.parametrize("sort", ["status", "-status"])
def test_sort_by_status_alone(mixed: Mixed, sort: str) -> None:
    with mixed.client() as client:
        data = page_data(get_list(client, sort=sort, **{"page[size]": 100}))
    statuses = [_status(item) for item in data]
    assert statuses == sorted(statuses, reverse=sort.startswith("-"))
    assert statuses[0] != statuses[-1]
    assert sorted(item["id"] for item in data) == sorted(mixed.ids)


@pytest.mark.parametrize(
    "sort",
    [
        "id",
        "url",
        "filters",
        "Status",
        "created-at",
        "status,",
        ",status",
        "--status",
        "+status",
        "status,bogus",
        "-",
        " status",
        "status;created_at",
        "attributes.status",
    ],
)
def test_unknown_sort_key_is_400(mixed: Mixed, sort: str) -> None:
    with mixed.client() as client:
        response = get_list(client, sort=sort)
    error = assert_error(response, 400, code="114", parameter="sort")
    assert "sort" in error["title"].lower()


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("page[number]", "0"),
        ("page[number]", "-1"),
        ("page[number]", "abc"),
        ("page[number]", ""),
        ("page[number]", "1.5"),
        ("page[number]", "1e2"),
        ("page[number]", " 1"),
        ("page[number]", "\u0661"),
        ("page[number]", "9" * 30),
        ("page[number]", "9" * 5000),
        ("page[size]", "0"),
        ("page[size]", "-1"),
        ("page[size]", "abc"),
        ("page[size]", ""),
        ("page[size]", "101"),
        ("page[size]", "1000"),
        ("page[size]", "50.0"),
        ("page[size]", "9" * 5000),
    ],
)
def test_bad_page_values_are_400(mixed: Mixed, parameter: str, value: str) -> None:
    with mixed.client() as client:
        response = get_list(client, **{parameter: value})
    assert_error(response, 400, code="118", parameter=parameter)


def test_page_size_limits(mixed: Mixed) -> None:
    with mixed.client() as client:
        assert len(page_data(get_list(client, **{"page[size]": 100}))) == TOTAL
        response = get_list(client, **{"page[size]": 1, "page[number]": TOTAL})
        assert len(page_data(response)) == 1
        links = response.json()["links"]
        assert set(links) == {"self", "first", "prev", "last"}
        assert link_query(links["last"], mixed.collection)["page[number]"] == str(TOTAL)


@pytest.mark.parametrize(
    ("parameter", "code"),
    [
        ("filter[status]", "102"),
        ("filter[x]", "102"),
        ("filter[external_reference_id]", "102"),
        ("foo", "105"),
        ("include", "105"),
        ("page[offset]", "105"),
        ("page[limit]", "105"),
        ("page", "105"),
        ("fields[exports]", "105"),
        ("Sort", "105"),
        ("sort[]", "105"),
    ],
)
def test_unknown_query_parameters_are_400(mixed: Mixed, parameter: str, code: str) -> None:
    with mixed.client() as client:
        response = get_list(client, **{parameter: "1"})
    error = assert_error(response, 400, code=code, parameter=parameter)
    if code == "102":
        assert error["title"] == "Filter not allowed"
        assert error["detail"] == f"{parameter[7:-1]} is not allowed."


def test_sparse_fieldsets(mixed: Mixed) -> None:
    with mixed.client() as client:
        data = page_data(get_list(client, **{"fields[cdr_exports]": "status,url"}))
        assert data and all(set(item["attributes"]) == {"status", "url"} for item in data)
        response = get_list(client, **{"fields[cdr_exports]": "status,callback_url"})
    assert_error(response, 400, parameter="fields[cdr_exports]")


def test_new_account_lists_nothing(api_service: Service) -> None:
    with api_service.client(api_service.new_account()) as client:
        response = get_list(client)
    assert page_data(response) == []
    document = response.json()
    assert document["meta"] == {"total_records": 0, "api_version": "2017-09-18"}
    assert set(document["links"]) == {"self", "first", "last"}
    collection = api_service.base_url + "/v3/cdr_exports"
    assert link_query(document["links"]["last"], collection)["page[number]"] == "1"


def test_pending_exports_file_is_404(mixed: Mixed) -> None:
    """An export's file name is only told once it is completed; guessed before (read from
    the database here), it must not be served. This module's server has no workers, so its
    exports stay pending."""
    pending = mixed.ids[-1]
    with mixed.client() as client:
        shown = client.get(f"/v3/cdr_exports/{pending}").json()["data"]["attributes"]
        assert (shown["status"], shown["url"]) == ("Pending", None)
        [(file_name,)] = run_sql(
            mixed.service, "SELECT file_name FROM exports WHERE id = :id", id=pending
        )
        assert_error(client.get(f"/v3/cdr_exports/{file_name}.csv"), 404, code="404")
        assert client.head(f"/v3/cdr_exports/{file_name}.csv").status_code == 404
