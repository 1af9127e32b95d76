"""The list endpoint's query string: sort, page[number], page[size], fields[...]."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import QueryParams

from cdrex.api.errors import ApiError, error_object
from cdrex.exports.versions import VERSIONS, ApiVersion

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
# The row offset a page number gives must fit a signed 64-bit integer: SQLite and PostgreSQL
# both fail on a larger OFFSET, and no account has that many exports anyway.
MAX_PAGE_NUMBER = (2**63 - 1) // MAX_PAGE_SIZE
# What one list request may ask. Each is far past what a client needs, and keeps a request
# from reaching a database limit (SQLite takes at most 1,999 ORDER BY terms) or from
# filling the caches that remember queries.
MAX_QUERY_BYTES = 8 * 1024  # the query string as sent
MAX_SORT_KEYS = 10
MAX_FILTER_VALUES = 100  # comma-separated values of one filter[...]
# Query strings remembered parsed: those of clients that poll, not one-off long ones.
MAX_REMEMBERED_QUERY_BYTES = 1024


@dataclass(frozen=True)
class ListQuery:
    sort: list[tuple[str, bool]]  # (field, descending)
    page_number: int
    page_size: int
    fields: frozenset[str] | None
    raw_sort: str | None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (key, values: any matches)

    @property
    def offset(self) -> int:
        return (self.page_number - 1) * self.page_size

    def page_link(self, base: str, number: int) -> str:
        params: dict[str, object] = {"page[number]": number, "page[size]": self.page_size}
        if self.raw_sort:
            params["sort"] = self.raw_sort
        params.update((f"filter[{key}]", ",".join(values)) for key, values in self.filters)
        return f"{base}?{urlencode(params)}"


def _bad(code: str, title: str, detail: str, parameter: str) -> ApiError:
    return ApiError(400, [error_object(400, detail, code=code, title=title, parameter=parameter)])


def _parse_sort(raw: str, sortable: tuple[str, ...]) -> list[tuple[str, bool]]:
    items = raw.split(",")
    if len(items) > MAX_SORT_KEYS:
        raise _bad(
            "114",
            "Invalid sort criteria",
            f"sort takes at most {MAX_SORT_KEYS} keys, not {len(items)}.",
            "sort",
        )
    sort = []
    for item in items:
        name = item.removeprefix("-")
        if name not in sortable:
            raise _bad(
                "114",
                "Invalid sort criteria",
                f"{item} is not a valid sort criteria (sortable: {', '.join(sortable)}).",
                "sort",
            )
        sort.append((name, item.startswith("-")))
    return sort


def _page_value(params: QueryParams, name: str, default: int, maximum: int | None) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    # Length first: int() raises ValueError on strings of thousands of digits.
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 20 else 0
    if value < 1 or (maximum is not None and value > maximum):
        limit = f" and at most {maximum}" if maximum else ""
        raise _bad(
            "118",
            "Invalid page value",
            f"{raw!r} is not a valid value for {name}: use an integer of at least 1{limit}.",
            name,
        )
    return value


def _filter_values(raw: str, name: str) -> tuple[str, ...]:
    # A comma-separated value matches any listed value (spec §10.4).
    values = tuple(raw.split(","))
    if len(values) > MAX_FILTER_VALUES:
        raise _bad(
            "107",
            "Invalid filter value",
            f"{name} takes at most {MAX_FILTER_VALUES} values, not {len(values)}.",
            name,
        )
    if "\x00" in raw:  # PostgreSQL text cannot hold it: refused on SQLite too
        raise _bad(
            "107",
            "Invalid filter value",
            f"{name} must not contain the NUL character (U+0000).",
            name,
        )
    return values


def _check_length(query_string: bytes) -> None:
    """Refuse a query string over MAX_QUERY_BYTES, naming its longest parameter."""
    if len(query_string) <= MAX_QUERY_BYTES:
        return
    longest = max(query_string.split(b"&"), key=len)
    name = next(iter(parse_qsl(longest.decode("latin-1"), keep_blank_values=True)), ("",))[0]
    raise _bad(
        "400",
        "Query string too long",
        f"The query string is limited to {MAX_QUERY_BYTES} bytes; {name} is the longest parameter.",
        name,
    )


def parse_list_query(params: QueryParams, version: ApiVersion) -> ListQuery:
    fields_key = f"fields[{version.collection}]"
    filters: dict[str, tuple[str, ...]] = {}
    for name in params:
        if name.startswith("filter[") and name.endswith("]"):
            key = name[7:-1]
            if key not in version.list_filters:
                raise _bad("102", "Filter not allowed", f"{key} is not allowed.", name)
            filters[key] = _filter_values(params[name], name)
        elif name not in ("sort", "page[number]", "page[size]", fields_key):
            raise _bad("105", "Param not allowed", f"{name} is not allowed.", name)
    fields = None
    if fields_key in params:
        fields = frozenset(filter(None, params[fields_key].split(",")))
        unknown = sorted(fields - set(version.attributes))
        if unknown:
            raise _bad(
                "104",
                "Invalid field",
                f"{unknown[0]} is not a valid field for {version.collection}.",
                fields_key,
            )
    raw_sort = params.get("sort")
    return ListQuery(
        sort=_parse_sort(raw_sort, version.sort_fields) if raw_sort else [],
        page_number=_page_value(params, "page[number]", 1, MAX_PAGE_NUMBER),
        page_size=_page_value(params, "page[size]", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        fields=fields,
        raw_sort=raw_sort,
        filters=tuple(filters.items()),
    )


def cached_list_query(query_string: bytes, version_name: str) -> ListQuery:
    """``parse_list_query`` of a raw query string, remembered when short: clients poll with
    the same few query strings, and parsing cost a tenth of a cached list response. A bad
    query string raises every time (lru_cache keeps results only); the ListQuery is shared,
    read-only."""
    _check_length(query_string)
    if len(query_string) > MAX_REMEMBERED_QUERY_BYTES:
        return _parse(query_string, version_name)
    return _remembered(query_string, version_name)


def _parse(query_string: bytes, version_name: str) -> ListQuery:
    return parse_list_query(QueryParams(query_string), VERSIONS[version_name])


_remembered = functools.lru_cache(maxsize=256)(_parse)


def page_links(query: ListQuery, base: str, total: int) -> dict[str, str]:
    last = max(1, -(-total // query.page_size))
    links = {
        "self": query.page_link(base, query.page_number),
        "first": query.page_link(base, 1),
    }
    if query.page_number > 1:
        links["prev"] = query.page_link(base, min(query.page_number - 1, last))
    if query.page_number < last:
        links["next"] = query.page_link(base, query.page_number + 1)
    links["last"] = query.page_link(base, last)
    return links
