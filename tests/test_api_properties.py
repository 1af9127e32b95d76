"""No input gives a 5xx, property-based: for every API version of the version table, arbitrary
JSON values in each member a create or update document of it has or may have (every
attribute it lets clients write or update, every filter key it names, the type and id, an
unknown one), and arbitrary strings in each query parameter of its list endpoint (and in
unknown ones). Every answer is below 500, and every error is a JSON:API error document.

Each case is one member of an otherwise valid document, so an odd value alone goes as deep
as it can (to the database, when the rest is valid). Values mix JSON of every shape, huge
numbers, text with NUL and odd Unicode, and timestamps at the ends of the datetime range.
Examples are derandomized: a run is reproducible, and a failure prints its input."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdrex.exports.filters import TIMESTAMP
from cdrex.exports.model import ExportType
from cdrex.exports.versions import VERSIONS, ApiVersion
from conftest import JSONAPI, Service, assert_error, month_back

EXAMPLES = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Strings that have broken parsers and databases: NUL (PostgreSQL text cannot hold it),
# lone surrogates, long digit runs, near misses of valid values.
ODD_STRINGS = st.sampled_from([
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff", "\u202e", "\ufeff", "🤖" * 60, "9" * 5_000,
    "-1", "0", "1e400", "NaN", "null", "cdr_in", "cdr_out", "POST", "post", "2026-02-30 00:00:00",
    "https://hooks.example.com/\x00", "http://[::1", "https://" + "a" * 3_000,
])  # fmt: skip
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=30)  # surrogates too
TEXT = st.one_of(
    ODD_STRINGS,
    ANY_TEXT,
    st.tuples(ANY_TEXT, ANY_TEXT).map("\x00".join),  # a NUL somewhere
)
# Timestamps as the pattern takes them, and at the ends of the range with any offset.
TIMESTAMPS = st.one_of(
    st.from_regex(TIMESTAMP, fullmatch=True),
    st.tuples(
        st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:59:59", "0001-01-01 00:30:00"]),
        st.from_regex(r"[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]", fullmatch=True),
    ).map("".join),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=8,
)
VALUES = st.one_of(TEXT, SCALARS, JSON_VALUES, TIMESTAMPS)


def this_month(version: ApiVersion, export_type: ExportType) -> dict[str, object]:
    """The version's filters for ``export_type`` selecting the current month."""
    year, month = month_back(0)
    if version.filter_rules[export_type].period == "month":
        return {"year": year, "month": month}
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return {
        "from": f"{year}-{month:02d}-01 00:00:00",
        "to": f"{next_year}-{next_month:02d}-01 00:00:00",
    }


def valid_create(version: ApiVersion, export_type: ExportType) -> dict:
    attributes: dict = {"filters": this_month(version, export_type)}
    if version.requires_export_type:
        attributes["export_type"] = export_type.value
    return {"data": {"type": version.collection, "attributes": attributes}}


def create_members(version: ApiVersion) -> list[tuple[str, ...]]:
    filter_keys = dict.fromkeys(key for rule in version.filter_rules.values() for key in rule.keys)
    return [
        ("data", "type"),
        ("data", "id"),
        ("data", "attributes"),
        *(("data", "attributes", name) for name in (*version.writable, "unknown")),
        *(("data", "attributes", "filters", key) for key in (*filter_keys, "unknown")),
    ]


def update_members(version: ApiVersion) -> list[tuple[str, ...]]:
    return [
        ("data", "type"),
        ("data", "id"),
        ("data", "attributes"),
        *(("data", "attributes", name) for name in (*version.updatable, "unknown")),
    ]


def with_member(document: dict, path: tuple[str, ...], value: object) -> dict:
    document = copy.deepcopy(document)
    parent = document
    for name in path[:-1]:
        parent = parent.setdefault(name, {})
    parent[path[-1]] = value
    return document


Members = Callable[[ApiVersion], list[tuple[str, ...]]]


def cases(
    members: Members, versions: Iterable[ApiVersion]
) -> tuple[list[tuple[ApiVersion, tuple[str, ...]]], list[str]]:
    """(version, member path) pairs and their test ids."""
    pairs = [(version, path) for version in versions for path in members(version)]
    return pairs, [f"{version.name}-{'.'.join(path[1:])}" for version, path in pairs]


# Members whose near-valid values reach further than arbitrary ones: tried first.
NEAR_VALID = {
    "from": TIMESTAMPS,
    "to": TIMESTAMPS,
    "callback_url": TEXT.map("https://hooks.example.com/".__add__),
}


def values_for(path: tuple[str, ...]) -> st.SearchStrategy:
    near_valid = NEAR_VALID.get(path[-1])
    return VALUES if near_valid is None else st.one_of(near_valid, VALUES)


def assert_well_formed(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert_error(response, response.status_code)


@pytest.fixture(scope="module")
def client(api_service: Service) -> Iterator[httpx.Client]:
    with api_service.client(api_service.new_account()) as client:
        yield client


def send(
    client: httpx.Client, version: str, method: str, path: str, document: dict
) -> httpx.Response:
    # json.dumps escapes lone surrogates (\ud800), which a JSON parser must then refuse.
    return client.request(
        method,
        path,
        content=json.dumps(document).encode(),
        headers={"Content-Type": JSONAPI, "X-DIDWW-API-Version": version},
    )


CREATES, CREATE_IDS = cases(create_members, VERSIONS.values())
UPDATES, UPDATE_IDS = cases(update_members, [v for v in VERSIONS.values() if v.updatable])


@pytest.mark.parametrize(("version", "member"), CREATES, ids=CREATE_IDS)
def test_no_create_value_gives_a_5xx(
    client: httpx.Client, version: ApiVersion, member: tuple[str, ...]
) -> None:
    @EXAMPLES
    @given(export_type=st.sampled_from(version.export_types), value=values_for(member))
    def check(export_type: ExportType, value: object) -> None:
        document = with_member(valid_create(version, export_type), member, value)
        path = f"/v3/{version.collection}"
        assert_well_formed(send(client, version.name, "POST", path, document))

    check()


@pytest.mark.parametrize(("version", "member"), UPDATES, ids=UPDATE_IDS)
def test_no_update_value_gives_a_5xx(
    client: httpx.Client, version: ApiVersion, member: tuple[str, ...]
) -> None:
    created = send(
        client,
        version.name,
        "POST",
        f"/v3/{version.collection}",
        valid_create(version, version.export_types[0]),
    )
    export_id = created.json()["data"]["id"]
    path = f"/v3/{version.collection}/{export_id}"
    valid = {"data": {"type": version.collection, "id": export_id, "attributes": {}}}

    @EXAMPLES
    @given(value=values_for(member))
    def check(value: object) -> None:
        document = with_member(valid, member, value)
        assert_well_formed(send(client, version.name, "PATCH", path, document))

    check()


def comma_separated(items: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(items, min_size=1, max_size=12).map(",".join)


def parameter_values(version: ApiVersion) -> dict[str | None, st.SearchStrategy]:
    """Each query parameter of the version's list endpoint (None: any other name) and the
    strings it gets: near-valid lists where a parameter takes a list, else any text."""
    sort_keys = [*version.sort_fields, *(f"-{field}" for field in version.sort_fields)]
    filters = (*version.list_filters, "unknown")
    return {
        "sort": comma_separated(st.sampled_from(sort_keys) | TEXT),
        "page[number]": TEXT | st.integers().map(str),
        "page[size]": TEXT | st.integers().map(str),
        f"fields[{version.collection}]": comma_separated(
            st.sampled_from(version.attributes) | TEXT
        ),
        **{f"filter[{key}]": comma_separated(TEXT) for key in filters},
        None: TEXT,
    }


def encoded(text: str) -> str:
    """Percent-encoded as a client sends it (lone surrogates as invalid UTF-8)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


LISTS = [(version, name) for version in VERSIONS.values() for name in parameter_values(version)]


@pytest.mark.parametrize(
    ("version", "parameter"), LISTS, ids=[f"{v.name}-{name or 'other'}" for v, name in LISTS]
)
def test_no_list_query_gives_a_5xx(
    client: httpx.Client, api_service: Service, version: ApiVersion, parameter: str | None
) -> None:
    @EXAMPLES
    @given(
        name=TEXT if parameter is None else st.just(parameter),
        value=parameter_values(version)[parameter],
    )
    def check(name: str, value: str) -> None:
        query = f"{encoded(name)}={encoded(value)}"
        url = httpx.URL(f"{api_service.base_url}/v3/{version.collection}?{query}")
        assert_well_formed(client.get(url, headers={"X-DIDWW-API-Version": version.name}))

    check()
