"""What each DIDWW API version names, accepts and returns: a table, not conditions.

The HTTP handlers and the callback senders read everything version-specific from an
``ApiVersion``; adding a version is adding a row here (and its file formats to the kinds
it offers, cdrex.exports.kinds). The differences come from
docs/api.md (DIDWW spec §1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from cdrex.exports.filters import FilterRule
from cdrex.exports.kinds import KINDS
from cdrex.exports.model import CallbackMethod, ExportStatus, ExportType


@dataclass(frozen=True)
class ApiVersion:
    name: str  # the X-DIDWW-API-Version value; ISO dates, so they sort by age
    collection: str  # path segment under /v3 and JSON:API resource type
    attributes: tuple[str, ...]  # response attributes, in the order DIDWW sends them
    writable: tuple[str, ...]  # attributes a create request may carry
    updatable: tuple[str, ...]  # attributes a PATCH may change; none: no PATCH
    status_names: dict[ExportStatus, str]
    export_types: tuple[ExportType, ...]  # the export types it offers
    period: str  # how its filters give the period: "month" or "range" (cdrex.exports.filters)
    callback_methods: dict[CallbackMethod, str]  # as this version spells them
    callback_type: str  # the ``type`` a callback for an export created here carries
    callback_has_url: bool  # whether that callback carries the file's ``url``
    list_filters: tuple[str, ...] = ()  # filter[...] keys the list accepts
    sort_fields: tuple[str, ...] = ("status", "created_at")

    @cached_property
    def filter_rules(self) -> dict[ExportType, FilterRule]:
        """The filters each export type it offers accepts."""
        return {
            export_type: FilterRule(self.period, KINDS[export_type])
            for export_type in self.export_types
        }

    @property
    def requires_export_type(self) -> bool:
        return "export_type" in self.writable

    def status_name(self, status: ExportStatus) -> str:
        return self.status_names[status]


CAPITALISED = {status: status.value.capitalize() for status in ExportStatus}
LOWERCASE = {status: status.value for status in ExportStatus}
UPPER_METHODS = {method: method.value.upper() for method in CallbackMethod}
LOWER_METHODS = {method: method.value for method in CallbackMethod}

CALLBACK = ("callback_url", "callback_method")
V2017_09_18 = ApiVersion(
    name="2017-09-18",
    collection="cdr_exports",
    attributes=("filters", "status", "created_at", "url"),
    writable=("filters",),
    updatable=(),
    status_names=CAPITALISED,
    export_types=(ExportType.CDR_IN,),
    period="month",
    callback_methods={},
    callback_type="cdr_exports",
    callback_has_url=False,
)
V2021_04_19 = ApiVersion(
    name="2021-04-19",
    collection="cdr_exports",
    attributes=("filters", "status", "created_at", "url", *CALLBACK),
    writable=("filters", *CALLBACK),
    updatable=(),
    status_names=CAPITALISED,
    export_types=(ExportType.CDR_IN,),
    period="month",
    callback_methods=UPPER_METHODS,
    callback_type="cdr_exports",
    callback_has_url=False,
)
V2021_12_15 = ApiVersion(
    name="2021-12-15",
    collection="exports",
    attributes=("status", "created_at", "url", *CALLBACK, "export_type"),
    writable=("export_type", "filters", *CALLBACK),
    updatable=(),
    status_names=CAPITALISED,
    export_types=(ExportType.CDR_IN, ExportType.CDR_OUT),
    period="month",
    callback_methods=UPPER_METHODS,
    callback_type="exports",
    callback_has_url=False,
)
V2022_05_10 = replace(V2021_12_15, name="2022-05-10")  # no export changes
V2026_04_16 = ApiVersion(
    name="2026-04-16",
    collection="exports",
    attributes=(
        "status",
        "created_at",
        "url",
        *CALLBACK,
        "export_type",
        "external_reference_id",
        "filters",
    ),
    writable=("export_type", "filters", *CALLBACK, "external_reference_id"),
    updatable=("external_reference_id",),
    status_names=LOWERCASE,
    export_types=(ExportType.CDR_IN, ExportType.CDR_OUT),
    period="range",
    callback_methods=LOWER_METHODS,
    callback_type="exports",
    callback_has_url=True,
    list_filters=("id", "external_reference_id"),
    sort_fields=("status", "created_at", "external_reference_id"),
)

VERSIONS: dict[str, ApiVersion] = {
    version.name: version
    for version in (V2017_09_18, V2021_04_19, V2021_12_15, V2022_05_10, V2026_04_16)
}
DEFAULT_VERSION = V2017_09_18
COLLECTIONS = tuple(dict.fromkeys(version.collection for version in VERSIONS.values()))


def choose_version(account_default: str, requested: str | None) -> ApiVersion:
    """The version that answers, as DIDWW chooses it (spec §2.1): the header's, unless it
    is unknown or older than the account's default; else the account's default."""
    default = VERSIONS.get(account_default, DEFAULT_VERSION)
    chosen = VERSIONS.get(requested or "")
    if chosen is None or chosen.name < default.name:
        return default
    return chosen
