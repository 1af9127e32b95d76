"""Routing records to the account that owned their DID or trunk (cdrex.cdrs.routing),
in-process: intervals, the router's lookups, and what an import does with a record
nobody owned."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from cdrex.cdrs.files import BadCdrFile, read_numbered_records
from cdrex.cdrs.records import INBOUND_FIELDS
from cdrex.cdrs.routing import Assignment, Lookup, Router, Tally, one_owner, route
from cdrex.exports.kinds import DID, TRUNK

T0 = datetime(2026, 5, 1, tzinfo=UTC)
MID = datetime(2026, 5, 16, tzinfo=UTC)
T1 = datetime(2026, 6, 1, tzinfo=UTC)
NAMES = [field.name for field in INBOUND_FIELDS]


def held(account_id: int, since: datetime | None, until: datetime | None) -> Assignment:
    return Assignment(1, "did", "441234567890", account_id, f"a{account_id}", None, since, until)


def test_an_interval_holds_its_start_and_not_its_end() -> None:
    interval = held(1, T0, T1)
    assert interval.covers(T0) and interval.covers(MID)
    assert not interval.covers(T1)
    assert held(1, None, None).covers(datetime(1970, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("since", "until", "overlaps"),
    [
        (T1, None, False),  # starts where it ends
        (None, T0, False),  # ends where it starts
        (MID, None, True),
        (None, MID, True),
        (None, None, True),
        (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC), True),
    ],
)
def test_overlaps(since: datetime | None, until: datetime | None, overlaps: bool) -> None:
    assert held(1, T0, T1).overlaps(since, until) is overlaps
    assert held(1, None, None).overlaps(since, until)  # an open interval meets any


def test_resources_check_and_normalize_their_values() -> None:
    assert DID.check(" 441234567890 ") == "441234567890"
    trunk = "0B6C5F4E-9A1B-4C2D-8E3F-112233445566"
    assert TRUNK.check(trunk) == trunk.lower()
    with pytest.raises(ValueError, match="DID number '12ab' must be 3 to 15 digits"):
        DID.check("12ab")
    with pytest.raises(ValueError, match="must be a UUID"):
        TRUNK.check("not-a-trunk")


CSV = (
    b"time_start,did_number,duration\n"
    b"2026-05-02 10:00:00,441234567890,1\n"
    b"\n"
    b"2026-05-20 10:00:00,441234567890,2\n"
    b"2026-05-20 11:00:00,449999999999,3\n"
    b"2026-06-02 10:00:00,441234567890,4\n"
)


class Lookups:
    """A lookup over fixed intervals that remembers what it was asked."""

    def __init__(self, intervals: list[Assignment]) -> None:
        self.intervals = intervals
        self.asked: list[set[str]] = []

    def __call__(self, identifiers: Iterable[str]) -> dict[str, list[Assignment]]:
        asked = set(identifiers)
        self.asked.append(asked)
        found: dict[str, list[Assignment]] = {}
        for interval in self.intervals:
            if interval.identifier in asked:
                found.setdefault(interval.identifier, []).append(interval)
        return found


OLDEST = datetime(2026, 4, 1)  # naive UTC, as records hold times


def routed(
    data: bytes, lookup: Lookup, tally: Tally, oldest: datetime = OLDEST, batch_size: int = 2
) -> list[tuple]:
    router = Router(lookup, "DID number", NAMES.index("did_number"), NAMES.index("time_start"))
    numbered = read_numbered_records(io.BytesIO(data), INBOUND_FIELDS, batch_size)
    return [record for batch in route(numbered, router, tally, oldest) for record in batch]


def test_each_record_goes_to_the_owner_at_its_time() -> None:
    # The number moves from account 1 to account 2 mid-month, and is nobody's in June.
    lookup = Lookups([held(1, None, MID), held(2, MID, T1)])
    tally = Tally(skip=True)
    records = routed(CSV, lookup, tally)
    assert [(owner, record[NAMES.index("duration")]) for owner, *record in records] == [
        (1, 1),
        (2, 2),
    ]
    assert tally.accounts == {1: 1, 2: 1}
    assert tally.unowned == {"449999999999": 1, "441234567890": 1}
    # One lookup per identifier, however many batches and records name it.
    assert lookup.asked == [{"441234567890"}, {"449999999999"}]


def test_a_record_nobody_owned_stops_the_import_at_its_line() -> None:
    lookup = Lookups([held(1, None, None)])
    with pytest.raises(BadCdrFile) as refused:
        routed(CSV, lookup, Tally())
    # Line 5: the blank line 3 counts, as the file's own line numbers do.
    assert str(refused.value) == (
        "line 5: no account owned DID number 449999999999 at 2026-05-20 11:00:00 UTC"
    )


def test_one_owner_takes_every_record() -> None:
    tally = Tally()
    records = routed(CSV, one_owner(7), tally)
    assert [owner for owner, *_ in records] == [7, 7, 7, 7]
    assert tally.accounts == {7: 4}


def test_records_older_than_the_kept_months_are_refused_or_skipped() -> None:
    with pytest.raises(BadCdrFile) as refused:
        routed(CSV, one_owner(7), Tally(), oldest=datetime(2026, 5, 16))
    assert str(refused.value) == (
        "line 2: time_start 2026-05-02 10:00:00 is before 2026-05-16: cdrex keeps no older "
        "calls (CDREX_EXPORT_WINDOW_MONTHS and CDREX_CDR_RETENTION_MONTHS)"
    )
    tally = Tally(skip=True)
    records = routed(CSV, one_owner(7), tally, oldest=datetime(2026, 5, 16))
    assert [record[NAMES.index("duration") + 1] for record in records] == [2, 3, 4]
    assert tally.too_old == 1
