"""The registry of record kinds (cdrex.exports.kinds), in-process: what each kind declares,
that the modules reading it behave as before, and that no other module names a kind.

The DDL snapshots in ddl/ are the schema as it stood before the registry existed; a
deliberate schema change (with its migration) rewrites them: ``python test_kinds.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.dialects import postgresql, sqlite

from cdrex.exports.errors import Invalid, ValidationFailed
from cdrex.exports.filters import FilterRule, parse_filters
from cdrex.exports.kinds import (
    DID_NUMBER,
    FILE_SUFFIXES,
    KINDS,
    NARROWING_COLUMNS,
    NARROWINGS,
    file_format,
)
from cdrex.exports.model import CdrSelection, ExportType
from cdrex.exports.versions import VERSIONS
from cdrex.store import schema
from cdrex.store.partitions import PARTITIONED_TABLES

SRC = Path(__file__).parents[2] / "src" / "cdrex"
DDL = Path(__file__).parent / "ddl"
DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}
NOW = datetime(2026, 5, 17, 13, 5, tzinfo=UTC)
MAY = {"year": "2026", "month": "5"}
TRUNK = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f708192"

# The headers the files had before the registry, written out rather than read from cdrex.
IN_2017 = (
    "Date/Time (UTC),Source,DID,Destination,Duration (secs),Disconnect Initiator,"
    "Disconnect Code,Response,TollFree Amount (USD),Termination Amount (USD),"
    "Metered Channels Amount (USD),Customer ID,Sell Amount (Points)"
)
IN_2021_12 = (
    "Date/Time Start (UTC),Date/Time Connect (UTC),Date/Time End (UTC),Source,DID,"
    "Destination,Duration (secs),Disconnect Initiator,Disconnect Code,Response,"
    "TollFree Amount (USD),Termination Amount (USD),Metered Channels Amount (USD),"
    "Customer ID,Sell Amount (Points)"
)
IN_2026_04 = (
    "Date/Time Start (UTC),Date/Time Connect (UTC),Date/Time End (UTC),Status,Source,"
    "Source Name,Destination DID,Duration (sec),Attempt,Disconnect Code,Response,"
    "Disconnect Initiator,Voice IN Trunk,Destination,Trunk Group,Capacity Group,"
    "Toll-free (USD),PSTN (USD),Metered (USD),CNAM IN (USD),Total (USD),Call ID"
)
OUT = (
    "Date/Time Start (UTC),Date/Time Connect (UTC),Date/Time End (UTC),Status,Source,CLI,"
    "Destination Number,Call Duration (sec),Billing Duration (sec),Disconnect Code,"
    "Disconnect Reason,Voice OUT Trunk,Destination Country,Network,Call Type,Rate (USD),"
    "Charged (USD),P-Charge-Info,Call ID"
)
PLAIN, GZIP = (".csv", "text/csv"), (".csv.gz", "application/octet-stream")
FILES = {  # (version, type) -> header, suffix and media type
    ("2017-09-18", ExportType.CDR_IN): (IN_2017, *PLAIN),
    ("2021-04-19", ExportType.CDR_IN): (IN_2017, *PLAIN),
    ("2021-12-15", ExportType.CDR_IN): (IN_2021_12, *GZIP),
    ("2022-05-10", ExportType.CDR_IN): (IN_2021_12, *GZIP),
    ("2026-04-16", ExportType.CDR_IN): (IN_2026_04, *GZIP),
    ("2021-12-15", ExportType.CDR_OUT): (OUT, *GZIP),
    ("2022-05-10", ExportType.CDR_OUT): (OUT, *GZIP),
    ("2026-04-16", ExportType.CDR_OUT): (OUT, *GZIP),
}


def schema_ddl(dialect: str) -> str:
    """Every table and index of the schema, as CREATE statements of ``dialect``."""
    statements = []
    for table in schema.metadata.sorted_tables:
        statements.append(sa.schema.CreateTable(table))
        statements += [
            sa.schema.CreateIndex(index)
            for index in sorted(table.indexes, key=lambda index: index.name)
        ]
    return "".join(
        f"{str(statement.compile(dialect=DIALECTS[dialect])).strip()};\n\n"
        for statement in statements
    )


def parse(version: str, export_type: ExportType, filters: dict) -> tuple[dict, CdrSelection]:
    rule = VERSIONS[version].filter_rules[export_type]
    return parse_filters(rule, filters, NOW, 3)


def problems(version: str, export_type: ExportType, filters: dict) -> list[Invalid]:
    with pytest.raises(ValidationFailed) as failed:
        parse(version, export_type, filters)
    return failed.value.problems


# --- the registry itself -------------------------------------------------------------------


def test_every_export_type_has_its_kind() -> None:
    assert list(KINDS) == list(ExportType)
    assert all(kind.export_type is export_type for export_type, kind in KINDS.items())


def test_narrowings_match_fields_of_their_kind() -> None:
    for kind in KINDS.values():
        for narrowing in kind.narrowings:
            assert narrowing.field in kind.fields
    # Kinds sharing a column share its exports column: the same narrowing, one size.
    assert NARROWING_COLUMNS == ("did_number", "voice_out_trunk_id")
    assert [n.max_length for n in NARROWINGS] == [15, 36]


def test_tables_and_partitions() -> None:
    assert {t: k.table for t, k in KINDS.items()} == {
        ExportType.CDR_IN: "cdrs_in",
        ExportType.CDR_OUT: "cdrs_out",
    }
    assert PARTITIONED_TABLES == ("cdrs_in", "cdrs_out")
    for export_type, table in schema.CDR_TABLES.items():
        # id, account_id, the record's fields, import_id, call_key
        record_columns = [c.name for c in table.columns][2:-2]
        assert record_columns == [field.name for field in KINDS[export_type].fields]


# --- file formats --------------------------------------------------------------------------


def test_each_version_has_a_format_for_each_type_it_offers() -> None:
    offered = {(v.name, t) for v in VERSIONS.values() for t in v.export_types}
    with_format = {(name, t) for t, kind in KINDS.items() for name in kind.formats}
    assert offered == with_format == set(FILES)


@pytest.mark.parametrize(("version", "export_type"), list(FILES))
def test_file_formats_are_as_before(version: str, export_type: ExportType) -> None:
    header, suffix, media_type = FILES[(version, export_type)]
    fmt = file_format(version, export_type)
    assert (fmt.header_line, fmt.suffix, fmt.media_type) == (
        (header + "\n").encode(),
        suffix,
        media_type,
    )
    assert fmt.fields is KINDS[export_type].fields
    assert len(fmt.column_fields()) == len(fmt.columns)  # every column names a field


def test_file_suffixes() -> None:
    assert FILE_SUFFIXES == (".csv", ".csv.gz")


# --- filters -------------------------------------------------------------------------------


def test_filter_keys_and_aliases_per_version() -> None:
    rules = {
        (v.name, t.value): (r.period, r.keys, r.aliases)
        for v in VERSIONS.values()
        for t, r in v.filter_rules.items()
    }
    month_in = ("month", ("year", "month", "did_number"), {})
    trunk = {"voice_out_trunk_id": "voice_out_trunk.id"}
    month_out = ("month", ("year", "month", "day", "voice_out_trunk.id"), trunk)
    assert rules == {
        ("2017-09-18", "cdr_in"): month_in,
        ("2021-04-19", "cdr_in"): month_in,
        ("2021-12-15", "cdr_in"): month_in,
        ("2021-12-15", "cdr_out"): month_out,
        ("2022-05-10", "cdr_in"): month_in,
        ("2022-05-10", "cdr_out"): month_out,
        ("2026-04-16", "cdr_in"): ("range", ("from", "to", "did_number"), {}),
        ("2026-04-16", "cdr_out"): ("range", ("from", "to", "voice_out_trunk.id"), trunk),
    }


@pytest.mark.parametrize(
    ("sent", "matched"),
    [("123", "123"), ("441234567890123", "441234567890123"), (4412345, "4412345")],
)
def test_a_good_did_number_narrows(sent: object, matched: str) -> None:
    echo, selection = parse("2017-09-18", ExportType.CDR_IN, {**MAY, "did_number": sent})
    assert echo == {**MAY, "did_number": str(sent)}
    assert selection.narrowing == (("did_number", matched),)


@pytest.mark.parametrize("sent", ["12", "4412345678901234", "12a", "+4412", "١٢٣", True, None])
def test_a_bad_did_number_is_refused(sent: object) -> None:
    assert problems("2017-09-18", ExportType.CDR_IN, {**MAY, "did_number": sent}) == [
        Invalid(("filters", "did_number"), "did_number must be 3 to 15 digits")
    ]


@pytest.mark.parametrize("key", ["voice_out_trunk.id", "voice_out_trunk_id"])
def test_a_trunk_id_in_either_spelling_narrows_in_lower_case(key: str) -> None:
    filters = {"from": "2026-05-01 00:00:00", "to": "2026-05-02 00:00:00", key: TRUNK.upper()}
    echo, selection = parse("2026-04-16", ExportType.CDR_OUT, filters)
    assert echo["voice_out_trunk.id"] == TRUNK.upper()  # echoed as sent, under its key
    assert selection.narrowing == (("voice_out_trunk_id", TRUNK),)


@pytest.mark.parametrize("sent", ["not-a-uuid", "{" + TRUNK + "}", TRUNK.replace("-", ""), 7])
def test_a_bad_trunk_id_is_refused_under_the_spelling_sent(sent: object) -> None:
    filters = {**MAY, "voice_out_trunk_id": sent}
    assert problems("2021-12-15", ExportType.CDR_OUT, filters) == [
        Invalid(("filters", "voice_out_trunk_id"), "voice_out_trunk_id must be a UUID")
    ]


def test_no_narrowing_selects_the_whole_period() -> None:
    _, selection = parse("2021-12-15", ExportType.CDR_OUT, {**MAY, "day": "3"})
    assert selection == CdrSelection(
        datetime(2026, 5, 3, tzinfo=UTC), datetime(2026, 5, 4, tzinfo=UTC)
    )


def test_one_kinds_narrowing_is_not_anothers() -> None:
    assert problems("2021-12-15", ExportType.CDR_IN, {**MAY, "voice_out_trunk.id": TRUNK}) == [
        Invalid(("filters", "voice_out_trunk.id"), "voice_out_trunk.id is not an allowed filter")
    ]


def test_a_required_narrowing_must_be_given() -> None:
    kind = replace(KINDS[ExportType.CDR_IN], narrowings=(replace(DID_NUMBER, required=True),))
    with pytest.raises(ValidationFailed) as failed:
        parse_filters(FilterRule("month", kind), dict(MAY), NOW, 3)
    assert failed.value.problems == [Invalid(("filters", "did_number"), "did_number is required")]


# --- readers of the registry ---------------------------------------------------------------


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_the_ddl_is_unchanged(dialect: str) -> None:
    assert schema_ddl(dialect) == (DDL / f"{dialect}.sql").read_text()
    exports = str(sa.schema.CreateTable(schema.exports).compile(dialect=DIALECTS[dialect]))
    assert "did_number VARCHAR(15)" in exports and "voice_out_trunk_id VARCHAR(36)" in exports


def test_the_cli_offers_every_kind() -> None:
    from cdrex.cli import main

    result = CliRunner().invoke(main, ["cdrs", "generate", "--help"])
    assert result.exit_code == 0 and "[cdr_in|cdr_out]" in result.output


# "cdr_in", 'cdrs_out' and the like: a kind named outside the registry.
KIND_LITERAL = re.compile(r"""["']cdrs?_(in|out)["']""")
# The registry, the enum's own values, and the migrations (frozen history).
MAY_NAME_KINDS = {SRC / "exports" / "kinds.py", SRC / "exports" / "model.py"}


def test_no_module_outside_the_registry_names_a_kind() -> None:
    named = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path not in MAY_NAME_KINDS and "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if KIND_LITERAL.search(line) or re.search(r"\b(kind|export_type)\s*[!=]=", line)
    ]
    assert named == []


def test_the_domain_packages_import_no_database_or_http_library() -> None:
    """In a fresh interpreter: this one has imported both long ago."""
    code = (
        "import importlib, pkgutil, sys, cdrex.cdrs, cdrex.exports\n"
        "for package in (cdrex.cdrs, cdrex.exports):\n"
        "    for module in pkgutil.iter_modules(package.__path__):\n"
        "        importlib.import_module(f'{package.__name__}.{module.name}')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'starlette'}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


if __name__ == "__main__":  # rewrite the DDL snapshots after a deliberate schema change
    for name in DIALECTS:
        (DDL / f"{name}.sql").write_text(schema_ddl(name))
