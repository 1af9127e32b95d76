"""A CDR's identity, which makes importing it twice store it once.

The switch's own call id where the record has one (``call_id``: what FreeSWITCH calls the
uuid, Asterisk the uniqueid), else a digest of the whole record as parsed, so that the
same line read again, from the same file or an overlapping one, is the same call. The key
is stored with the record; the store keeps one record per account, key and time_start.
"""

from __future__ import annotations

from collections.abc import Callable
from hashlib import blake2b

from cdrex.cdrs.records import Field

MAX_PLAIN_ID = 64  # longer call ids are kept as their digest: the key stays index-sized


def call_keys(fields: tuple[Field, ...]) -> Callable[[tuple], str]:
    """The function giving a record of ``fields`` (values in their order) its key."""
    names = [field.name for field in fields]
    position = names.index("call_id") if "call_id" in names else None

    def key(record: tuple) -> str:
        call_id = record[position] if position is not None else None
        if call_id is not None and len(call_id) <= MAX_PLAIN_ID:
            return "id:" + call_id
        if call_id is not None:
            return "id#" + _digest(call_id)
        # repr: unambiguous (quoted strings, None apart from ""), and stable for the
        # values records hold (str, int, naive datetime).
        return "rec:" + _digest(repr(record))

    return key


def _digest(text: str) -> str:
    return blake2b(text.encode(), digest_size=16).hexdigest()
