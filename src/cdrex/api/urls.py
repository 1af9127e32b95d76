"""The API's URLs, built from its named routes (api/app.py), so that a link always routes
back to what it names. Built without a request: the worker's callbacks need them too."""

from __future__ import annotations

from functools import cache

from cdrex.exports.kinds import file_format
from cdrex.exports.model import Export
from cdrex.exports.versions import ApiVersion


def collection_route(collection: str) -> str:
    """The name of a collection's route: GET lists, POST creates."""
    return f"{collection}.collection"


def export_route(collection: str) -> str:
    """The name of one export's route, ``{export_id}``."""
    return f"{collection}.export"


def file_route(collection: str, suffix: str) -> str:
    """The name of the route of export files with this suffix, ``{file_name}``: one per
    suffix, the suffix being part of the path."""
    return f"{collection}.file{suffix}"


def collection_url(base_url: str, version: ApiVersion) -> str:
    """The version's collection: list and create."""
    return _url(base_url, collection_route(version.collection))


def export_url(base_url: str, version: ApiVersion, export: Export) -> str:
    """The export as ``version`` shows it (its collection)."""
    return _url(base_url, export_route(version.collection), export_id=export.id)


def file_url(base_url: str, version: ApiVersion, export: Export) -> str:
    """Where the export's file is downloaded: this version's collection, the file's own
    suffix (that of the version the export was created with)."""
    suffix = file_format(export.api_version, export.export_type).suffix
    return _url(base_url, file_route(version.collection, suffix), file_name=export.file_name)


def _url(base_url: str, name: str, **params: str) -> str:
    """``base_url`` (``scheme://host[:port]``, maybe a path prefix; "" for a path alone)
    and the named route's path. Joined, not URLPath.make_absolute_url: that gives a base of
    "" the scheme "http:" and no host, and parses the base again for each URL."""
    return base_url + _path_formats()[name].format(**params)


@cache
def _path_formats() -> dict[str, str]:
    """The app's route paths by name, as format strings ("/v3/cdr_exports/{export_id}").
    Formatted rather than asked of Starlette's url_path_for, which checks and converts
    each parameter: 4 us a URL, and an uncached list page builds a hundred. The values
    are export ids and file names, which cdrex makes (UUIDs): nothing to escape;
    tests/unit/test_urls.py checks both give the same paths."""
    # Imported here: the routes' endpoints import the documents, which build these URLs.
    from cdrex.api.app import routes

    return {route.name: route.path_format for route in routes()}
