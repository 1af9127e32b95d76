"""The record kinds an export can hold, one ``RecordKind`` per ``ExportType``: the registry.

Everything that differs between export types is declared here once: the record fields,
the table the records are kept in, whether PostgreSQL partitions it by month, the exact-match
filters that narrow an export (``Narrowing``), the file format each API version gives it,
and the generator of synthetic records. The store, the pipeline, the API, the CLI and the
demo read it; none of them names an export type.

Adding a kind (say ``sms_in``) touches:

1. an ``ExportType`` member (cdrex.exports.model);
2. its record fields (cdrex.cdrs.records) and its generator (cdrex.cdrs.generate);
3. its file formats, the columns per API version (cdrex.exports.formats);
4. one ``RecordKind`` entry in ``KINDS`` below (``routed_by``: the ``Resource`` whose owner
   its records go to on import, a new one if it is neither a DID nor a trunk);
5. the ``export_types`` of each API version that offers it (cdrex.exports.versions);
6. a migration (store/migrations/versions) creating its table, its partitions if
   ``partitioned_by_month``, and an exports column for each new narrowing column.

Holds table and column names only: the store builds its tables from them, so this module
(like the rest of cdrex.exports and cdrex.cdrs) imports no database or HTTP library.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cdrex.cdrs.generate import generate_inbound, generate_outbound, outbound_trunks
from cdrex.cdrs.records import (
    INBOUND_BY_NAME,
    INBOUND_FIELDS,
    OUTBOUND_BY_NAME,
    OUTBOUND_FIELDS,
    UUID_TEXT,
    Field,
)
from cdrex.exports.formats import (
    CDR_IN_2017,
    CDR_IN_2021_12,
    CDR_IN_2026_04,
    CDR_OUT_2026_04,
    FileFormat,
)
from cdrex.exports.model import ExportType


@dataclass(frozen=True)
class Narrowing:
    """An exact-match filter: only the records whose ``field`` holds the value sent."""

    key: str  # the filter as clients send it, and as it is echoed
    field: Field  # the record field it matches; the value is normalized as the field's are
    pattern: re.Pattern[str]  # what a value must match whole
    must: str  # what the pattern asks, for the error message: "must be a UUID"
    max_length: int  # of the exports column that keeps the value (the pattern stays within)
    required: bool = False  # whether every export of the kind must give it
    aliases: tuple[str, ...] = ()  # other spellings clients send for ``key``

    @property
    def column(self) -> str:
        return self.field.name


@dataclass(frozen=True)
class Resource:
    """What an account owns for a while (a DID number, an outbound trunk): a record of a
    kind routed by it belongs to whoever owned the value of its field at its time_start
    (``cdrex dids assign``, ``cdrex trunks assign``; cdrex.store.ownership)."""

    name: str  # the CLI's group ("dids") is the plural; kept in assignments.resource
    label: str  # for messages: "DID number"
    narrowing: Narrowing  # the record field naming it, and how a value is checked

    def check(self, value: str) -> str:
        """The value as stored (the field's normalization), or ValueError saying why not."""
        value = value.strip()
        if not self.narrowing.pattern.fullmatch(value):
            raise ValueError(f"{self.label} {value!r} {self.narrowing.must}")
        normalize = self.narrowing.field.normalize  # as the import stores the field
        return normalize(value) if normalize else value


class RecordGenerator(Protocol):
    """Makes ``rows`` synthetic records over the last ``months`` months up to ``now``."""

    def __call__(
        self, rows: int, months: int, now: datetime, seed: int = ...
    ) -> Iterator[tuple]: ...


def _no_notes(seed: int) -> Iterable[str]:
    return ()


@dataclass(frozen=True, eq=False)  # one instance per kind: compared by identity
class RecordKind:
    export_type: ExportType
    description: str  # what the records are, for help texts: "inbound calls"
    fields: tuple[Field, ...]  # the record format (docs/cdr-record.md), in stored order
    table: str  # the table its records are kept in
    partitioned_by_month: bool  # on PostgreSQL, by month of time_start (store/partitions.py)
    narrowings: tuple[Narrowing, ...]  # in the order the filters are echoed
    routed_by: Resource  # whose records they are: the owner of this at time_start
    month_day: bool  # whether a month period (year, month) may be cut to one ``day``
    # API version name -> the format of the file an export created there gets.
    formats: Mapping[str, FileFormat]
    generate: RecordGenerator  # synthetic records, in ``fields`` order
    demo_rows: int  # how many of them demo mode generates
    # What `cdrex cdrs generate` prints after generating with a seed: the values its
    # records can be filtered on that an operator could not guess.
    generated_notes: Callable[[int], Iterable[str]] = _no_notes


# E.164 without "+": at most 15 digits.
DID_NUMBER = Narrowing(
    "did_number",
    INBOUND_BY_NAME["did_number"],
    re.compile(r"[0-9]{3,15}"),
    "must be 3 to 15 digits",
    max_length=15,
)
VOICE_OUT_TRUNK = Narrowing(
    "voice_out_trunk.id",
    OUTBOUND_BY_NAME["voice_out_trunk_id"],
    UUID_TEXT,
    "must be a UUID",
    max_length=36,
    # DIDWW's TypeScript SDK sends the trunk filter as voice_out_trunk_id, its Go SDK
    # documents that spelling: both are accepted, and echoed as voice_out_trunk.id.
    aliases=("voice_out_trunk_id",),
)


DID = Resource("did", "DID number", DID_NUMBER)
TRUNK = Resource("trunk", "trunk", VOICE_OUT_TRUNK)
RESOURCES: dict[str, Resource] = {resource.name: resource for resource in (DID, TRUNK)}


def _trunk_notes(seed: int) -> Iterator[str]:
    """The trunks outbound calls of ``seed`` use: the ids a voice_out_trunk.id filter takes."""
    for trunk_id, name in outbound_trunks(seed):
        yield f"trunk {trunk_id}  {name}"


KINDS: dict[ExportType, RecordKind] = {
    kind.export_type: kind
    for kind in (
        RecordKind(
            export_type=ExportType.CDR_IN,
            description="inbound calls",
            fields=INBOUND_FIELDS,
            table="cdrs_in",
            partitioned_by_month=True,
            narrowings=(DID_NUMBER,),
            routed_by=DID,
            month_day=False,
            formats={
                "2017-09-18": CDR_IN_2017,
                "2021-04-19": CDR_IN_2017,
                "2021-12-15": CDR_IN_2021_12,
                "2022-05-10": CDR_IN_2021_12,
                "2026-04-16": CDR_IN_2026_04,
            },
            generate=generate_inbound,
            demo_rows=120_000,
        ),
        RecordKind(
            export_type=ExportType.CDR_OUT,
            description="outbound calls",
            fields=OUTBOUND_FIELDS,
            table="cdrs_out",
            partitioned_by_month=True,
            narrowings=(VOICE_OUT_TRUNK,),
            routed_by=TRUNK,
            month_day=True,
            # Earlier versions' outbound header is not published (spec §8.3); they get the
            # 2026-04-16 columns too (docs/api.md, compatibility).
            formats={
                "2021-12-15": CDR_OUT_2026_04,
                "2022-05-10": CDR_OUT_2026_04,
                "2026-04-16": CDR_OUT_2026_04,
            },
            generate=generate_outbound,
            demo_rows=30_000,
            generated_notes=_trunk_notes,
        ),
    )
}

# One per column, in KINDS order: the exports table keeps a column for each.
NARROWINGS: tuple[Narrowing, ...] = tuple(
    {
        narrowing.column: narrowing for kind in KINDS.values() for narrowing in kind.narrowings
    }.values()
)
NARROWING_COLUMNS: tuple[str, ...] = tuple(narrowing.column for narrowing in NARROWINGS)
FILE_SUFFIXES: tuple[str, ...] = tuple(
    dict.fromkeys(fmt.suffix for kind in KINDS.values() for fmt in kind.formats.values())
)


def file_format(api_version: str, export_type: ExportType) -> FileFormat:
    """The format of the file an export of ``export_type`` created with ``api_version`` gets."""
    return KINDS[export_type].formats[api_version]
