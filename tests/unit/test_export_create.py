"""A create request's attributes and filters, checked in process (docs/api.md: "Invalid
create input", "Filter values"), through ``new_export`` with each version's own rules.

``now`` is always given, so these hold whatever the date is.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from cdrex.exports.create import new_export
from cdrex.exports.errors import Invalid, ValidationFailed
from cdrex.exports.model import CallbackMethod, CdrSelection, ExportStatus, ExportType
from cdrex.exports.versions import VERSIONS

NOW = datetime(2026, 5, 17, 12, 0, tzinfo=UTC)  # window with 2 months back: March to May 2026
TRUNK = "0E5B3C1A-7F52-4C1D-9D57-3B8A1F2E4C6D"


def create(version: str, attributes: dict, *, now: datetime = NOW, months_back: int = 2):  # type: ignore[no-untyped-def]
    rules = VERSIONS[version]
    return new_export(
        attributes,
        account_id=7,
        api_version=version,
        filter_rules=rules.filter_rules,
        callback_methods=rules.callback_methods,
        now=now,
        months_back=months_back,
        base_url="https://cdrex.example",
    )


def problems(version: str, attributes: dict, **kwargs: object) -> list[tuple[tuple, str]]:
    with pytest.raises(ValidationFailed) as failed:
        create(version, attributes, **kwargs)  # type: ignore[arg-type]
    return [(problem.path, problem.title) for problem in failed.value.problems]


def at(*path: str) -> tuple[str, ...]:
    return path


# --- Months (up to 2022-05-10) ----------------------------------------------------------


def test_a_month_selects_that_calendar_month_and_echoes_the_filters_as_strings() -> None:
    export = create("2017-09-18", {"filters": {"year": 2026, "month": "03"}})
    assert export.filters == {"year": "2026", "month": "03"}
    assert export.selection == CdrSelection(
        datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    )
    assert export.export_type is ExportType.CDR_IN  # the only type before 2021-12-15
    assert export.account_id == 7 and export.api_version == "2017-09-18"
    assert export.created_at == NOW and export.base_url == "https://cdrex.example"
    assert export.status is ExportStatus.PENDING and export.attempts == 0
    assert export.callback_url is None and export.callback_method is None
    # Ids and file names are distinct UUIDs: an id does not reveal the download URL.
    assert str(uuid.UUID(export.id)) == export.id
    assert str(uuid.UUID(export.file_name)) == export.file_name
    assert export.id != export.file_name


def test_december_ends_at_the_next_new_year() -> None:
    export = create(
        "2017-09-18", {"filters": {"year": "2025", "month": "12"}}, now=NOW.replace(month=1)
    )
    assert export.selection.start == datetime(2025, 12, 1, tzinfo=UTC)
    assert export.selection.end == datetime(2026, 1, 1, tzinfo=UTC)


def test_a_did_number_narrows_the_month() -> None:
    export = create(
        "2021-04-19", {"filters": {"year": 2026, "month": 5, "did_number": 442012345678}}
    )
    assert export.filters == {"year": "2026", "month": "5", "did_number": "442012345678"}
    assert dict(export.selection.narrowing)["did_number"] == "442012345678"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"month": 5}, [(at("filters", "year"), "year is required")]),
        (
            {},
            [
                (at("filters", "year"), "year is required"),
                (at("filters", "month"), "month is required"),
            ],
        ),
        ({"year": 2026, "month": 13}, [(at("filters", "month"), "month must be between 1 and 12")]),
        ({"year": 2026, "month": 0}, [(at("filters", "month"), "month must be between 1 and 12")]),
        ({"year": 2026, "month": "May"}, [(at("filters", "month"), "month must be an integer")]),
        ({"year": 2026, "month": True}, [(at("filters", "month"), "month must be an integer")]),
        ({"year": 2026, "month": 5.0}, [(at("filters", "month"), "month must be an integer")]),
        ({"year": 2026, "month": "-5"}, [(at("filters", "month"), "month must be an integer")]),
        ({"year": "1" * 5000, "month": 5}, [(at("filters", "year"), "year must be an integer")]),
        (
            {"year": 2026, "month": 2},
            [(at("filters"), "year and month must be within the current and 2 previous months")],
        ),
        (
            {"year": 2026, "month": 6},
            [(at("filters"), "year and month must be within the current and 2 previous months")],
        ),
        (
            {"year": 2026, "month": 5, "day": 1},
            [(at("filters", "day"), "day is not an allowed filter")],
        ),
        (
            {"year": 2026, "month": 5, "did_number": "12"},
            [(at("filters", "did_number"), "did_number must be 3 to 15 digits")],
        ),
        (
            {"year": 2026, "month": 5, "did_number": "1234567890123456"},
            [(at("filters", "did_number"), "did_number must be 3 to 15 digits")],
        ),
        (
            {"year": 2026, "month": 5, "did_number": "+442012345678"},
            [(at("filters", "did_number"), "did_number must be 3 to 15 digits")],
        ),
    ],
)
def test_month_filter_problems(filters: dict, expected: list) -> None:
    assert problems("2017-09-18", {"filters": filters}) == expected


def test_the_window_is_configurable() -> None:
    assert create("2017-09-18", {"filters": {"year": 2025, "month": 12}}, months_back=5)
    assert problems("2017-09-18", {"filters": {"year": 2026, "month": 4}}, months_back=0) == [
        (at("filters"), "year and month must be within the current and 0 previous months")
    ]


def test_a_did_number_of_15_digits_is_the_longest() -> None:
    export = create("2017-09-18", {"filters": {"year": 2026, "month": 5, "did_number": "1" * 15}})
    assert dict(export.selection.narrowing)["did_number"] == "1" * 15


def test_filters_must_be_there_and_an_object() -> None:
    assert problems("2017-09-18", {}) == [(at("filters"), "can't be blank")]
    assert problems("2017-09-18", {"filters": [2026, 5]}) == [
        (at("filters"), "filters must be an object")
    ]


def test_outbound_months_take_a_day_and_a_trunk() -> None:
    export = create(
        "2021-12-15",
        {
            "export_type": "cdr_out",
            "filters": {"year": 2026, "month": 4, "day": "30", "voice_out_trunk.id": TRUNK},
        },
    )
    assert export.export_type is ExportType.CDR_OUT
    assert export.selection == CdrSelection(
        datetime(2026, 4, 30, tzinfo=UTC),
        datetime(2026, 5, 1, tzinfo=UTC),
        narrowing=(("voice_out_trunk_id", TRUNK.lower()),),
    )
    assert export.filters == {
        "year": "2026",
        "month": "4",
        "day": "30",
        "voice_out_trunk.id": TRUNK,
    }


def test_a_day_is_checked_against_its_month() -> None:
    out = {"export_type": "cdr_out"}
    assert problems("2022-05-10", {**out, "filters": {"year": 2026, "month": 4, "day": 31}}) == [
        (at("filters", "day"), "day must be between 1 and 30")
    ]
    leap = create(
        "2022-05-10",
        {**out, "filters": {"year": 2024, "month": 2, "day": 29}},
        now=datetime(2024, 3, 1, tzinfo=UTC),
    )
    assert leap.selection.end == datetime(2024, 3, 1, tzinfo=UTC)
    assert problems(
        "2022-05-10",
        {**out, "filters": {"year": 2025, "month": 2, "day": 29}},
        now=datetime(2025, 3, 1, tzinfo=UTC),
    ) == [(at("filters", "day"), "day must be between 1 and 28")]


def test_inbound_months_of_2021_12_15_take_no_day() -> None:
    attributes = {"export_type": "cdr_in", "filters": {"year": 2026, "month": 5, "day": 3}}
    assert problems("2021-12-15", attributes) == [
        (at("filters", "day"), "day is not an allowed filter")
    ]


def test_the_trunk_filter_has_an_alias_echoed_as_the_key() -> None:
    export = create(
        "2021-12-15",
        {
            "export_type": "cdr_out",
            "filters": {"year": 2026, "month": 5, "voice_out_trunk_id": TRUNK},
        },
    )
    assert export.filters == {"year": "2026", "month": "5", "voice_out_trunk.id": TRUNK}
    assert dict(export.selection.narrowing)["voice_out_trunk_id"] == TRUNK.lower()


def test_both_spellings_of_the_trunk_filter_are_refused() -> None:
    both = {"year": 2026, "month": 5, "voice_out_trunk.id": TRUNK, "voice_out_trunk_id": TRUNK}
    assert problems("2021-12-15", {"export_type": "cdr_out", "filters": both}) == [
        (
            at("filters", "voice_out_trunk_id"),
            "voice_out_trunk_id and voice_out_trunk.id are the same filter: send one",
        )
    ]


def test_a_bad_trunk_is_named_as_it_was_spelt() -> None:
    for spelling in ("voice_out_trunk_id", "voice_out_trunk.id"):
        filters = {"year": 2026, "month": 5, spelling: "{" + TRUNK + "}"}
        assert problems("2021-12-15", {"export_type": "cdr_out", "filters": filters}) == [
            (at("filters", spelling), f"{spelling} must be a UUID")
        ]


def test_the_trunk_is_outbound_only_and_the_did_inbound_only() -> None:
    trunk = {"year": 2026, "month": 5, "voice_out_trunk.id": TRUNK}
    assert problems("2021-12-15", {"export_type": "cdr_in", "filters": trunk}) == [
        (at("filters", "voice_out_trunk.id"), "voice_out_trunk.id is not an allowed filter")
    ]
    did = {"year": 2026, "month": 5, "did_number": "123"}
    assert problems("2021-12-15", {"export_type": "cdr_out", "filters": did}) == [
        (at("filters", "did_number"), "did_number is not an allowed filter")
    ]


# --- export_type ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2021-12-15", "2022-05-10", "2026-04-16"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "can't be blank"),
        ("cdr_x", "must be one of cdr_in, cdr_out"),
        (["cdr_in"], "must be one of cdr_in, cdr_out"),
        ({"cdr_in": 1}, "must be one of cdr_in, cdr_out"),
        ("CDR_IN", "must be one of cdr_in, cdr_out"),
    ],
)
def test_export_type_is_required_from_2021_12_15(
    version: str, value: object, expected: str
) -> None:
    attributes = {"filters": {"year": 2026, "month": 5}}
    if value is not None:
        attributes["export_type"] = value  # type: ignore[assignment]
    found = problems(version, attributes)
    assert found[0] == (at("export_type"), expected)


def test_export_type_cdr_in_is_the_only_type_before_2021_12_15() -> None:
    assert problems(
        "2021-04-19", {"export_type": "cdr_out", "filters": {"year": 2026, "month": 5}}
    ) == [(at("export_type"), "must be one of cdr_in")]


# --- Ranges (2026-04-16) ----------------------------------------------------------------


def range_of(filters: dict, export_type: str = "cdr_in", **kwargs: object):  # type: ignore[no-untyped-def]
    return create("2026-04-16", {"export_type": export_type, "filters": filters}, **kwargs)  # type: ignore[arg-type]


def test_a_range_is_half_open_and_echoed_normalised() -> None:
    export = range_of({"from": "2026-05-01T02:00:00+02:00", "to": "2026-05-17T00:00:00Z"})
    assert export.selection == CdrSelection(
        datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 17, tzinfo=UTC)
    )
    assert export.filters == {"from": "2026-05-01 00:00:00", "to": "2026-05-17 00:00:00"}


def test_a_range_in_didww_form_means_utc_and_may_end_in_the_future() -> None:
    export = range_of({"from": "2026-03-01 00:00:00", "to": "2027-01-01 00:00:00"})
    assert export.selection.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert export.selection.end == datetime(2027, 1, 1, tzinfo=UTC)


def test_from_may_be_now_but_not_later() -> None:
    assert range_of({"from": "2026-05-17 12:00:00", "to": "2026-05-17 12:00:01"})
    assert problems(
        "2026-04-16",
        {
            "export_type": "cdr_in",
            "filters": {"from": "2026-05-17 12:00:01", "to": "2026-06-01 00:00:00"},
        },
    ) == [(at("filters"), "from must be within the current and 2 previous months")]


def test_from_before_the_window_is_refused() -> None:
    filters = {"from": "2026-02-28 23:59:59", "to": "2026-03-02 00:00:00"}
    assert problems("2026-04-16", {"export_type": "cdr_in", "filters": filters}) == [
        (at("filters"), "from must be within the current and 2 previous months")
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"to": "2026-05-02 00:00:00"}, [(at("filters"), "from not valid")]),
        ({"from": None, "to": "2026-05-02 00:00:00"}, [(at("filters"), "from not valid")]),
        ({"from": " \t", "to": "2026-05-02 00:00:00"}, [(at("filters"), "from not valid")]),
        ({"from": "2026-05-01 00:00:00", "to": ""}, [(at("filters"), "to not valid")]),
        ({}, [(at("filters"), "from not valid"), (at("filters"), "to not valid")]),
        (
            {"from": "2026-05-01", "to": "2026-05-02 00:00:00"},
            [(at("filters", "from"), "from not valid")],
        ),
        (
            {"from": "2026-02-30 00:00:00", "to": "2026-05-02 00:00:00"},
            [(at("filters", "from"), "from not valid")],
        ),
        (
            {"from": 1767225600, "to": "2026-05-02 00:00:00"},
            [(at("filters", "from"), "from not valid")],
        ),
        (
            {"from": "2026-05-01 00:00:00", "to": "2026-05-01 00:00:00"},
            [(at("filters", "to"), "to must be after from")],
        ),
        (
            {"from": "2026-05-02 00:00:00", "to": "2026-05-01 00:00:00"},
            [(at("filters", "to"), "to must be after from")],
        ),
        (
            {"from": "2026-05-01 00:00:00", "to": "0001-01-01T00:00:00+01:00"},
            [(at("filters", "to"), "to is out of range")],
        ),
        (
            {"year": 2026, "from": "2026-05-01 00:00:00", "to": "2026-05-02 00:00:00"},
            [(at("filters", "year"), "year is not an allowed filter")],
        ),
    ],
)
def test_range_filter_problems(filters: dict, expected: list) -> None:
    assert problems("2026-04-16", {"export_type": "cdr_in", "filters": filters}) == expected


def test_outbound_ranges_take_a_trunk_but_no_day() -> None:
    export = range_of(
        {"from": "2026-05-01 00:00:00", "to": "2026-05-02 00:00:00", "voice_out_trunk_id": TRUNK},
        "cdr_out",
    )
    assert dict(export.selection.narrowing)["voice_out_trunk_id"] == TRUNK.lower()
    filters = {"from": "2026-05-01 00:00:00", "to": "2026-05-02 00:00:00", "day": 1}
    assert problems("2026-04-16", {"export_type": "cdr_out", "filters": filters}) == [
        (at("filters", "day"), "day is not an allowed filter")
    ]


def test_every_problem_is_reported_at_once_in_didww_form() -> None:
    with pytest.raises(ValidationFailed) as failed:
        create(
            "2026-04-16",
            {
                "export_type": "cdr_in",
                "filters": {"to": "2026-05-02 00:00:00"},
                "callback_url": "ftp://example.com/cb",
                "external_reference_id": 5,
            },
        )
    assert failed.value.problems == [
        Invalid(("callback_url",), "must be an http or https URL"),
        Invalid(("external_reference_id",), "must be a string"),
        Invalid(("filters",), "from not valid"),
    ]
    assert str(failed.value) == (
        "callback_url - must be an http or https URL; external_reference_id - must be a "
        "string; filters - from not valid"
    )


# --- Callbacks and the external reference -----------------------------------------------

MAY = {"filters": {"year": 2026, "month": 5}}


def test_callback_methods_are_spelt_per_version() -> None:
    old = create(
        "2021-04-19", {**MAY, "callback_url": "https://example.com/cb", "callback_method": "GET"}
    )
    assert (old.callback_url, old.callback_method) == ("https://example.com/cb", CallbackMethod.GET)
    assert problems(
        "2021-04-19", {**MAY, "callback_url": "https://e.com/", "callback_method": "get"}
    ) == [(at("callback_method"), "must be POST or GET")]
    range_filters = {"from": "2026-05-01 00:00:00", "to": "2026-05-02 00:00:00"}
    new = create(
        "2026-04-16",
        {
            "export_type": "cdr_in",
            "filters": range_filters,
            "callback_url": "https://e.com/",
            "callback_method": "get",
        },
    )
    assert new.callback_method is CallbackMethod.GET
    assert problems(
        "2026-04-16",
        {
            "export_type": "cdr_in",
            "filters": range_filters,
            "callback_url": "https://e.com/",
            "callback_method": "GET",
        },
    ) == [(at("callback_method"), "must be post or get")]


def test_a_callback_url_without_a_method_is_posted_to() -> None:
    export = create("2021-04-19", {**MAY, "callback_url": "http://example.com:8080/hook?x=1"})
    assert export.callback_method is CallbackMethod.POST


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        (
            {"callback_method": "POST"},
            [(at("callback_url"), "can't be blank with a callback_method")],
        ),
        ({"callback_url": 42}, [(at("callback_url"), "must be a URL")]),
        (
            {"callback_url": "example.com/cb"},
            [(at("callback_url"), "must be an http or https URL")],
        ),
        ({"callback_url": "https:///cb"}, [(at("callback_url"), "must include a host")]),
        (
            {"callback_url": "https://e.com/a b"},
            [(at("callback_url"), "must not contain whitespace")],
        ),
        (
            {"callback_url": "https://e.com/\x7f"},
            [(at("callback_url"), "must not contain control characters")],
        ),
        ({"callback_url": "https://e.com:99999/"}, [(at("callback_url"), "is not a valid URL")]),
        (
            {"callback_url": "https://e.com/" + "a" * 2000},
            [(at("callback_url"), "must be at most 2000 characters")],
        ),
        (
            {"callback_url": "https://e.com/", "callback_method": ["POST"]},
            [(at("callback_method"), "must be POST or GET")],
        ),
    ],
)
def test_callback_problems(attributes: dict, expected: list) -> None:
    assert problems("2021-04-19", {**MAY, **attributes}) == expected


def test_external_reference_rules() -> None:
    base = {
        "export_type": "cdr_in",
        "filters": {"from": "2026-05-01 00:00:00", "to": "2026-05-02 00:00:00"},
    }
    assert (
        create("2026-04-16", {**base, "external_reference_id": "r" * 100}).external_reference_id
        == "r" * 100
    )
    assert (
        create("2026-04-16", {**base, "external_reference_id": None}).external_reference_id is None
    )
    assert problems("2026-04-16", {**base, "external_reference_id": "r" * 101}) == [
        (at("external_reference_id"), "is too long (maximum is 100 characters)")
    ]
    assert problems("2026-04-16", {**base, "external_reference_id": "a\x00b"}) == [
        (at("external_reference_id"), "must not contain the NUL character (U+0000)")
    ]
    assert problems("2026-04-16", {**base, "external_reference_id": ["x"]}) == [
        (at("external_reference_id"), "must be a string")
    ]
