"""Exports as JSON:API resource objects, the way each API version shows them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cdrex.api.urls import file_url
from cdrex.exports.model import Export, ExportStatus
from cdrex.exports.versions import ApiVersion


def timestamp(moment: datetime) -> str:
    """DIDWW's format: UTC, milliseconds, ``Z`` (``2017-06-25T14:56:31.513Z``)."""
    # isoformat() cut before its offset: half the time of strftime-style formatting, and
    # a list page formats up to 100 of these.
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def _callback_method(export: Export, version: ApiVersion) -> str | None:
    method = export.callback_method
    # An export made by a later version keeps its method; an earlier version has no
    # spelling of its own for it, and shows the later one's.
    return method and version.callback_methods.get(method, method.value.upper())


# How each attribute is shown; an API version lists which it shows (ApiVersion.attributes).
ATTRIBUTES: dict[str, Callable[[Export, ApiVersion, str], object]] = {
    "filters": lambda export, version, base: export.filters,
    "status": lambda export, version, base: version.status_name(export.status),
    "created_at": lambda export, version, base: timestamp(export.created_at),
    "url": lambda export, version, base: (
        file_url(base, version, export) if export.is_completed else None
    ),
    "callback_url": lambda export, version, base: export.callback_url,
    "callback_method": lambda export, version, base: _callback_method(export, version),
    "export_type": lambda export, version, base: export.export_type.value,
    "external_reference_id": lambda export, version, base: export.external_reference_id,
}


def resource(
    export: Export, version: ApiVersion, base_url: str, fields: frozenset[str] | None = None
) -> dict:
    names = version.attributes if fields is None else [n for n in version.attributes if n in fields]
    document = {
        "id": export.id,
        "type": version.collection,
        "attributes": {name: ATTRIBUTES[name](export, version, base_url) for name in names},
    }
    if export.status is ExportStatus.FAILED:
        # Failed is cdrex's own state; why it failed goes in the resource's meta, which
        # JSON:API clients (DIDWW's SDKs included) accept and ignore.
        document["meta"] = {"failure_reason": export.failure_reason}
    return document


def meta(version: ApiVersion, **extra: object) -> dict:
    return {**extra, "api_version": version.name}
