"""The HTTP layer's pure parts, in process: content negotiation, request documents, list
query strings, error documents (docs/api.md: "Content negotiation", "Invalid create
input", "page[size] over 100", "Request size")."""

from __future__ import annotations

import asyncio
from http import HTTPStatus

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request

from cdrex.api.bodies import MAX_BODY_BYTES, read_body, resource_attributes
from cdrex.api.errors import (
    ApiError,
    JsonApiResponse,
    error_object,
    json_pointer,
    not_found,
    on_api_error,
    on_database_unavailable,
    on_http_exception,
    on_unexpected,
)
from cdrex.api.listing import (
    MAX_PAGE_NUMBER,
    cached_list_query,
    page_links,
    parse_list_query,
)
from cdrex.api.negotiation import accepts_jsonapi, check_accept, check_request_body_type
from cdrex.api.protocol import FIELDS_TOO_LARGE, TARGET_TOO_LONG, refusal
from cdrex.exports.versions import VERSIONS

JSONAPI = "application/vnd.api+json"
V2017, V2026 = VERSIONS["2017-09-18"], VERSIONS["2026-04-16"]


def request(
    headers: dict[str, str] | None = None, body_chunks: list[bytes] | None = None
) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v3/exports",
        "raw_path": b"/v3/exports",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "scheme": "http",
        "server": ("testserver", 80),
    }
    chunks = list(body_chunks or [b""])

    async def receive() -> dict:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    return Request(scope, receive)


def raised(call) -> ApiError:  # type: ignore[no-untyped-def]
    with pytest.raises(ApiError) as error:
        call()
    return error.value


# --- Negotiation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        (None, True),
        ("", True),
        (JSONAPI, True),
        ("APPLICATION/VND.API+JSON", True),
        ("*/*", True),
        ("application/*", True),
        ("text/html, application/vnd.api+json", True),
        ("text/html;q=0.9, */*;q=0.1", True),
        ("application/vnd.api+json; charset=utf-8", False),  # parameters are not allowed
        ('application/vnd.api+json; ext="https://jsonapi.org/ext/atomic"', False),
        ("application/vnd.api+json;q=0", False),
        ("application/vnd.api+json;q=nonsense", False),
        ("*/*;q=0", False),
        ("text/csv", False),
        ("application/json", False),
        ("text/*", False),
    ],
)
def test_accept(accept: str | None, ok: bool) -> None:
    assert accepts_jsonapi(accept) is ok
    headers = {} if accept is None else {"accept": accept}
    if ok:
        check_accept(request(headers))
    else:
        error = raised(lambda: check_accept(request(headers)))
        assert error.status == 406
        assert error.errors[0]["detail"] == (
            "The Accept header must allow application/vnd.api+json without media type parameters."
        )


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        (JSONAPI, True),
        (" Application/Vnd.Api+Json ", True),
        ("application/vnd.api+json; charset=utf-8", False),
        ("application/json", False),
        ("", False),
        (None, False),
    ],
)
def test_request_body_type(content_type: str | None, ok: bool) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    if ok:
        check_request_body_type(request(headers))
    else:
        assert raised(lambda: check_request_body_type(request(headers))).status == 415


# --- Request documents ------------------------------------------------------------------


def attributes_of(body: object, version=V2026, allowed=("filters",), resource_id=None):  # type: ignore[no-untyped-def]
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return resource_attributes(raw, version, allowed, resource_id)


def test_a_create_document_yields_its_attributes() -> None:
    body = {"data": {"type": "exports", "attributes": {"filters": {"a": 1}}}}
    assert attributes_of(body) == {"filters": {"a": 1}}
    assert attributes_of({"data": {"type": "exports"}}) == {}


@pytest.mark.parametrize(
    ("body", "status", "pointer", "detail"),
    [
        (b"{", 400, None, "The request body is not valid JSON."),
        (b"", 400, None, "The request body is not valid JSON."),
        ([], 400, "/data", "The request body must be a JSON:API document with a data object."),
        (
            {"data": []},
            400,
            "/data",
            "The request body must be a JSON:API document with a data object.",
        ),
        (
            {"data": None},
            400,
            "/data",
            "The request body must be a JSON:API document with a data object.",
        ),
        ({"data": {}}, 400, "/data/type", "data must have a type member."),
        (
            {"data": {"type": "cdr_exports"}},
            409,
            "/data/type",
            "type must be 'exports', not 'cdr_exports'.",
        ),
        (
            {"data": {"type": "exports", "id": "x"}},
            403,
            "/data/id",
            "Client-generated ids are not supported.",
        ),
        (
            {"data": {"type": "exports", "attributes": []}},
            422,
            "/data/attributes",
            "attributes must be an object.",
        ),
    ],
)
def test_bad_create_documents(body: object, status: int, pointer: str | None, detail: str) -> None:
    error = raised(lambda: attributes_of(body))
    assert error.status == status
    first = error.errors[0]
    assert first["detail"] == detail
    assert first.get("source") == ({"pointer": pointer} if pointer else None)
    if status == 409:
        assert (first["code"], first["title"]) == ("116", "Type mismatch")


def test_every_attribute_not_allowed_is_named() -> None:
    body = {
        "data": {
            "type": "exports",
            "attributes": {"filters": {}, "status": "completed", "a/b~c": 1},
            "relationships": {},
        }
    }
    error = raised(lambda: attributes_of(body))
    assert error.status == 422
    assert [(e["code"], e["title"], e["detail"], e["source"]["pointer"]) for e in error.errors] == [
        ("100", "Param not allowed", "status is not allowed.", "/data/attributes/status"),
        ("100", "Param not allowed", "a/b~c is not allowed.", "/data/attributes/a~1b~0c"),
        ("100", "Param not allowed", "relationships is not allowed.", "/data/relationships"),
    ]


def test_an_update_names_its_resource() -> None:
    the_id = "11111111-1111-4111-8111-111111111111"
    body = {"data": {"type": "exports", "id": the_id, "attributes": {"external_reference_id": "r"}}}
    assert attributes_of(body, allowed=("external_reference_id",), resource_id=the_id) == {
        "external_reference_id": "r"
    }
    missing = raised(lambda: attributes_of({"data": {"type": "exports"}}, resource_id=the_id))
    assert (missing.status, missing.errors[0]["source"]) == (400, {"pointer": "/data/id"})
    other = {"data": {"type": "exports", "id": "other"}}
    mismatch = raised(lambda: attributes_of(other, resource_id=the_id))
    assert mismatch.status == 409
    assert mismatch.errors[0]["title"] == "Id mismatch"
    assert mismatch.errors[0]["detail"] == "data.id must be the id in the URL."


def test_body_size_limit() -> None:
    assert asyncio.run(read_body(request(body_chunks=[b"ab", b"cd"]))) == b"abcd"
    assert (
        asyncio.run(read_body(request(body_chunks=[b"x" * MAX_BODY_BYTES])))
        == b"x" * MAX_BODY_BYTES
    )
    declared = request({"content-length": str(MAX_BODY_BYTES + 1)})
    with pytest.raises(ApiError) as error:
        asyncio.run(read_body(declared))
    assert error.value.status == 413
    assert error.value.errors[0]["detail"] == "Request bodies are limited to 1048576 bytes."
    # A chunked body declares nothing: it is counted as it comes.
    streamed = request(body_chunks=[b"x" * MAX_BODY_BYTES, b"y"])
    with pytest.raises(ApiError) as error:
        asyncio.run(read_body(streamed))
    assert error.value.status == 413


# --- List query strings -----------------------------------------------------------------


def query(text: str, version=V2026):  # type: ignore[no-untyped-def]
    return parse_list_query(QueryParams(text), version)


def bad_query(text: str, version=V2026) -> dict:  # type: ignore[no-untyped-def]
    error = raised(lambda: query(text, version))
    assert error.status == 400 and len(error.errors) == 1
    first = error.errors[0]
    assert "source" not in first  # a query parameter goes in meta (docs/api.md)
    return first


def test_defaults() -> None:
    parsed = query("")
    assert parsed.sort == [] and parsed.raw_sort is None
    assert (parsed.page_number, parsed.page_size, parsed.offset) == (1, 50, 0)
    assert parsed.fields is None and parsed.filters == ()


def test_sort_pages_fields_and_filters() -> None:
    parsed = query(
        "sort=-created_at,status&page[number]=3&page[size]=20"
        "&fields[exports]=status,url,&filter[id]=a,b&filter[external_reference_id]=r"
    )
    assert parsed.sort == [("created_at", True), ("status", False)]
    assert (parsed.page_number, parsed.page_size, parsed.offset) == (3, 20, 40)
    assert parsed.fields == frozenset({"status", "url"})
    assert parsed.filters == (("id", ("a", "b")), ("external_reference_id", ("r",)))
    assert query(f"page[number]={MAX_PAGE_NUMBER}").page_number == 92233720368547758
    assert query("page[size]=100").page_size == 100


@pytest.mark.parametrize(
    ("text", "version", "code", "parameter", "detail"),
    [
        (
            "sort=id",
            V2026,
            "114",
            "sort",
            "id is not a valid sort criteria (sortable: status, created_at, "
            "external_reference_id).",
        ),
        (
            "sort=external_reference_id",
            V2017,
            "114",
            "sort",
            "external_reference_id is not a valid sort criteria (sortable: status, created_at).",
        ),
        (
            "sort=" + ",".join(["status"] * 11),
            V2026,
            "114",
            "sort",
            "sort takes at most 10 keys, not 11.",
        ),
        (
            "page[size]=101",
            V2026,
            "118",
            "page[size]",
            "'101' is not a valid value for page[size]: "
            "use an integer of at least 1 and at most 100.",
        ),
        (
            "page[size]=0",
            V2026,
            "118",
            "page[size]",
            "'0' is not a valid value for page[size]: "
            "use an integer of at least 1 and at most 100.",
        ),
        (
            "page[size]=-1",
            V2026,
            "118",
            "page[size]",
            "'-1' is not a valid value for page[size]: "
            "use an integer of at least 1 and at most 100.",
        ),
        (
            "page[number]=x",
            V2026,
            "118",
            "page[number]",
            "'x' is not a valid value for page[number]: "
            "use an integer of at least 1 and at most 92233720368547758.",
        ),
        ("page[number]=92233720368547759", V2026, "118", "page[number]", None),
        ("page[number]=" + "9" * 5000, V2026, "118", "page[number]", None),
        ("page[number]=%EF%BC%91", V2026, "118", "page[number]", None),  # a full-width 1
        ("foo=1", V2026, "105", "foo", "foo is not allowed."),
        (
            "fields[cdr_exports]=status",
            V2026,
            "105",
            "fields[cdr_exports]",
            "fields[cdr_exports] is not allowed.",
        ),
        ("filter[id]=x", V2017, "102", "filter[id]", "id is not allowed."),
        ("filter[status]=x", V2026, "102", "filter[status]", "status is not allowed."),
        (
            "filter[id]=" + ",".join("x" * 101),
            V2026,
            "107",
            "filter[id]",
            "filter[id] takes at most 100 values, not 101.",
        ),
        (
            "filter[id]=a%00b",
            V2026,
            "107",
            "filter[id]",
            "filter[id] must not contain the NUL character (U+0000).",
        ),
        (
            "fields[exports]=status,bogus,also",
            V2026,
            "104",
            "fields[exports]",
            "also is not a valid field for exports.",
        ),
    ],
)
def test_bad_list_queries(
    text: str, version, code: str, parameter: str, detail: str | None
) -> None:  # type: ignore[no-untyped-def]
    first = bad_query(text, version)
    assert first["code"] == code
    assert first["meta"] == {"parameter": parameter}
    if detail is not None:
        assert first["detail"] == detail


def test_query_strings_over_8_kib_are_refused_naming_the_longest_parameter() -> None:
    text = b"page[size]=10&filter[id]=" + b"a" * 9000
    with pytest.raises(ApiError) as error:
        cached_list_query(text, "2026-04-16")
    first = error.value.errors[0]
    assert (error.value.status, first["code"], first["title"]) == (
        400,
        "400",
        "Query string too long",
    )
    assert first["meta"] == {"parameter": "filter[id]"}
    # Just under the limit is parsed (and a bad one raises each time, never cached).
    assert cached_list_query(b"filter[id]=" + b"a" * (8192 - 11), "2026-04-16").filters
    for _ in range(2):
        with pytest.raises(ApiError):
            cached_list_query(b"page[size]=0", "2026-04-16")


def test_page_links() -> None:
    base = "https://cdrex.example/v3/exports"
    link = base + "?page%5Bnumber%5D={}&page%5Bsize%5D=50"
    assert page_links(query(""), base, 0) == {
        "self": link.format(1),
        "first": link.format(1),
        "last": link.format(1),
    }
    assert page_links(query("page[number]=2"), base, 120) == {
        "self": link.format(2),
        "first": link.format(1),
        "prev": link.format(1),
        "next": link.format(3),
        "last": link.format(3),
    }
    # Past the end: prev leads back to the last page.
    assert page_links(query("page[number]=9"), base, 100) == {
        "self": link.format(9),
        "first": link.format(1),
        "prev": link.format(2),
        "last": link.format(2),
    }
    sorted_filtered = query("sort=-status&filter[id]=a,b&page[size]=10")
    assert page_links(sorted_filtered, base, 5)["self"] == (
        base + "?page%5Bnumber%5D=1&page%5Bsize%5D=10&sort=-status&filter%5Bid%5D=a%2Cb"
    )


@given(st.integers(0, 10_000), st.integers(1, 100), st.integers(1, 200))
def test_page_links_properties(total: int, size: int, number: int) -> None:
    links = page_links(query(f"page[number]={number}&page[size]={size}"), "http://h/x", total)
    last = max(1, -(-total // size))
    assert links["last"].startswith(f"http://h/x?page%5Bnumber%5D={last}&")
    assert ("next" in links) is (number < last)
    assert ("prev" in links) is (number > 1)


# --- Error documents --------------------------------------------------------------------


def test_error_objects() -> None:
    assert error_object(
        422, "filters - month is required", code="100", pointer="/data/attributes/filters/month"
    ) == {
        "title": "Unprocessable Entity",
        "detail": "filters - month is required",
        "code": "100",
        "status": "422",
        "source": {"pointer": "/data/attributes/filters/month"},
    }
    assert error_object(400, "d", parameter="sort") == {
        "title": "Bad Request",
        "detail": "d",
        "code": "400",
        "status": "400",
        "meta": {"parameter": "sort"},
    }
    assert error_object(418, "d")["title"] == "Error"
    assert json_pointer("data", "attributes", "a/b~c") == "/data/attributes/a~1b~0c"
    assert json_pointer() == ""
    assert not_found("id x").errors[0] == {
        "title": "Record not found",
        "detail": "The record identified by id x could not be found.",
        "code": "404",
        "status": "404",
    }


def headers_of(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {name.decode(): value.decode() for name, value in response.raw_headers}


def test_error_responses_carry_didwws_headers() -> None:
    response = asyncio.run(on_api_error(request(), ApiError.one(404, "gone")))
    assert response.status_code == 404
    headers = headers_of(response)
    assert headers["content-type"] == JSONAPI
    assert (headers["vary"], headers["cache-control"]) == ("Accept", "no-cache")
    assert orjson.loads(response.body) == {
        "errors": [{"title": "Not Found", "detail": "gone", "code": "404", "status": "404"}]
    }
    unavailable = asyncio.run(on_database_unavailable(request(), OSError("down")))
    assert (unavailable.status_code, headers_of(unavailable)["retry-after"]) == (503, "1")
    crashed = asyncio.run(on_unexpected(request(), RuntimeError("boom")))
    assert (crashed.status_code, headers_of(crashed)["connection"]) == (500, "close")
    assert b"boom" not in crashed.body
    no_route = asyncio.run(on_http_exception(request(), HTTPException(404)))
    assert orjson.loads(no_route.body)["errors"][0]["detail"] == "No route matches /v3/exports"
    not_allowed = asyncio.run(
        on_http_exception(request(), HTTPException(405, headers={"Allow": "GET"}))
    )
    assert headers_of(not_allowed)["allow"] == "GET"


def test_json_api_responses_default_to_no_cache() -> None:
    response = JsonApiResponse({"data": []}, cache_control="max-age=0, private, must-revalidate")
    assert headers_of(response)["cache-control"] == "max-age=0, private, must-revalidate"
    assert response.body == b'{"data":[]}'


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (HTTPStatus.REQUEST_URI_TOO_LONG, TARGET_TOO_LONG),
        (HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, FIELDS_TOO_LARGE),
    ],
)
def test_head_refusals_are_json_api_documents_that_close(status: HTTPStatus, detail: str) -> None:
    headers, body = refusal(status)
    named = {name.decode(): value.decode() for name, value in headers}
    assert named["connection"] == "close"
    assert named["content-type"] == JSONAPI
    assert named["content-length"] == str(len(body))
    error = orjson.loads(body)["errors"][0]
    assert (error["status"], error["code"], error["detail"]) == (
        str(int(status)),
        str(int(status)),
        detail,
    )
    assert TARGET_TOO_LONG == "The request target (path and query) is limited to 16384 bytes."
    assert FIELDS_TOO_LARGE == "The request's header fields are limited to 16384 bytes in all."
