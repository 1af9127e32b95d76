"""The API's URLs (cdrex.api.urls), built from the named routes: the same URLs the code
wrote by hand before, for every version, export type and base; and each routes back to the
endpoint it names."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from starlette.routing import Match, Route

from cdrex.api.app import routes
from cdrex.api.urls import (
    collection_route,
    collection_url,
    export_route,
    export_url,
    file_route,
    file_url,
)
from cdrex.exports.kinds import file_format
from cdrex.exports.model import CdrSelection, Export, ExportType
from cdrex.exports.versions import VERSIONS, ApiVersion

EXPORT = Export(
    account_id=1,
    api_version="2017-09-18",
    export_type=ExportType.CDR_IN,
    filters={},
    selection=CdrSelection(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)),
    created_at=datetime(2026, 5, 17, tzinfo=UTC),
    id="11111111-1111-4111-8111-111111111111",
    file_name="22222222-2222-4222-8222-222222222222",
)
# Every export a version can create (its own file format), shown by every version.
EXPORTS = [
    replace(EXPORT, api_version=creator.name, export_type=export_type)
    for creator in VERSIONS.values()
    for export_type in creator.export_types
]
# The configured public URL or the request's scheme://host[:port] (a path prefix behind a
# proxy), and "" when a callback has neither (a path alone).
BASES = ["https://cdrex.example", "http://127.0.0.1:8000", "https://example.com/cdrex", ""]


def _route_of(path: str, method: str = "GET") -> Route:
    scope = {"type": "http", "path": path, "method": method}
    for route in routes():  # in order, as the app tries them
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return route
    raise AssertionError(f"no route for {path}")


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("version", VERSIONS.values(), ids=list(VERSIONS))
def test_urls_are_the_hand_built_ones(base: str, version: ApiVersion) -> None:
    collection = version.collection
    assert collection_url(base, version) == f"{base}/v3/{collection}"
    for export in EXPORTS:
        suffix = file_format(export.api_version, export.export_type).suffix
        assert export_url(base, version, export) == f"{base}/v3/{collection}/{export.id}"
        assert file_url(base, version, export) == (
            f"{base}/v3/{collection}/{export.file_name}{suffix}"
        )


@pytest.mark.parametrize("version", VERSIONS.values(), ids=list(VERSIONS))
def test_urls_route_to_their_endpoints(version: ApiVersion) -> None:
    collection = version.collection
    assert _route_of(collection_url("", version), "POST").name == collection_route(collection)
    for export in EXPORTS:
        export_route_ = _route_of(export_url("", version, export))
        assert export_route_.name == export_route(collection)
        shown = export_route_.matches(
            {"type": "http", "path": export_url("", version, export), "method": "GET"}
        )[1]
        assert shown["path_params"] == {"export_id": export.id}
        suffix = file_format(export.api_version, export.export_type).suffix
        route = _route_of(file_url("", version, export))
        assert route.name == file_route(collection, suffix)
        downloaded = route.matches(
            {"type": "http", "path": file_url("", version, export), "method": "GET"}
        )[1]
        assert downloaded["path_params"] == {"file_name": export.file_name}
        # Formatted by cdrex.api.urls as Starlette would build them.
        assert file_url("", version, export) == route.url_path_for(
            route.name, file_name=export.file_name
        )
        assert export_url("", version, export) == export_route_.url_path_for(
            export_route_.name, export_id=export.id
        )


def test_every_route_is_named_once() -> None:
    names = [route.name for route in routes()]
    assert len(set(names)) == len(names)
