"""The versions table, the file formats and how each version shows an export (spec §1,
§2.1, §8; the headers are DIDWW's own, in tests/samples/)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cdrex.api.documents import resource, timestamp
from cdrex.exports.kinds import FILE_SUFFIXES, file_format
from cdrex.exports.model import (
    CallbackMethod,
    CdrSelection,
    Export,
    ExportStatus,
    ExportType,
    is_export_key,
)
from cdrex.exports.versions import COLLECTIONS, DEFAULT_VERSION, VERSIONS, choose_version

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def test_the_five_versions_and_their_collections() -> None:
    assert list(VERSIONS) == ["2017-09-18", "2021-04-19", "2021-12-15", "2022-05-10", "2026-04-16"]
    assert {name: v.collection for name, v in VERSIONS.items()} == {
        "2017-09-18": "cdr_exports",
        "2021-04-19": "cdr_exports",
        "2021-12-15": "exports",
        "2022-05-10": "exports",
        "2026-04-16": "exports",
    }
    assert COLLECTIONS == ("cdr_exports", "exports")
    assert DEFAULT_VERSION.name == "2017-09-18"


def test_what_each_version_accepts() -> None:
    assert VERSIONS["2017-09-18"].writable == ("filters",)
    assert set(VERSIONS["2021-04-19"].writable) == {"filters", "callback_url", "callback_method"}
    assert VERSIONS["2021-12-15"].requires_export_type
    assert not VERSIONS["2021-04-19"].requires_export_type
    assert VERSIONS["2026-04-16"].updatable == ("external_reference_id",)
    assert all(not v.updatable for name, v in VERSIONS.items() if name != "2026-04-16")
    assert VERSIONS["2026-04-16"].list_filters == ("id", "external_reference_id")
    assert all(not v.list_filters for name, v in VERSIONS.items() if name != "2026-04-16")
    assert VERSIONS["2017-09-18"].export_types == (ExportType.CDR_IN,)
    assert VERSIONS["2022-05-10"].export_types == (ExportType.CDR_IN, ExportType.CDR_OUT)


@pytest.mark.parametrize(
    ("default", "requested", "chosen"),
    [
        ("2017-09-18", None, "2017-09-18"),
        ("2017-09-18", "", "2017-09-18"),
        ("2017-09-18", "2026-04-16", "2026-04-16"),
        ("2017-09-18", "2021-12-15", "2021-12-15"),
        ("2021-12-15", "2017-09-18", "2021-12-15"),  # older than the account's default
        ("2021-12-15", "2021-12-15", "2021-12-15"),
        ("2021-12-15", "2099-01-01", "2021-12-15"),  # unknown
        ("2021-12-15", "2026-04-16 ", "2021-12-15"),
        ("no-such-version", None, "2017-09-18"),
        ("2026-04-16", "2022-05-10", "2026-04-16"),
    ],
)
def test_choose_version(default: str, requested: str | None, chosen: str) -> None:
    assert choose_version(default, requested).name == chosen


def sample_header(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8").splitlines()[0]


@pytest.mark.parametrize(
    ("version", "export_type", "sample", "suffix"),
    [
        ("2017-09-18", "cdr_in", "cdr_exports_2017-09-18_sample.csv", ".csv"),
        ("2021-04-19", "cdr_in", "cdr_exports_2017-09-18_sample.csv", ".csv"),
        ("2021-12-15", "cdr_in", "exports_cdr_in_2021-12-15_sandbox_sample.csv", ".csv.gz"),
        ("2022-05-10", "cdr_in", "exports_cdr_in_2021-12-15_sandbox_sample.csv", ".csv.gz"),
        ("2026-04-16", "cdr_in", "exports_cdr_in_2026-04-16_header.csv", ".csv.gz"),
        ("2021-12-15", "cdr_out", "exports_cdr_out_2026-04-16_header.csv", ".csv.gz"),
        ("2026-04-16", "cdr_out", "exports_cdr_out_2026-04-16_header.csv", ".csv.gz"),
    ],
)
def test_file_headers_are_didwws(version: str, export_type: str, sample: str, suffix: str) -> None:
    fmt = file_format(version, export_type)
    assert fmt.header_line == (sample_header(sample) + "\n").encode()
    assert fmt.suffix == suffix
    assert fmt.gzipped is (suffix == ".csv.gz")
    # A .csv.gz is bytes to be saved as they are (docs/api.md: never Content-Encoding).
    assert fmt.media_type == ("application/octet-stream" if fmt.gzipped else "text/csv")
    assert [field.name for field in fmt.column_fields()] == [name for _, name in fmt.columns]


def test_file_suffixes() -> None:
    assert FILE_SUFFIXES == (".csv", ".csv.gz")
    with pytest.raises(KeyError):
        file_format("2017-09-18", ExportType.CDR_OUT)  # no outbound CDRs before 2021-12-15


def test_export_keys_are_canonical_lowercase_uuids() -> None:
    assert is_export_key("0e5b3c1a-7f52-4c1d-9d57-3b8a1f2e4c6d")
    assert not is_export_key("0E5B3C1A-7F52-4C1D-9D57-3B8A1F2E4C6D")
    assert not is_export_key("0e5b3c1a7f524c1d9d573b8a1f2e4c6d")
    assert not is_export_key("{0e5b3c1a-7f52-4c1d-9d57-3b8a1f2e4c6d}")
    assert not is_export_key("0e5b3c1a-7f52-4c1d-9d57-3b8a1f2e4c6d\n")
    assert not is_export_key("")


def test_timestamps_are_utc_milliseconds_with_z() -> None:
    assert timestamp(datetime(2017, 6, 25, 14, 56, 31, 513999, tzinfo=UTC)) == (
        "2017-06-25T14:56:31.513Z"
    )
    assert timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"


BASE = "https://cdrex.example"
EXPORT = Export(
    account_id=1,
    api_version="2017-09-18",
    export_type=ExportType.CDR_IN,
    filters={"year": "2026", "month": "5"},
    selection=CdrSelection(datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)),
    created_at=datetime(2026, 5, 17, 12, 0, 0, 250000, tzinfo=UTC),
    id="11111111-1111-4111-8111-111111111111",
    file_name="22222222-2222-4222-8222-222222222222",
)


def test_a_pending_export_in_2017_09_18() -> None:
    assert resource(EXPORT, VERSIONS["2017-09-18"], BASE) == {
        "id": "11111111-1111-4111-8111-111111111111",
        "type": "cdr_exports",
        "attributes": {
            "filters": {"year": "2026", "month": "5"},
            "status": "Pending",
            "created_at": "2026-05-17T12:00:00.250Z",
            "url": None,
        },
    }


def test_a_completed_export_in_2026_04_16_keeps_its_own_file_suffix() -> None:
    completed = replace(
        EXPORT,
        status=ExportStatus.COMPLETED,
        callback_url="https://e.com/cb",
        callback_method=CallbackMethod.GET,
    )
    shown = resource(completed, VERSIONS["2026-04-16"], BASE)
    assert shown == {
        "id": "11111111-1111-4111-8111-111111111111",
        "type": "exports",
        "attributes": {
            "status": "completed",
            "created_at": "2026-05-17T12:00:00.250Z",
            # Created with 2017-09-18: a .csv file, downloaded through this version's path.
            "url": f"{BASE}/v3/exports/22222222-2222-4222-8222-222222222222.csv",
            "callback_url": "https://e.com/cb",
            "callback_method": "get",
            "export_type": "cdr_in",
            "external_reference_id": None,
            "filters": {"year": "2026", "month": "5"},
        },
    }
    assert list(shown["attributes"]) == list(VERSIONS["2026-04-16"].attributes)
    assert (
        resource(completed, VERSIONS["2021-12-15"], BASE)["attributes"]["callback_method"] == "GET"
    )


def test_sparse_fieldsets_keep_the_versions_order() -> None:
    shown = resource(EXPORT, VERSIONS["2021-04-19"], BASE, frozenset({"url", "status"}))
    assert list(shown["attributes"]) == ["status", "url"]


def test_a_failed_export_says_why_in_meta() -> None:
    failed = replace(EXPORT, status=ExportStatus.FAILED, failure_reason="the file store is full")
    shown = resource(failed, VERSIONS["2021-12-15"], BASE)
    assert shown["attributes"]["status"] == "Failed"
    assert shown["meta"] == {"failure_reason": "the file store is full"}
    assert "meta" not in resource(EXPORT, VERSIONS["2021-12-15"], BASE)
