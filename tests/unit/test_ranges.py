"""Our Range parser (cdrex.api.ranges): one byte range or the whole file (RFC 9110 §14)."""

from __future__ import annotations

import pytest

from cdrex.api.ranges import RangeNotSatisfiable, parse_range, range_applies

SIZE = 1000


@pytest.mark.parametrize(
    ("value", "span"),
    [
        ("bytes=0-9", (0, 10)),
        ("bytes=0-0", (0, 1)),
        ("bytes=10-", (10, SIZE)),
        ("bytes=999-", (999, SIZE)),
        ("bytes=990-5000", (990, SIZE)),  # a last position past the end: clamped
        ("bytes=0-999", (0, SIZE)),
        ("bytes=-5", (995, SIZE)),  # a suffix
        ("bytes=-1000", (0, SIZE)),
        ("bytes=-5000", (0, SIZE)),  # a suffix longer than the file: all of it
        (" bytes = 0-9 ", (0, 10)),  # whitespace around
        ("bytes= 0 - 9", (0, 10)),
        ("BYTES=0-9", (0, 10)),  # the unit is case-insensitive
        ("Bytes=-5", (995, SIZE)),
        ("bytes=007-009", (7, 10)),
        ("bytes=0-" + "9" * 5000, (0, SIZE)),  # longer than int() reads
        ("bytes=-" + "9" * 5000, (0, SIZE)),
        ("bytes=" + "0" * 5000 + "1-2", (1, 3)),
    ],
)
def test_one_range(value: str, span: tuple[int, int]) -> None:
    assert parse_range(value, SIZE) == span


@pytest.mark.parametrize(
    "value",
    [
        "bytes=abc",
        "bytes=a-b",
        "bytes=9-2",  # first after last: invalid, ignored
        "bytes=",
        "bytes=-",
        "bytes",
        "0-9",
        "items=0-1",  # another unit
        "bytes=0-1,5-6",  # several ranges: the whole file
        "bytes=0-1, -5",
        "bytes=0-1,",
        "bytes=+1-2",
        "bytes=1_0-20",
        "bytes=0x1-2",
        "bytes=\u0661-\u0662",  # Arabic-Indic digits, which int() reads
        "bytes=1-2-3",
        "bytes=0 1-2",
        "bytes=" + "9" * 5001 + "-" + "9" * 5000,  # first after last
        "bytes=--1",
    ],
)
def test_the_whole_file(value: str) -> None:
    assert parse_range(value, SIZE) is None


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("bytes=1000-", SIZE),
        ("bytes=1000-1001", SIZE),
        ("bytes=5000-", SIZE),
        ("bytes=" + "9" * 5000 + "-", SIZE),
        ("bytes=" + "9" * 5000 + "-" + "9" * 5001, SIZE),
        ("bytes=-0", SIZE),  # a suffix of no bytes
        ("bytes=0-", 0),  # an empty file has no byte to send
        ("bytes=-5", 0),
    ],
)
def test_not_satisfiable(value: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as raised:
        parse_range(value, size)
    assert raised.value.size == size


def test_if_range_keeps_the_range_only_for_our_strong_etag() -> None:
    etag = '"abc"'
    assert range_applies(None, etag)
    assert range_applies('"abc"', etag)
    assert range_applies(' "abc" ', etag)
    assert not range_applies('W/"abc"', etag)  # weak: never for a range
    assert not range_applies('"stale"', etag)
    assert not range_applies("", etag)
    # A date is never taken as a match: the whole file (see range_applies).
    assert not range_applies("Fri, 04 Dec 2026 18:00:00 GMT", etag)
