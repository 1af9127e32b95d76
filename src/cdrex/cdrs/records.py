"""The CDR record format (shared/spec/cdr-record.md): fields, their kinds, and parsing.

Records are parsed into plain tuples in ``INBOUND_FIELDS`` order: timestamps as naive UTC
datetimes, amounts as integer millionths (exact, as the format requires), the rest as
``int`` or ``str``. ``None`` is null.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation


class Kind(enum.Enum):
    TIMESTAMP = "timestamp"
    TEXT = "text"
    INTEGER = "integer"
    AMOUNT = "amount"  # stored as integer millionths of the unit


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    required: bool = False
    minimum: int | None = None  # for integers
    pattern: re.Pattern[str] | None = None  # for text


DIGITS = re.compile(r"[0-9]{1,15}")

INBOUND_FIELDS: tuple[Field, ...] = (
    Field("time_start", Kind.TIMESTAMP, required=True),
    Field("time_connect", Kind.TIMESTAMP),
    Field("time_end", Kind.TIMESTAMP),
    Field("did_number", Kind.TEXT, required=True, pattern=DIGITS),
    Field("source", Kind.TEXT),
    Field("source_number_out", Kind.TEXT),
    Field("source_name", Kind.TEXT),
    Field("source_country", Kind.TEXT),
    Field("source_network", Kind.TEXT),
    Field("destination", Kind.TEXT),
    Field("status", Kind.TEXT),
    Field("duration", Kind.INTEGER, required=True, minimum=0),
    Field("attempt", Kind.INTEGER, minimum=1),
    Field("disconnect_code", Kind.INTEGER),
    Field("response", Kind.TEXT),
    Field("disconnect_initiator", Kind.TEXT),
    Field("voice_in_trunk", Kind.TEXT),
    Field("trunk_group", Kind.TEXT),
    Field("capacity_group", Kind.TEXT),
    Field("tollfree_amount", Kind.AMOUNT),
    Field("pstn_amount", Kind.AMOUNT),
    Field("metered_amount", Kind.AMOUNT),
    Field("cnam_amount", Kind.AMOUNT),
    Field("total_amount", Kind.AMOUNT),
    Field("sell_amount", Kind.AMOUNT),
    Field("customer_id", Kind.TEXT),
    Field("call_id", Kind.TEXT),
)
INBOUND_BY_NAME = {field.name: field for field in INBOUND_FIELDS}

MICROS = Decimal(1_000_000)
INTEGER = re.compile(r"-?[0-9]{1,18}")
# Upper bound keeps amounts inside a signed 64-bit column once scaled to millionths.
MAX_AMOUNT = Decimal(9_000_000_000_000)


class BadRecord(ValueError):
    """A record that cannot be imported; the message says which field and why."""


def parse_timestamp(value: str) -> datetime:
    """ISO 8601 with ``Z`` or an offset, or ``YYYY-MM-DD HH:MM:SS[.ffffff]`` meaning UTC."""
    text = value.strip()
    if len(text) < 19 or text[10] not in "T ":
        raise ValueError(f"{value!r} is not a timestamp")
    parsed = datetime.fromisoformat(text.replace("z", "Z"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def parse_amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("not a decimal number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise ValueError(f"{value!r} is out of range")
    scaled = amount * MICROS
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value!r} has more than 6 fractional digits")
    return int(scaled)


def parse_integer(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        return int(value)
    raise ValueError(f"{value!r} is not an integer")


def parse_field(field: Field, value: object) -> object:
    if field.kind is Kind.TEXT:
        if not isinstance(value, str):
            raise ValueError("must be a string")
        if field.pattern is not None and not field.pattern.fullmatch(value):
            raise ValueError(f"{value!r} is malformed")
        return value
    if field.kind is Kind.TIMESTAMP:
        if not isinstance(value, str):
            raise ValueError("must be a timestamp string")
        return parse_timestamp(value)
    if field.kind is Kind.AMOUNT:
        return parse_amount(value)
    number = parse_integer(value)
    if field.minimum is not None and number < field.minimum:
        raise ValueError(f"must be at least {field.minimum}")
    return number


def check_field_names(names: list[str], fields: dict[str, Field]) -> None:
    unknown = [name for name in names if name not in fields]
    if unknown:
        raise BadRecord(f"unknown field {unknown[0]!r}")


def parse_record(record: dict[str, object], fields: tuple[Field, ...]) -> tuple:
    """One record as a tuple in ``fields`` order. ``record`` holds only known names."""
    values = []
    for field in fields:
        value = record.get(field.name)
        if value is None:
            if field.required:
                raise BadRecord(f"{field.name} is required")
            values.append(None)
            continue
        try:
            values.append(parse_field(field, value))
        except ValueError as error:
            raise BadRecord(f"{field.name}: {error}") from None
    return tuple(values)
