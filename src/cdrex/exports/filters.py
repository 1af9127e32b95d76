"""Creation filters of the 2017-09-18 resource: ``year``, ``month``, optional ``did_number``."""

from __future__ import annotations

import re
from datetime import datetime

from cdrex.exports.errors import Invalid, ValidationFailed
from cdrex.exports.model import CdrSelection
from cdrex.exports.window import exportable_months, month_start, next_month_start

MONTH_FILTERS = ("year", "month", "did_number")
DID_NUMBER = re.compile(r"[0-9]{3,15}")  # E.164 without "+": at most 15 digits


def _as_text(value: object) -> str | None:
    """Filter values arrive as strings (recorded fixtures) or integers (SDK examples)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value)


def _integer(filters: dict, name: str, problems: list[Invalid]) -> int | None:
    if name not in filters:
        problems.append(Invalid(("filters", name), f"{name} is required"))
        return None
    text = _as_text(filters[name])
    if text is None or not text.isascii() or not text.isdigit():
        problems.append(Invalid(("filters", name), f"{name} must be an integer"))
        return None
    # int() raises ValueError on thousands of digits; no year or month needs ten.
    if len(text.lstrip("0")) > 9:
        problems.append(Invalid(("filters", name), f"{name} is out of range"))
        return None
    return int(text)


def parse_month_filters(
    filters: object, now: datetime, months_back: int
) -> tuple[dict[str, str], CdrSelection]:
    """Validate a month filter; return the filters to echo and the CDRs they select."""
    if not isinstance(filters, dict):
        raise ValidationFailed([Invalid(("filters",), "filters must be an object")])
    problems = [
        Invalid(("filters", key), f"{key} is not an allowed filter")
        for key in filters
        if key not in MONTH_FILTERS
    ]
    year = _integer(filters, "year", problems)
    month = _integer(filters, "month", problems)
    if month is not None and not 1 <= month <= 12:
        problems.append(Invalid(("filters", "month"), "month must be between 1 and 12"))
        month = None
    did_number = None
    if "did_number" in filters:
        did_number = _as_text(filters["did_number"])
        if did_number is None or not DID_NUMBER.fullmatch(did_number):
            problems.append(
                Invalid(("filters", "did_number"), "did_number must be 3 to 15 digits")
            )
    if year is not None and month is not None and (year, month) not in exportable_months(
        now, months_back
    ):
        problems.append(
            Invalid(
                ("filters",),
                f"year and month must be within the current and {months_back} previous months",
            )
        )
    if problems:
        raise ValidationFailed(problems)
    assert year is not None and month is not None
    echo = {key: str(filters[key]) for key in MONTH_FILTERS if key in filters}
    selection = CdrSelection(month_start(year, month), next_month_start(year, month), did_number)
    return echo, selection
