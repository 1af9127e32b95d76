"""Export file formats: the columns of each (API version, export type), and compression.

An export keeps the format of the version it was created with, whichever version reads it.
Each column names the CDR record field it is rendered from (cdrex.cdrs.records).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdrex.cdrs.records import INBOUND_FIELDS, Field


@dataclass(frozen=True)
class FileFormat:
    columns: tuple[tuple[str, str], ...]  # (header, record field)
    fields: tuple[Field, ...]  # the record format the columns come from
    suffix: str  # ".csv" or ".csv.gz"
    media_type: str

    @property
    def header_line(self) -> bytes:
        return (",".join(header for header, _ in self.columns) + "\n").encode()

    @property
    def gzipped(self) -> bool:
        return self.suffix.endswith(".gz")

    def column_fields(self) -> list[Field]:
        by_name = {field.name: field for field in self.fields}
        return [by_name[name] for _, name in self.columns]


CDR_IN_2017 = FileFormat(
    columns=(
        ("Date/Time (UTC)", "time_start"),
        ("Source", "source"),
        ("DID", "did_number"),
        ("Destination", "destination"),
        ("Duration (secs)", "duration"),
        ("Disconnect Initiator", "disconnect_initiator"),
        ("Disconnect Code", "disconnect_code"),
        ("Response", "response"),
        ("TollFree Amount (USD)", "tollfree_amount"),
        ("Termination Amount (USD)", "pstn_amount"),
        ("Metered Channels Amount (USD)", "metered_amount"),
        ("Customer ID", "customer_id"),
        ("Sell Amount (Points)", "sell_amount"),
    ),
    fields=INBOUND_FIELDS,
    suffix=".csv",
    media_type="text/csv",
)

# (api_version, export_type) -> format of the file an export created there gets.
FILE_FORMATS: dict[tuple[str, str], FileFormat] = {
    ("2017-09-18", "cdr_in"): CDR_IN_2017,
}


def file_format(api_version: str, export_type: str) -> FileFormat:
    return FILE_FORMATS[(api_version, export_type)]
