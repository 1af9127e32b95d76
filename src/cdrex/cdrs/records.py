"""The CDR record format (docs/cdr-record.md): fields, their kinds, and parsing.

Records are parsed into plain tuples in the order of their kind's fields
(``INBOUND_FIELDS``, ``OUTBOUND_FIELDS``; cdrex.exports.kinds says which export type has
which): timestamps as naive UTC datetimes, amounts as integer millionths (exact, as the
format requires), the rest as ``int`` or ``str``. ``None`` is null.

Parsing is the hot path of `cdrex cdrs import` (27 fields a row, 100,000s of rows), so the
common spellings take a fast path and only the rest go through the general one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property


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
    # For text, applied after the pattern check: one spelling per value, so that stored
    # values compare equal to filter values normalized the same way.
    normalize: Callable[[str], str] | None = None

    @cached_property
    def parse(self) -> Callable[[object], object]:
        """Parses a non-null value into this field's Python type; ValueError says why not.

        Built once per field: looking the kind's parser up per value (enum hashing) cost
        as much as the parsing itself.
        """
        parse_kind = _PARSERS[self.kind]
        minimum, pattern, normalize = self.minimum, self.pattern, self.normalize
        if minimum is None and pattern is None and normalize is None:
            return parse_kind

        def parse_checked(value: object) -> object:
            parsed = parse_kind(value)
            if minimum is not None and parsed < minimum:  # type: ignore[operator]
                raise ValueError(f"must be at least {minimum}")
            if pattern is not None and not pattern.fullmatch(parsed):  # type: ignore[call-overload]
                raise ValueError(f"{value!r} is malformed")
            if normalize is not None:
                parsed = normalize(parsed)  # type: ignore[arg-type]
            return parsed

        return parse_checked


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

# The canonical 8-4-4-4-12 spelling only (no braces, no `urn:uuid:`, no missing dashes):
# trunk ids are matched as text, so every spelling the import accepts must normalize to
# the same stored value, and lower case does that for this form.
UUID_TEXT = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)

OUTBOUND_FIELDS: tuple[Field, ...] = (
    Field("time_start", Kind.TIMESTAMP, required=True),
    Field("time_connect", Kind.TIMESTAMP),
    Field("time_end", Kind.TIMESTAMP),
    Field("voice_out_trunk_id", Kind.TEXT, required=True, pattern=UUID_TEXT, normalize=str.lower),
    Field("voice_out_trunk", Kind.TEXT),
    Field("source", Kind.TEXT),
    Field("cli", Kind.TEXT),
    Field("destination_number", Kind.TEXT, required=True),
    Field("status", Kind.TEXT),
    Field("duration", Kind.INTEGER, required=True, minimum=0),
    Field("billing_duration", Kind.INTEGER, minimum=0),
    Field("disconnect_code", Kind.INTEGER),
    Field("disconnect_reason", Kind.TEXT),
    Field("destination_country", Kind.TEXT),
    Field("network", Kind.TEXT),
    Field("call_type", Kind.TEXT),
    Field("rate", Kind.AMOUNT),
    Field("charged", Kind.AMOUNT),
    Field("p_charge_info", Kind.TEXT),
    Field("call_id", Kind.TEXT),
)
OUTBOUND_BY_NAME = {field.name: field for field in OUTBOUND_FIELDS}

MICROS = Decimal(1_000_000)
INTEGER = re.compile(r"-?[0-9]{1,18}")
# Integer columns are 32-bit on PostgreSQL; the same bound on SQLite keeps backends alike.
INTEGER_RANGE = range(-(2**31), 2**31)
# Upper bound keeps amounts inside a signed 64-bit column once scaled to millionths.
MAX_AMOUNT = Decimal(9_000_000_000_000)
# The usual spelling of an amount, parsed without Decimal (several times faster); 12 whole
# digits stay below MAX_AMOUNT, so it needs no range check.
PLAIN_AMOUNT = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,6})?")


class BadRecord(ValueError):
    """A record that cannot be imported; the message says which field and why."""


def parse_timestamp(value: object) -> datetime:
    """ISO 8601 with ``Z`` or an offset, or ``YYYY-MM-DD HH:MM:SS[.ffffff]`` meaning UTC;
    a naive datetime (UTC, as a mapping reads it: cdrex.cdrs.mapping) as it is."""
    if type(value) is datetime:
        return value
    if not isinstance(value, str):
        raise ValueError("must be a timestamp string")
    text = value.strip()
    if len(text) < 19 or text[10] not in "Tt ":
        raise ValueError(f"{value!r} is not a timestamp")
    if text[10] == "t" or text[-1] == "z":  # RFC 3339 allows both in lower case
        text = text.upper()
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{value!r} is not a valid timestamp ({error})") from None
    # Without a zone only the space form means UTC: an ISO `T` form with no zone is
    # usually a switch's local time, and guessing would shift calls silently.
    if text[10] != " ":
        raise ValueError(f"{value!r} has no time zone (add Z or an offset)")
    return parsed


def parse_amount(value: object) -> int:
    """Integer millionths of a decimal string or JSON number with up to 6 decimals."""
    if type(value) is str and PLAIN_AMOUNT.fullmatch(value):
        whole, _, fraction = value.partition(".")
        return int(whole + fraction.ljust(6, "0"))  # "-0.5" -> "-0500000"
    if type(value) not in (str, int, float):  # bool is an int, but not an amount
        raise ValueError("not a decimal number")
    if isinstance(value, str) and not value.isascii():  # Decimal reads any script's digits
        raise ValueError(f"{value!r} is not a decimal number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise ValueError(f"{value!r} is out of range")
    if amount.as_tuple().exponent < -6:  # type: ignore[operator]
        raise ValueError(f"{value!r} has more than 6 fractional digits")
    return int(amount * MICROS)


def parse_integer(value: object) -> int:
    if type(value) is str and value.isdigit() and value.isascii():
        number = int(value)  # the usual spelling, without the regular expression
    elif isinstance(value, str) and INTEGER.fullmatch(value.strip()):
        number = int(value)
    elif type(value) is int:  # not bool
        number = value
    else:
        raise ValueError(f"{value!r} is not an integer")
    if number not in INTEGER_RANGE:
        raise ValueError(f"{number} is out of range")
    return number


def parse_text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; refuse it on every backend
        raise ValueError("contains a NUL character")
    return value


_PARSERS = {
    Kind.TIMESTAMP: parse_timestamp,
    Kind.TEXT: parse_text,
    Kind.INTEGER: parse_integer,
    Kind.AMOUNT: parse_amount,
}


def check_field_names(names: Sequence[str], fields: dict[str, Field]) -> None:
    """Every name must be a known field, and appear once."""
    seen: set[str] = set()
    for name in names:
        if name not in fields:
            raise BadRecord(f"unknown field {name!r}")
        if name in seen:
            raise BadRecord(f"field {name!r} appears twice")
        seen.add(name)


def check_required_names(names: Sequence[str], fields: tuple[Field, ...]) -> None:
    missing = [field.name for field in fields if field.required and field.name not in names]
    if missing:
        raise BadRecord(f"required field {missing[0]!r} is missing")


def _plain_text(field: Field) -> bool:
    """A text field whose parsed value is the raw string itself."""
    return field.kind is Kind.TEXT and field.pattern is None and field.normalize is None


class RecordParser:
    """Turns raw records into tuples in ``fields`` order; built once per file.

    With ``trusted_text`` the values of text fields are known to be NUL-free strings (CSV
    cells of screened lines), so plain text fields (no pattern, no normalization) pass
    through unparsed: they are half of all values, and skipping them makes CSV import
    markedly faster.
    """

    def __init__(self, fields: tuple[Field, ...], trusted_text: bool = False) -> None:
        self.fields = fields
        self._names = [field.name for field in fields]
        self._checks = [
            (n, field, field.parse)  # parse looked up once, not per value
            for n, field in enumerate(fields)
            if not (trusted_text and _plain_text(field)) or field.required
        ]

    def parse_values(self, values: list[object]) -> tuple:
        """``values`` aligned with the fields, ``None`` for null (parsed in place)."""
        for n, field, parse in self._checks:
            value = values[n]
            if value is None:
                if field.required:
                    raise BadRecord(f"{field.name} is required")
                continue
            try:
                values[n] = parse(value)
            except ValueError as error:
                raise BadRecord(f"{field.name}: {error}") from None
        return tuple(values)

    def parse_dict(self, record: dict[str, object]) -> tuple:
        """A record given by field name (an absent field is null)."""
        return self.parse_values([record.get(name) for name in self._names])
