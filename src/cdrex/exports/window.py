"""Which months may be exported: the current one and a configurable number before it."""

from __future__ import annotations

from datetime import UTC, datetime


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def next_month_start(year: int, month: int) -> datetime:
    return month_start(year + month // 12, month % 12 + 1)


def shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def exportable_months(now: datetime, months_back: int) -> list[tuple[int, int]]:
    """The (year, month) pairs an export may ask for, oldest first."""
    return [shift_month(now.year, now.month, -back) for back in range(months_back, -1, -1)]
