"""The formats CDRs are taken in: cdrex's own, the switches' (shipped mappings), a site's.

``--format`` of `cdrex cdrs import` and ``format=`` of the operator API name one of
``INPUT_FORMATS``. Each switch format is a mapping file in ``switches/`` (the
documentation of what is read from where); ``mapping`` is a site's own file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cdrex.cdrs.mapping import BadMapping, MappedReader, RecordMapping, load_mapping
from cdrex.exports.kinds import KINDS, RecordKind

SWITCHES = Path(__file__).with_name("switches")
CDREX = "cdrex"
MAPPING = "mapping"  # a site's own mapping file
SWITCH_FORMATS = ("freeswitch-csv", "freeswitch-json", "asterisk-csv")
INPUT_FORMATS = (CDREX, *SWITCH_FORMATS, MAPPING)
TEMPLATE_VARIABLE = re.compile(r"\$\{([^}]+)\}")


@cache
def switch_mapping(name: str) -> RecordMapping:
    """A shipped switch format's mapping (``SWITCH_FORMATS``)."""
    fields = {kind.export_type.value: kind.fields for kind in KINDS.values()}
    return load_mapping(SWITCHES / f"{name}.toml", fields)


@dataclass(frozen=True)
class InputFormat:
    """A format as the options chose it: ``cdrex``'s own, or a mapping, with the zone and
    the FreeSWITCH template the options gave."""

    name: str
    mapping: RecordMapping | None = None

    def reader(self, kind: RecordKind) -> MappedReader | None:
        """The reader of ``kind``'s records through the mapping; None for cdrex's format."""
        if self.mapping is None:
            return None
        return self.mapping.reader(kind.export_type.value, kind.fields)


def input_format(
    name: str,
    timezone: str | None = None,
    template: str | None = None,
    mapping_file: Path | None = None,
) -> InputFormat:
    """The format ``name`` (``INPUT_FORMATS``) with its options; BadMapping says what does
    not fit (a template for a format without one, a mapping file missing or wrong)."""
    if name not in INPUT_FORMATS:
        raise BadMapping(f"unknown format {name!r} (one of {', '.join(INPUT_FORMATS)})")
    if (mapping_file is not None) != (name == MAPPING):
        raise BadMapping("--mapping FILE goes with --format mapping, and only with it")
    if template is not None and name != "freeswitch-csv":
        raise BadMapping("--template goes with --format freeswitch-csv")
    if name == CDREX:
        if timezone is not None:
            raise BadMapping("cdrex's format writes its times' zone: --timezone is not for it")
        return InputFormat(name)
    if mapping_file is not None:
        fields = {kind.export_type.value: kind.fields for kind in KINDS.values()}
        mapping = load_mapping(mapping_file, fields)
    else:
        mapping = switch_mapping(name)
    if template is not None:
        mapping = mapping.with_columns(template_columns(template))
    if timezone is not None:
        mapping = mapping.with_zone(timezone)
    return InputFormat(name, mapping)


def template_columns(template: str) -> tuple[str, ...]:
    """The variables of a mod_cdr_csv template, in order: the columns of its lines.

    The template is the text of a ``<template>`` element of cdr_csv.conf.xml:
    ``"${caller_id_name}","${caller_id_number}",...``. Each column must be one variable.
    """
    columns = TEMPLATE_VARIABLE.findall(template)
    if not columns:
        raise BadMapping("the template names no ${variable}")
    cells = [cell.strip().strip('"') for cell in template.strip().split(",")]
    if len(cells) != len(columns) or any(not TEMPLATE_VARIABLE.fullmatch(c) for c in cells):
        raise BadMapping(
            'each column of the template must be one "${variable}", separated by commas'
        )
    return tuple(columns)


CDREX_FORMAT = InputFormat(CDREX)
