"""The export window: the current month and a number before it (docs/api.md)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from cdrex.exports.window import exportable_months, month_start, next_month_start, shift_month


def test_month_boundaries_are_utc_midnights() -> None:
    assert month_start(2026, 2) == datetime(2026, 2, 1, tzinfo=UTC)
    assert next_month_start(2026, 2) == datetime(2026, 3, 1, tzinfo=UTC)
    assert next_month_start(2025, 12) == datetime(2026, 1, 1, tzinfo=UTC)


def test_shift_month_crosses_years_both_ways() -> None:
    assert shift_month(2026, 1, -1) == (2025, 12)
    assert shift_month(2026, 1, -13) == (2024, 12)
    assert shift_month(2025, 12, 1) == (2026, 1)
    assert shift_month(2025, 12, 13) == (2027, 1)
    assert shift_month(2026, 5, 0) == (2026, 5)


def test_window_is_the_current_month_and_those_before_oldest_first() -> None:
    january = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
    assert exportable_months(january, 2) == [(2025, 11), (2025, 12), (2026, 1)]
    assert exportable_months(january, 0) == [(2026, 1)]
    # The last instant of a month is still that month.
    assert exportable_months(datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC), 1) == [
        (2026, 2),
        (2026, 3),
    ]


@given(
    now=st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9000, 12, 31)),
    back=st.integers(0, 40),
)
def test_window_properties(now: datetime, back: int) -> None:
    months = exportable_months(now.replace(tzinfo=UTC), back)
    assert len(months) == back + 1
    assert months[-1] == (now.year, now.month)
    for (year, month), (next_year, next_month) in itertools.pairwise(months):
        assert next_month_start(year, month) == month_start(next_year, next_month)
