"""Other systems' CDRs, read through a mapping: which source column or JSON path gives each
cdrex field, how its times are written and in which zone (docs/switches.md).

A mapping is data, a small TOML file; the switch formats cdrex knows (FreeSWITCH's and
Asterisk's, cdrex.cdrs.input_formats) are mappings shipped in ``switches/``, and a site
with another source writes its own (``cdrex cdrs import --format mapping --mapping FILE``).
Reading through one gives the same record tuples as cdrex's own format (cdrex.cdrs.files),
so routing, identity and storage do not know where a record came from.
"""

from __future__ import annotations

import csv
import dataclasses
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from cdrex.cdrs.files import BadCdrFile, Numbered
from cdrex.cdrs.records import BadRecord, Field, Kind, RecordParser

EPOCH = datetime(1970, 1, 1)  # naive UTC; a switch's "never" (an unanswered call's answer)
EPOCH_UNITS = {"epoch": 1, "epoch_ms": 1_000, "epoch_us": 1_000_000}


class BadMapping(ValueError):
    """A mapping file that cannot be used; the message says where and why."""


def _clid_part(text: str, number: bool) -> str | None:
    """A caller id as Asterisk writes it, ``"Name" <number>``: its name or its number."""
    name, opening, rest = text.rpartition("<")
    if not opening:
        return None if not number else text.strip() or None
    if number:
        return rest.rstrip().removesuffix(">").strip() or None
    return name.strip().strip('"').strip() or None


# What ``take`` may ask of a value, after it is read and before it is parsed.
TAKES: dict[str, Callable[[str], str | None]] = {
    # Only the digits: "+49 30 1234" is the E.164 number cdrex stores without "+".
    "digits": lambda text: "".join(ch for ch in text if ch.isascii() and ch.isdigit()) or None,
    # FreeSWITCH url-encodes the variables of a JSON CDR (mod_json_cdr's encode-values).
    "url": unquote,
    "clid_name": lambda text: _clid_part(text, number=False),
    "clid_number": lambda text: _clid_part(text, number=True),
}


@dataclass(frozen=True)
class Times:
    """How a source writes a time: ``format`` is a strptime format, ``iso``, or one of
    ``EPOCH_UNITS``; times without an offset are in ``zone``."""

    format: str
    zone: ZoneInfo

    def parse(self, text: str) -> datetime | None:
        """Naive UTC, or None for the epoch itself (a switch's mark for "never")."""
        if self.format in EPOCH_UNITS:
            moment = _epoch(text, EPOCH_UNITS[self.format])
        elif self.format == "iso":
            moment = self._local(datetime.fromisoformat(text.strip()))
        else:
            try:
                written = datetime.strptime(text.strip(), self.format)
            except ValueError:
                raise ValueError(
                    f"{text!r} does not match the time format {self.format!r}"
                ) from None
            moment = self._local(written)
        return None if moment == EPOCH else moment

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            # fold=0: a wall time that occurs twice (clocks going back) is the first one.
            aware = moment.replace(tzinfo=self.zone)
            if aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != moment:
                raise ValueError(
                    f"{moment:%Y-%m-%d %H:%M:%S} does not exist in {self.zone.key} "
                    "(the hour its clocks skip)"
                )
            moment = aware
        return moment.astimezone(UTC).replace(tzinfo=None)


def _epoch(text: str, per_second: int) -> datetime:
    try:
        ticks = int(text) if text.isdigit() else float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not 0 <= ticks < 253402300800 * per_second:  # up to year 9999
        raise ValueError(f"{text!r} is out of range")
    if isinstance(ticks, int):  # exact: no float rounding of microseconds
        seconds, rest = divmod(ticks, per_second)
        return EPOCH + timedelta(seconds=seconds, microseconds=rest * 1_000_000 // per_second)
    return EPOCH + timedelta(seconds=ticks / per_second)


Source = int | str | tuple[str, ...]  # a CSV column's position or name, or a JSON path


@dataclass(frozen=True)
class Rule:
    """How one cdrex field is read: the first non-empty of ``sources``, then ``take``,
    then ``values`` (with ``other`` for a value not listed), then parsed as the field."""

    field: Field
    sources: tuple[Source, ...] = ()
    take: Callable[[str], str | None] | None = None
    values: Mapping[str, str] = dataclasses.field(default_factory=dict)  # (a field `field`)
    other: str | None = None
    constant: str | None = None
    times: Times | None = None  # for timestamps
    labels: tuple[str, ...] = ()  # the sources as the mapping names them, for messages

    def value(self, get: Callable[[Source], object]) -> object:
        if self.constant is not None:
            return self.constant
        for source in self.sources:
            raw = get(source)
            if raw is not None and raw != "":
                break
        else:
            return None
        text = _text(raw)
        if self.take is not None:
            taken = self.take(text)
            if taken is None:
                return None
            text = taken
        if self.values or self.other is not None:
            text = self.values.get(text, self.other if self.other is not None else text)
        if self.times is not None:
            return self.times.parse(text)
        return text

    def describe(self) -> str:
        """Where the field comes from, for error messages: "time_start (from start_stamp)"."""
        if not self.labels:
            return self.field.name
        return f"{self.field.name} (from {' or '.join(self.labels)})"


def _text(raw: object) -> str:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (int, float)):
        return str(raw)
    raise ValueError(f"is a JSON {'object' if isinstance(raw, dict) else 'array'}, not a value")


@dataclass(frozen=True)
class RecordMapping:
    """A mapping, loaded and checked (``load_mapping``): how to read one source's records.

    ``kinds``: the field rules of each record kind (by export type value) the source has.
    ``ignore_when``: JSON paths that, present in a record, mark one not to store (a
    FreeSWITCH B-leg: its A-leg is the call). ``kind_when``: JSON paths that, present,
    say a record is of that kind (a FreeSWITCH CDR with a trunk variable is outbound).
    """

    name: str
    syntax: str  # "csv" or "json"
    header: bool  # csv: whether the first line names the columns
    columns: tuple[str, ...]  # csv without a header: the columns' names, in order
    escape: str | None  # csv: the character escaping a quote, besides doubling it
    times: Times
    kinds: Mapping[str, Mapping[str, dict]]  # kind -> field name -> its rule's spec
    ignore_when: Mapping[str, tuple[str, ...]]  # why -> paths
    kind_when: Mapping[str, tuple[str, ...]]  # kind -> paths

    def with_columns(self, columns: tuple[str, ...]) -> RecordMapping:
        return replace(self, columns=columns)

    def with_zone(self, zone: str) -> RecordMapping:
        return replace(self, times=Times(self.times.format, _zone(zone, "--timezone")))

    def reader(self, kind: str, fields: tuple[Field, ...]) -> MappedReader:
        """The reader of records of ``kind``; BadMapping if the mapping cannot give them."""
        if kind not in self.kinds:
            offered = ", ".join(self.kinds)
            raise BadMapping(f"{self.name} has no {kind} records (it has {offered})")
        return MappedReader(self, kind, fields)

    def kind_of(self, record: dict) -> str | None:
        """The kind a JSON record says it is (``kind_when``), None if it says nothing."""
        for kind, paths in self.kind_when.items():
            if any(_walk(record, _path(path)) not in (None, "") for path in paths):
                return kind
        return None


class MappedReader:
    """Reads records of one kind through a mapping; ``ignored`` counts the records left
    out on purpose, by why (a B-leg, a record of another kind)."""

    def __init__(self, mapping: RecordMapping, kind: str, fields: tuple[Field, ...]) -> None:
        self.mapping, self.kind = mapping, kind
        self.ignored: Counter[str] = Counter()
        self._fields = fields
        self._parser = RecordParser(fields)
        self._specs = mapping.kinds[kind]
        if not mapping.header:  # the columns are known now: a missing one is told now
            self._check_required(self._rules(self._column_of(list(mapping.columns))))

    def records(self, lines: Iterator[str]) -> Numbered:
        if self.mapping.syntax == "csv":
            return self._csv_records(lines)
        return self._json_records(lines)

    def _rules(self, column: Callable[[str], Source]) -> list[Rule]:
        """A rule per field, in field order; a field the mapping does not name is null."""
        return [
            _rule(field, self._specs.get(field.name), self.mapping.times, column)
            for field in self._fields
        ]

    def _column_of(self, names: list[str]) -> Callable[[str], Source]:
        # A column the source does not have ("") is no source: a site's template without
        # ${accountcode} gives the fields read from it from their other sources, or null.
        if self.mapping.syntax == "json":
            return _path
        return lambda name: names.index(name) if name in names else ""

    def _csv_records(self, lines: Iterator[str]) -> Numbered:
        dialect: dict[str, Any] = {"strict": True}
        if self.mapping.escape:
            dialect["escapechar"] = self.mapping.escape
        reader = csv.reader(lines, **dialect)
        names = list(self.mapping.columns)
        if self.mapping.header:
            try:
                names = next((row for row in reader if row), [])
            except csv.Error as error:
                raise BadCdrFile(reader.line_num, f"header: bad CSV: {error}") from None
        rules = self._rules(self._column_of(names))
        self._check_required(rules)
        start = reader.line_num
        try:
            for row in reader:
                if row:
                    # A row shorter than the columns (an optional column the site does not
                    # log, as Asterisk's uniqueid) reads the rest as empty.
                    yield start + 1, self._parse(rules, _cells(row))
                start = reader.line_num
        except csv.Error as error:
            raise BadCdrFile(start + 1, f"bad CSV: {error}") from None
        except BadRecord as error:
            raise BadCdrFile(start + 1, str(error)) from None

    def _json_records(self, lines: Iterator[str]) -> Numbered:
        """JSON Lines, one record a line, or one JSON document (an object, or an array of
        objects) over the whole input: a pushed FreeSWITCH CDR is pretty-printed."""
        rules = self._rules(_path)
        self._check_required(rules)
        for number, record in _json_documents(lines):
            if not isinstance(record, dict):
                raise BadCdrFile(number, "each record must be a JSON object")
            if why := self._ignored(record):
                self.ignored[why] += 1
                continue
            try:
                yield number, self._parse(rules, partial(_walk, record))
            except BadRecord as error:
                raise BadCdrFile(number, str(error)) from None

    def _ignored(self, record: dict) -> str | None:
        for why, paths in self.mapping.ignore_when.items():
            if any(_walk(record, _path(path)) is not None for path in paths):
                return why
        other = self.mapping.kind_of(record)
        if other is not None and other != self.kind:
            return f"{other} record"
        return None

    def _check_required(self, rules: list[Rule]) -> None:
        for rule in rules:
            if rule.field.required and not rule.sources and rule.constant is None:
                names = self._specs.get(rule.field.name, {}).get("from")
                why = f" (read from {' or '.join(names)}: not a column)" if names else ""
                raise BadMapping(
                    f"{self.mapping.name}: nothing gives {self.kind} {rule.field.name}{why}"
                )

    def _parse(self, rules: list[Rule], get: Callable[[Any], object]) -> tuple:
        values = []
        for rule in rules:
            try:
                values.append(rule.value(get))
            except ValueError as error:
                raise BadRecord(f"{rule.describe()}: {error}") from None
        try:
            return self._parser.parse_values(values)
        except BadRecord as error:
            # The parser's message starts with the field's name ("duration: ...", "did_number
            # is required"): say where the mapping read it. By the whole name: "source" is
            # the start of "source_name" too.
            message = str(error)
            named = message.split(":", 1)[0].split(" ", 1)[0]
            rule = next(r for r in rules if r.field.name == named)
            raise BadRecord(rule.describe() + message.removeprefix(named)) from None


def _cells(row: list[str]) -> Callable[[int], str | None]:
    return lambda n: row[n] if n < len(row) else None


def _json_documents(lines: Iterator[str]) -> Iterator[tuple[int, object]]:
    lines = iter(lines)
    first, start = "", 0
    for start, first in enumerate(lines, start=1):  # noqa: B007 (start is used after)
        if first.strip():
            break
    else:
        return
    try:
        yield start, orjson.loads(first)  # a record on one line: JSON Lines
    except orjson.JSONDecodeError:
        # Not one line's document: the whole input is one (a pretty-printed CDR, an array).
        try:
            document = orjson.loads(first + "".join(lines))
        except orjson.JSONDecodeError as error:
            raise BadCdrFile(start, f"not valid JSON ({error})") from None
        items = document if isinstance(document, list) else [document]
        for offset, item in enumerate(items):
            yield start + offset if isinstance(document, list) else start, item
        return
    for number, line in enumerate(lines, start=start + 1):
        if line.strip():
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise BadCdrFile(number, f"not valid JSON ({error})") from None


def _path(text: str) -> tuple[str, ...]:
    return tuple(text.split("."))


def _walk(record: object, path: tuple[str, ...]) -> object:
    """The value at ``path`` (``callflow.0.caller_profile.uuid``), None where there is none.

    A number indexes a list, from the end if negative; an object where a list is expected
    is a list of one (older FreeSWITCH writes ``callflow`` as an object).
    """
    value = record
    for step in path:
        is_index = step.lstrip("-").isdigit()
        if isinstance(value, dict) and is_index and step not in value:
            value = [value]
        if isinstance(value, list) and is_index:
            index = int(step)
            value = value[index] if -len(value) <= index < len(value) else None
        elif isinstance(value, dict):
            value = value.get(step)
        else:
            return None
    return value


def _rule(field: Field, spec: dict | None, times: Times, column: Callable[[str], Source]) -> Rule:
    if spec is None:
        return Rule(field)
    if "value" in spec:
        return Rule(field, constant=spec["value"])
    found = [(name, column(name)) for name in spec["from"]]
    found = [(name, source) for name, source in found if source != ""]
    field_times = Times(spec.get("time", times.format), times.zone)
    return Rule(
        field,
        tuple(source for _, source in found),
        labels=tuple(name for name, _ in found),
        take=TAKES[spec["take"]] if "take" in spec else None,
        values=spec.get("values", {}),
        other=spec.get("other"),
        times=field_times if field.kind is Kind.TIMESTAMP else None,
    )


# --- Loading a mapping file ------------------------------------------------------------------

SOURCE_KEYS = {"format", "header", "columns", "escape", "time_format", "timezone"}
RULE_KEYS = {"from", "take", "values", "other", "value", "time"}


def load_mapping(path: Path, kinds: Mapping[str, tuple[Field, ...]]) -> RecordMapping:
    """The mapping in the TOML file at ``path``, checked against the record kinds cdrex
    has (``kinds``: export type value -> fields); BadMapping names what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise BadMapping(f"{path}: cannot be read ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise BadMapping(f"{path}: not valid TOML ({error})") from None
    return parse_mapping(data, path.name, kinds)


def parse_mapping(
    data: dict[str, Any], name: str, kinds: Mapping[str, tuple[Field, ...]]
) -> RecordMapping:
    source = _table(data, "source", name)
    _known_keys(source, SOURCE_KEYS, f"{name} [source]")
    syntax = source.get("format")
    if syntax not in ("csv", "json"):
        raise BadMapping(f'{name} [source]: format must be "csv" or "json"')
    header = _typed(source, "header", bool, False, name)
    columns = (
        tuple(_strings(source["columns"], f"{name} [source] columns"))
        if "columns" in source
        else ()
    )
    if syntax == "csv" and not header and not columns:
        raise BadMapping(f"{name} [source]: a CSV without a header needs its columns")
    times = Times(
        _time_format(_typed(source, "time_format", str, "iso", name), f"{name} [source]"),
        _zone(_typed(source, "timezone", str, "UTC", name), f"{name} [source] timezone"),
    )
    rules: dict[str, dict[str, dict]] = {}
    for kind, fields in kinds.items():
        if kind in data:
            rules[kind] = _kind_rules(_table(data, kind, name), fields, f"{name} [{kind}]")
    if not rules:
        raise BadMapping(f"{name}: maps no record kind (add [{'] or ['.join(kinds)}])")
    unknown = set(data) - {"source", "ignore_when", "kind_when", *kinds}
    if unknown:
        raise BadMapping(f"{name}: unknown table [{sorted(unknown)[0]}]")
    return RecordMapping(
        name=name,
        syntax=syntax,
        header=header,
        columns=columns,
        escape=_typed(source, "escape", str, None, name),
        times=times,
        kinds=rules,
        ignore_when=_paths_by(data.get("ignore_when", {}), f"{name} [ignore_when]"),
        kind_when=_paths_by(data.get("kind_when", {}), f"{name} [kind_when]", set(rules)),
    )


def _kind_rules(table: dict, fields: tuple[Field, ...], where: str) -> dict[str, dict]:
    by_name = {field.name: field for field in fields}
    rules = {}
    for field_name, spec in table.items():
        if field_name not in by_name:
            raise BadMapping(f"{where}: {field_name!r} is not a field of these records")
        rules[field_name] = _rule_spec(spec, by_name[field_name], f"{where} {field_name}")
    return rules


def _rule_spec(spec: object, field: Field, where: str) -> dict:
    """A field's rule as the file gives it (a source, a list of them, or a table),
    checked, as a table."""
    if isinstance(spec, (str, list)):
        spec = {"from": spec}
    if not isinstance(spec, dict):
        raise BadMapping(f"{where}: give a source name, a list of them, or a table")
    _known_keys(spec, RULE_KEYS, where)
    if ("value" in spec) == ("from" in spec):
        raise BadMapping(f"{where}: give either from (where it is read) or value (a constant)")
    if "value" in spec:
        return {"value": _typed(spec, "value", str, None, where)}
    checked: dict[str, Any] = {"from": _strings(spec["from"], f"{where} from")}
    if "take" in spec:
        if spec["take"] not in TAKES:
            raise BadMapping(f"{where}: take must be one of {', '.join(TAKES)}")
        checked["take"] = spec["take"]
    if "values" in spec:
        values = spec["values"]
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise BadMapping(f"{where}: values must be a table of strings")
        checked["values"] = values
    if "other" in spec:
        checked["other"] = _typed(spec, "other", str, None, where)
    if "time" in spec:
        if field.kind is not Kind.TIMESTAMP:
            raise BadMapping(f"{where}: time is for timestamp fields")
        checked["time"] = _time_format(_typed(spec, "time", str, None, where), where)
    return checked


def _time_format(value: str, where: str) -> str:
    if value in EPOCH_UNITS or value == "iso":
        return value
    if "%" not in value:
        units = ", ".join(EPOCH_UNITS)
        raise BadMapping(f"{where}: time format {value!r} is not iso, {units} or a strptime format")
    return value


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadMapping(
            f"{where}: unknown time zone {name!r} (an IANA name: Europe/Berlin)"
        ) from None


def _paths_by(table: object, where: str, allowed: set[str] | None = None) -> dict[str, tuple]:
    if not isinstance(table, dict):
        raise BadMapping(f"{where}: must be a table")
    if allowed is not None and (unknown := set(table) - allowed):
        raise BadMapping(f"{where}: {sorted(unknown)[0]!r} is not a kind this mapping reads")
    return {key: tuple(_strings(paths, f"{where} {key}")) for key, paths in table.items()}


def _table(data: dict, key: str, where: str) -> dict:
    table = data.get(key)
    if not isinstance(table, dict):
        raise BadMapping(f"{where}: needs a [{key}] table")
    return table


def _known_keys(table: dict, known: set[str], where: str) -> None:
    if unknown := set(table) - known:
        raise BadMapping(f"{where}: unknown key {sorted(unknown)[0]!r}")


def _typed(table: dict, key: str, kind: type, default: Any, where: str) -> Any:
    value = table.get(key, default)
    if value is not default and not isinstance(value, kind):
        raise BadMapping(f"{where}: {key} must be a {kind.__name__}")
    return value


def _strings(value: object, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise BadMapping(f"{where}: give a string or a list of strings")
    return items
