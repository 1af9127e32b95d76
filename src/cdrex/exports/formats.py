"""Export file formats: columns and compression (which version and kind gets which format:
cdrex.exports.kinds).

An export keeps the format of the version it was created with, whichever version reads it.
Each column names the CDR record field it is rendered from (cdrex.cdrs.records).
"""

from __future__ import annotations

from dataclasses import dataclass

from cdrex.cdrs.records import INBOUND_FIELDS, OUTBOUND_FIELDS, Field


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

_CONNECT_AND_END = (
    ("Date/Time Connect (UTC)", "time_connect"),
    ("Date/Time End (UTC)", "time_end"),
)
# What every recording of DIDWW's server shows for a .csv.gz (spec §7), and never
# Content-Encoding: clients must save the bytes as they are.
GZIP_FILE = "application/octet-stream"

# 2021-12-15: the 2017 columns with start, connect and end times in place of one time.
CDR_IN_2021_12 = FileFormat(
    columns=(("Date/Time Start (UTC)", "time_start"), *_CONNECT_AND_END, *CDR_IN_2017.columns[1:]),
    fields=INBOUND_FIELDS,
    suffix=".csv.gz",
    media_type=GZIP_FILE,
)

CDR_IN_2026_04 = FileFormat(
    columns=(
        ("Date/Time Start (UTC)", "time_start"),
        *_CONNECT_AND_END,
        ("Status", "status"),
        ("Source", "source"),
        ("Source Name", "source_name"),
        ("Destination DID", "did_number"),
        ("Duration (sec)", "duration"),
        ("Attempt", "attempt"),
        ("Disconnect Code", "disconnect_code"),
        ("Response", "response"),
        ("Disconnect Initiator", "disconnect_initiator"),
        ("Voice IN Trunk", "voice_in_trunk"),
        ("Destination", "destination"),
        ("Trunk Group", "trunk_group"),
        ("Capacity Group", "capacity_group"),
        ("Toll-free (USD)", "tollfree_amount"),
        ("PSTN (USD)", "pstn_amount"),
        ("Metered (USD)", "metered_amount"),
        ("CNAM IN (USD)", "cnam_amount"),
        ("Total (USD)", "total_amount"),
        ("Call ID", "call_id"),
    ),
    fields=INBOUND_FIELDS,
    suffix=".csv.gz",
    media_type=GZIP_FILE,
)

# The 2026-04-16 outbound columns.
CDR_OUT_2026_04 = FileFormat(
    columns=(
        ("Date/Time Start (UTC)", "time_start"),
        *_CONNECT_AND_END,
        ("Status", "status"),
        ("Source", "source"),
        ("CLI", "cli"),
        ("Destination Number", "destination_number"),
        ("Call Duration (sec)", "duration"),
        ("Billing Duration (sec)", "billing_duration"),
        ("Disconnect Code", "disconnect_code"),
        ("Disconnect Reason", "disconnect_reason"),
        ("Voice OUT Trunk", "voice_out_trunk"),
        ("Destination Country", "destination_country"),
        ("Network", "network"),
        ("Call Type", "call_type"),
        ("Rate (USD)", "rate"),
        ("Charged (USD)", "charged"),
        ("P-Charge-Info", "p_charge_info"),
        ("Call ID", "call_id"),
    ),
    fields=OUTBOUND_FIELDS,
    suffix=".csv.gz",
    media_type=GZIP_FILE,
)
