"""The response cache, in-process: it holds at most its byte budget of keys, bodies and
headers, the oldest going first, and nothing made under a data version that has changed; a
hit is the stored response, headers included (DIDWW's Vary and Cache-Control)."""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from cdrex.api.context import ENTRY_OVERHEAD, ResponseCache
from cdrex.api.errors import REVALIDATE, JsonApiResponse


class FakeReader:
    """Stands in for the SQLite reader: a data version the test changes at will."""

    def __init__(self) -> None:
        self.version = 1

    def data_version(self) -> int:
        return self.version


def page(size: int, status: int = 200) -> Response:
    return Response(b"x" * size, status_code=status, media_type="application/vnd.api+json")


def header_bytes(size: int) -> int:
    """What the headers of ``page(size)`` count for."""
    return sum(len(name) + len(value) for name, value in page(size).raw_headers)


def fetch(cache: ResponseCache, key: tuple, response: Response) -> bool:
    """Ask the cache for ``key``; True when it had to make the response."""
    made = []

    async def make() -> Response:
        made.append(key)
        return response

    asyncio.run(cache.get(key, make))
    return bool(made)


def test_the_cache_holds_at_most_its_budget_oldest_out_first() -> None:
    # the keys' strings and the headers count
    entry = ENTRY_OVERHEAD + 10_000 + header_bytes(10_000) + len("list") + len("q0")
    cache = ResponseCache(FakeReader(), max_bytes=3 * entry)  # type: ignore[arg-type]
    for n in range(3):
        assert fetch(cache, ("list", f"q{n}"), page(10_000))
    assert cache.held_bytes == 3 * entry
    assert not fetch(cache, ("list", "q0"), page(10_000))  # all three are held
    assert fetch(cache, ("list", "q3"), page(10_000))  # makes room: q0 goes
    assert cache.held_bytes == 3 * entry
    assert fetch(cache, ("list", "q0"), page(10_000))
    assert not fetch(cache, ("list", "q3"), page(10_000))


def test_keys_count_as_well_as_bodies() -> None:
    cache = ResponseCache(FakeReader(), max_bytes=1_000_000)  # type: ignore[arg-type]
    fetch(cache, ("list", 7, b"q" * 5_000, "http://h"), page(1_000))
    assert cache.held_bytes == (
        ENTRY_OVERHEAD + 1_000 + header_bytes(1_000) + len("list") + 5_000 + len("http://h")
    )


def test_an_entry_over_the_budget_is_not_kept() -> None:
    cache = ResponseCache(FakeReader(), max_bytes=50_000)  # type: ignore[arg-type]
    fetch(cache, ("small",), page(100))
    assert fetch(cache, ("big",), page(60_000))
    assert fetch(cache, ("big",), page(60_000))
    assert not fetch(cache, ("small",), page(100))  # nothing was evicted for it


def test_a_commit_retires_every_entry() -> None:
    reader = FakeReader()
    cache = ResponseCache(reader, max_bytes=1_000_000)  # type: ignore[arg-type]
    fetch(cache, ("a",), page(100))
    reader.version = 2
    assert fetch(cache, ("a",), page(100))
    assert cache.held_bytes == ENTRY_OVERHEAD + 100 + header_bytes(100) + 1


def test_a_page_made_across_a_commit_is_not_kept() -> None:
    reader = FakeReader()
    cache = ResponseCache(reader, max_bytes=1_000_000)  # type: ignore[arg-type]

    async def racing() -> None:
        async def slow_make() -> Response:
            await asyncio.sleep(0.01)  # meanwhile another request sees the new version
            return page(100)

        async def other_request() -> None:
            reader.version = 2
            await cache.get(("b",), lambda: asyncio.sleep(0, page(100)))

        await asyncio.gather(cache.get(("a",), slow_make), other_request())

    asyncio.run(racing())
    assert fetch(cache, ("a",), page(100))  # made again: the first one was stale


def test_errors_are_not_kept() -> None:
    cache = ResponseCache(FakeReader(), max_bytes=1_000_000)  # type: ignore[arg-type]
    fetch(cache, ("404",), page(10, status=404))
    assert cache.held_bytes == 0


def test_a_hit_is_the_stored_response_header_for_header() -> None:
    reader = FakeReader()
    cache = ResponseCache(reader, max_bytes=1_000_000)  # type: ignore[arg-type]
    made: list[Response] = []

    async def make() -> Response:
        made.append(JsonApiResponse({"data": [], "n": len(made)}, cache_control=REVALIDATE))
        return made[-1]

    first = asyncio.run(cache.get("key", make))
    hit = asyncio.run(cache.get("key", make))
    assert len(made) == 1
    assert hit.body == first.body
    assert hit.raw_headers == first.raw_headers
    assert dict(hit.headers)["vary"] == "Accept"
    assert dict(hit.headers)["cache-control"] == REVALIDATE
    reader.version = 2  # a commit somewhere
    fresh = asyncio.run(cache.get("key", make))
    assert len(made) == 2
    assert fresh.body != first.body


def test_without_a_data_version_nothing_is_kept() -> None:
    cache = ResponseCache(None, max_bytes=1_000_000)
    assert fetch(cache, ("a",), page(10))
    assert fetch(cache, ("a",), page(10))
    assert cache.held_bytes == 0
