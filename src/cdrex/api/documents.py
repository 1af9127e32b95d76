"""Exports as JSON:API resource objects, the way each API version shows them."""

from __future__ import annotations

from datetime import datetime

from cdrex.api.versions import ApiVersion
from cdrex.exports.formats import file_format
from cdrex.exports.model import Export, ExportStatus


def timestamp(moment: datetime) -> str:
    """DIDWW's format: UTC, milliseconds, ``Z`` (``2017-06-25T14:56:31.513Z``)."""
    # isoformat() cut before its offset: half the time of strftime-style formatting, and
    # a list page formats up to 100 of these.
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def file_url(base_url: str, version: ApiVersion, export: Export) -> str:
    suffix = file_format(export.api_version, export.export_type.value).suffix
    return f"{base_url}/v3/{version.collection}/{export.file_name}{suffix}"


def resource(
    export: Export, version: ApiVersion, base_url: str, fields: frozenset[str] | None = None
) -> dict:
    values = {
        "filters": export.filters,
        "status": version.status_name(export.status),
        "created_at": timestamp(export.created_at),
        "url": file_url(base_url, version, export) if export.is_completed else None,
    }
    names = version.attributes if fields is None else [n for n in version.attributes if n in fields]
    document = {
        "id": export.id,
        "type": version.collection,
        "attributes": {name: values[name] for name in names},
    }
    if export.status is ExportStatus.FAILED:
        # Failed is cdrex's own state; why it failed goes in the resource's meta, which
        # JSON:API clients (DIDWW's SDKs included) accept and ignore.
        document["meta"] = {"failure_reason": export.failure_reason}
    return document


def meta(version: ApiVersion, **extra: object) -> dict:
    return {**extra, "api_version": version.name}
