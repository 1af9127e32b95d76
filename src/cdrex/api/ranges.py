"""Range requests (RFC 9110 §14): the one byte range a download sends, if any.

Our own, small: a file gets one range or the whole file. Several ranges get the whole
file, which §14.2 allows ("a server MAY ignore the Range header field"); no client of
export files asks for several, and multipart/byteranges is a second body format to keep.
"""

from __future__ import annotations

import re

# A position, or nothing (either may be left out, not both). Not int()'s rules: no sign, no
# "_", no digits of other scripts.
_POSITION = re.compile(r"[0-9]*")
# Beyond any file's size (and cheap to compare): a longer position is read as this, not by
# int(), which takes quadratic time on long digit strings and refuses those over 4,300.
_FAR = 10**18


class RangeNotSatisfiable(Exception):
    """The one range asked for starts past the end: 416, Content-Range: bytes */size."""

    def __init__(self, size: int) -> None:
        super().__init__(f"no byte of the range is in the file's {size}")
        self.size = size


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """The [start, end) that Range ``value`` asks of a file of ``size`` bytes; None for the
    whole file: a unit other than bytes, a value that does not parse, several ranges (all
    ignored, as §14.2 allows and, for an unknown unit, requires). Raises RangeNotSatisfiable
    when the range has no byte in the file (§14.1.1)."""
    unit, equals, spec = value.partition("=")
    if not equals or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = (part.strip() for part in spec.partition("-"))
    if not dash or not _POSITION.fullmatch(first) or not _POSITION.fullmatch(last):
        return None
    if not first:  # a suffix: the last n bytes
        if not last:
            return None
        length = _position(last)
        if length == 0 or size == 0:  # asks for no byte at all
            raise RangeNotSatisfiable(size)
        return max(size - length, 0), size
    if last and _key(last) < _key(first):
        return None  # §14.1.1: invalid, so the header is ignored
    start = _position(first)
    if start >= size:
        raise RangeNotSatisfiable(size)
    # A last position past the end means the end.
    end = min(_position(last) + 1, size) if last else size
    return start, end


def _position(digits: str) -> int:
    length, significant = _key(digits)
    return int(significant) if length < len(str(_FAR)) else _FAR


def _key(digits: str) -> tuple[int, str]:
    """Orders digit strings as the numbers they write, however long."""
    digits = digits.lstrip("0") or "0"
    return len(digits), digits


def range_applies(if_range: str | None, etag: str) -> bool:
    """Whether a Range is honoured given If-Range (§13.1.5): without one, or when it is our
    strong ``etag`` exactly (a weak tag never matches: §13.1.5 wants strong comparison).
    A date never matches, so the whole file is sent: sending it is always a correct answer,
    and the stores' modification times are not validators of the bytes (S3 keeps whole
    seconds; a rebuilt export file has a new time and the same bytes). The ETag is the
    file's SHA-256, and clients resume with it."""
    return if_range is None or if_range.strip() == etag
