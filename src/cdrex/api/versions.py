"""What each DIDWW API version names, accepts and returns: a table, not conditions.

Handlers read everything version-specific from an ``ApiVersion``; adding a version is adding
a row here (and its file format in cdrex.exports.formats).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdrex.exports.model import ExportStatus, ExportType


@dataclass(frozen=True)
class ApiVersion:
    name: str
    collection: str  # path segment under /v3 and JSON:API resource type
    attributes: tuple[str, ...]  # response attributes, in the order DIDWW sends them
    writable: tuple[str, ...]  # attributes a create request may carry
    status_names: dict[ExportStatus, str]
    export_types: tuple[ExportType, ...]  # what an export of this version may contain

    def status_name(self, status: ExportStatus) -> str:
        return self.status_names[status]


CAPITALISED = {status: status.value.capitalize() for status in ExportStatus}

V2017_09_18 = ApiVersion(
    name="2017-09-18",
    collection="cdr_exports",
    attributes=("filters", "status", "created_at", "url"),
    writable=("filters",),
    status_names=CAPITALISED,
    export_types=(ExportType.CDR_IN,),
)

VERSIONS: dict[str, ApiVersion] = {version.name: version for version in (V2017_09_18,)}
DEFAULT_VERSION = V2017_09_18
