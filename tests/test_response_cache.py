"""The list endpoint's response cache, in-process: a hit is the stored response, headers
included (DIDWW's Vary and Cache-Control), and any commit retires it."""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from cdrex.api.context import ResponseCache
from cdrex.api.errors import REVALIDATE, JsonApiResponse


class FakeReader:
    """Stands in for SQLite's PRAGMA data_version."""

    version = 1

    def data_version(self) -> int:
        return self.version


def test_a_hit_is_the_stored_response_header_for_header() -> None:
    reader = FakeReader()
    cache = ResponseCache(reader)  # type: ignore[arg-type]
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
