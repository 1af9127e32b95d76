"""Creation filters: which keys each (API version, export type) accepts, and what they select.

Two shapes exist. Up to 2022-05-10 a period is a calendar month (``year``, ``month``, and
for the kinds with ``month_day`` an optional ``day``); from 2026-04-16 it is a half-open
range ``[from, to)``. Either may be narrowed by the exact matches the kind declares (its
``narrowings``, cdrex.exports.kinds). A ``FilterRule`` names what one version and kind accept.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

from cdrex.exports.errors import Invalid, ValidationFailed
from cdrex.exports.kinds import Narrowing, RecordKind
from cdrex.exports.model import CdrSelection
from cdrex.exports.window import exportable_months, month_start, next_month_start

# "2026-05-01 00:00:00" (DIDWW's form) or ISO 8601 "2026-05-01T00:00:00", optionally with
# "Z" or an offset; without one the time is UTC.
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})?")


@dataclass(frozen=True)
class FilterRule:
    """What ``filters`` may hold for one API version and export type."""

    period: str  # "month" (year, month[, day]) or "range" (from, to)
    kind: RecordKind  # its narrowings, and whether a month may be cut to a day

    @property
    def takes_day(self) -> bool:
        return self.period == "month" and self.kind.month_day

    @cached_property
    def keys(self) -> tuple[str, ...]:
        """Every key accepted, in the order the filters are echoed."""
        period = ("year", "month") if self.period == "month" else ("from", "to")
        day = ("day",) if self.takes_day else ()
        return period + day + tuple(narrowing.key for narrowing in self.kind.narrowings)

    @cached_property
    def aliases(self) -> dict[str, str]:
        """Other spellings clients send for a key: spelling -> the key (echoed as the key)."""
        return {
            alias: narrowing.key
            for narrowing in self.kind.narrowings
            for alias in narrowing.aliases
        }


def _as_text(value: object) -> str | None:
    """Filter values arrive as strings (recorded fixtures) or integers (SDK examples)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def _missing(filters: dict, name: str, problems: list[Invalid]) -> bool:
    if name in filters:
        return False
    problems.append(Invalid(("filters", name), f"{name} is required"))
    return True


def _integer(filters: dict, name: str, low: int, high: int, problems: list[Invalid]) -> int | None:
    """A present integer filter (the caller checked presence), or None with a problem."""
    text = _as_text(filters[name])
    # Length first: int() raises ValueError on strings of thousands of digits.
    if text is None or not text.isascii() or not text.isdigit() or len(text.lstrip("0")) > 9:
        problems.append(Invalid(("filters", name), f"{name} must be an integer"))
        return None
    value = int(text)
    if not low <= value <= high:
        problems.append(Invalid(("filters", name), f"{name} must be between {low} and {high}"))
        return None
    return value


def _month_period(
    filters: dict, rule: FilterRule, now: datetime, months_back: int, problems: list[Invalid]
) -> tuple[datetime, datetime] | None:
    missing = [_missing(filters, name, problems) for name in ("year", "month")]
    year = None if missing[0] else _integer(filters, "year", 0, 10**9, problems)
    month = None if missing[1] else _integer(filters, "month", 1, 12, problems)
    if year is None or month is None:
        return None
    if (year, month) not in exportable_months(now, months_back):
        problems.append(
            Invalid(
                ("filters",),
                f"year and month must be within the current and {months_back} previous months",
            )
        )
        return None
    if "day" not in filters or not rule.takes_day:
        return month_start(year, month), next_month_start(year, month)
    day = _integer(filters, "day", 1, calendar.monthrange(year, month)[1], problems)
    if day is None:
        return None
    start = month_start(year, month).replace(day=day)
    return start, start + timedelta(days=1)


def _blank(value: object) -> bool:
    """Blank as DIDWW's server judges a filter value: absent, null, or only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def _timestamp(filters: dict, name: str, problems: list[Invalid]) -> datetime | None:
    text = filters.get(name)
    if _blank(text):
        # DIDWW's recorded error for a blank from, for both export types: "from not valid"
        # on the filters attribute, not on the member.
        problems.append(Invalid(("filters",), f"{name} not valid"))
        return None
    try:
        # The pattern first: fromisoformat also takes forms DIDWW does not (dates alone).
        if not isinstance(text, str) or not TIMESTAMP.fullmatch(text):
            raise ValueError(text)
        moment = datetime.fromisoformat(text)
    except ValueError:  # malformed, or no such date (2026-02-30)
        problems.append(Invalid(("filters", name), f"{name} not valid"))
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        problems.append(Invalid(("filters", name), f"{name} is out of range"))
        return None


def _range_period(
    filters: dict, rule: FilterRule, now: datetime, months_back: int, problems: list[Invalid]
) -> tuple[datetime, datetime] | None:
    start, end = _timestamp(filters, "from", problems), _timestamp(filters, "to", problems)
    if start is None or end is None:
        return None
    oldest = month_start(*exportable_months(now, months_back)[0])
    if not oldest <= start <= now:
        problems.append(
            Invalid(
                ("filters",), f"from must be within the current and {months_back} previous months"
            )
        )
        return None
    if end <= start:  # half-open: an empty range selects nothing, so it is refused
        problems.append(Invalid(("filters", "to"), "to must be after from"))
        return None
    return start, end


def _echo(filters: dict, rule: FilterRule, period: tuple[datetime, datetime]) -> dict[str, str]:
    """The filters as the resource shows them: strings, times normalised."""
    echo = {key: str(filters[key]) for key in rule.keys if key in filters}
    if rule.period == "range":
        echo["from"], echo["to"] = (moment.strftime("%Y-%m-%d %H:%M:%S") for moment in period)
    return echo


def _unaliased(
    filters: dict, rule: FilterRule, problems: list[Invalid]
) -> tuple[dict, dict[str, str]]:
    """The filters with every alias replaced by its key, and how each such key was spelt."""
    unaliased: dict = {}
    spelt: dict[str, str] = {}
    for sent, value in filters.items():
        key = rule.aliases.get(sent, sent)
        if key in unaliased:
            problems.append(
                Invalid(
                    ("filters", sent),
                    f"{sent} and {spelt.get(key, key)} are the same filter: send one",
                )
            )
        unaliased[key] = value
        spelt[key] = sent
    return unaliased, spelt


def parse_filters(
    rule: FilterRule, filters: object, now: datetime, months_back: int
) -> tuple[dict[str, str], CdrSelection]:
    """Validate creation filters; return the filters to echo and the CDRs they select."""
    if not isinstance(filters, dict):
        raise ValidationFailed([Invalid(("filters",), "filters must be an object")])
    problems: list[Invalid] = []
    filters, spelt = _unaliased(filters, rule, problems)
    problems += [
        Invalid(("filters", key), f"{key} is not an allowed filter")
        for key in filters
        if key not in rule.keys
    ]
    period_of = _month_period if rule.period == "month" else _range_period
    period = period_of(filters, rule, now, months_back, problems)
    narrowing = []
    for narrowing_filter in rule.kind.narrowings:
        value = _narrowing_value(filters, narrowing_filter, spelt, problems)
        if value is not None:
            narrowing.append((narrowing_filter.column, value))
    if problems:
        raise ValidationFailed(problems)
    assert period is not None
    return _echo(filters, rule, period), CdrSelection(period[0], period[1], tuple(narrowing))


def _narrowing_value(
    filters: dict, narrowing: Narrowing, spelt: dict[str, str], problems: list[Invalid]
) -> str | None:
    """The value to match, normalized as the column's stored values are; None when the
    filter is absent (and may be) or invalid (with a problem)."""
    key = narrowing.key
    if key not in filters:
        if narrowing.required:
            problems.append(Invalid(("filters", key), f"{key} is required"))
        return None
    text = _as_text(filters[key])
    if text is None or not narrowing.pattern.fullmatch(text):
        problems.append(Invalid(("filters", spelt[key]), f"{spelt[key]} {narrowing.must}"))
        return None
    normalize = narrowing.field.normalize
    return normalize(text) if normalize is not None else text
