"""A CDR's identity (cdrex.cdrs.identity): the call id where there is one, else a digest
of the whole record."""

from __future__ import annotations

from datetime import datetime

from cdrex.cdrs.identity import MAX_PLAIN_ID, call_keys
from cdrex.cdrs.records import Field, Kind

FIELDS = (
    Field("time_start", Kind.TIMESTAMP, required=True),
    Field("source", Kind.TEXT),
    Field("call_id", Kind.TEXT),
)
AT = datetime(2026, 5, 1, 10)


def test_the_call_id_is_the_key() -> None:
    key = call_keys(FIELDS)
    assert key((AT, "a", "abc-1")) == "id:abc-1"
    assert key((AT, "b", "abc-1")) == "id:abc-1"  # the same call, whatever else differs
    long_id = "x" * (MAX_PLAIN_ID + 1)
    assert key((AT, None, long_id)).startswith("id#")
    assert len(key((AT, None, long_id))) < 100  # fits the column


def test_without_a_call_id_the_whole_record_is() -> None:
    key = call_keys(FIELDS)
    assert key((AT, "a", None)) == key((AT, "a", None))
    assert key((AT, "a", None)).startswith("rec:")
    assert key((AT, "a", None)) != key((AT, "b", None))
    assert key((AT, "", None)) != key((AT, None, None))  # JSON Lines keeps them apart
    # Values cannot run into each other.
    two = (Field("a", Kind.TEXT), Field("b", Kind.TEXT))
    assert call_keys(two)(("x,y", "z")) != call_keys(two)(("x", "y,z"))


def test_a_kind_without_call_ids_keys_by_record() -> None:
    key = call_keys(FIELDS[:2])
    assert key((AT, "a")).startswith("rec:")
