"""A create request's attributes, checked and turned into a new Export.

What a version accepts is handed in (its filter rules and callback method spellings), so
this stays free of the HTTP layer that owns the version table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cdrex.callbacks.destinations import validate_callback_url
from cdrex.exports.errors import Invalid, ValidationFailed
from cdrex.exports.filters import FilterRule, parse_filters
from cdrex.exports.model import CallbackMethod, Export, ExportType

MAX_REFERENCE_LENGTH = 100


def _export_type(
    attributes: dict, rules: Mapping[ExportType, FilterRule], problems: list[Invalid]
) -> ExportType | None:
    if len(rules) == 1 and "export_type" not in attributes:
        return next(iter(rules))  # versions before 2021-12-15 offer one, unnamed
    value = attributes.get("export_type")
    if value is None:
        problems.append(Invalid(("export_type",), "can't be blank"))
        return None
    by_name = {kind.value: kind for kind in rules}
    if not isinstance(value, str) or value not in by_name:  # any JSON value may come
        problems.append(Invalid(("export_type",), f"must be one of {', '.join(by_name)}"))
        return None
    return by_name[value]


def _callback(
    attributes: dict, spellings: Mapping[CallbackMethod, str], problems: list[Invalid]
) -> tuple[str | None, CallbackMethod | None]:
    url, method = attributes.get("callback_url"), attributes.get("callback_method")
    by_spelling = {spelling: method for method, spelling in spellings.items()}
    chosen = by_spelling.get(method) if isinstance(method, str) else None  # any JSON value
    if method is not None and chosen is None:
        problems.append(Invalid(("callback_method",), f"must be {' or '.join(by_spelling)}"))
    if url is None:
        if method is not None:
            problems.append(Invalid(("callback_url",), "can't be blank with a callback_method"))
        return None, None
    error = validate_callback_url(url) if isinstance(url, str) else "must be a URL"
    if error:
        problems.append(Invalid(("callback_url",), error))
    # Without a method, POST: what every version documents first.
    return url, chosen or CallbackMethod.POST


def reference_problem(value: object) -> Invalid | None:
    """Why ``value`` cannot be an external_reference_id (None clears it)."""
    if value is not None and not isinstance(value, str):
        return Invalid(("external_reference_id",), "must be a string")
    if value is not None and len(value) > MAX_REFERENCE_LENGTH:
        return Invalid(
            ("external_reference_id",),
            f"is too long (maximum is {MAX_REFERENCE_LENGTH} characters)",
        )
    if value is not None and "\x00" in value:  # PostgreSQL text cannot hold it: refused on both
        return Invalid(("external_reference_id",), "must not contain the NUL character (U+0000)")
    return None


def new_export(
    attributes: dict,
    *,
    account_id: int,
    api_version: str,
    filter_rules: Mapping[ExportType, FilterRule],
    callback_methods: Mapping[CallbackMethod, str],
    now: datetime,
    months_back: int,
    base_url: str,
) -> Export:
    """The Export a create request asks for; ValidationFailed lists everything wrong."""
    problems: list[Invalid] = []
    export_type = _export_type(attributes, filter_rules, problems)
    callback_url, callback_method = _callback(attributes, callback_methods, problems)
    reference = attributes.get("external_reference_id")
    if problem := reference_problem(reference):
        problems.append(problem)
    filters = selection = None
    if "filters" not in attributes:
        problems.append(Invalid(("filters",), "can't be blank"))
    elif export_type is not None:
        try:
            filters, selection = parse_filters(
                filter_rules[export_type], attributes["filters"], now, months_back
            )
        except ValidationFailed as failed:
            problems += failed.problems
    if problems:
        raise ValidationFailed(problems)
    assert export_type is not None and filters is not None and selection is not None
    return Export(
        account_id=account_id,
        api_version=api_version,
        export_type=export_type,
        filters=filters,
        selection=selection,
        created_at=now,
        callback_url=callback_url,
        callback_method=callback_method,
        external_reference_id=reference,
        base_url=base_url,
    )
