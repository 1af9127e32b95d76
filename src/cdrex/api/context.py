"""What every handler needs: the database, the files, the settings, the worker doorbell."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cdrex.api.errors import ApiError
from cdrex.pipeline.sinks import FileStore
from cdrex.settings import Settings
from cdrex.store.accounts import Account, account_for_key
from cdrex.store.db import Database
from cdrex.store.reader import SqliteReader, sqlite_reader

P = ParamSpec("P")
T = TypeVar("T")


class ResponseCache:
    """Successful read-only responses (body and headers), reused while the database is
    unchanged.

    A list page of 50 exports costs milliseconds to query and render, a check of the data
    version a few microseconds. Any commit, by any connection in any process (an export
    created, claimed or finished, a sweep), changes the version and so retires every entry
    at once: what is served is always what a fresh query would give. The version is read
    before the response is made, so a commit racing with the query retires the entry
    early, never late. Without a data version (PostgreSQL) nothing is cached.
    """

    def __init__(self, reader: SqliteReader | None, size: int = 256) -> None:
        self._reader = reader
        self._size = size
        self._entries: dict[Hashable, tuple[int, bytes, list[tuple[bytes, bytes]]]] = {}

    async def get(self, key: Hashable, make: Callable[[], Awaitable[Response]]) -> Response:
        """The response for ``key``: the stored one if still current, else ``make()``'s.

        ``key`` must hold everything the response depends on besides the database.
        """
        version = self._reader.data_version() if self._reader else None
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version:
            return _stored(entry[1], entry[2])
        response = await make()
        if version is not None and response.status_code == 200:
            if len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]  # the oldest entry
            self._entries[key] = (version, bytes(response.body), list(response.raw_headers))
        return response


def _stored(body: bytes, raw_headers: list[tuple[bytes, bytes]]) -> Response:
    """A 200 with this body and exactly these headers (Content-Length included)."""
    response = Response(body)
    response.raw_headers = list(raw_headers)  # a copy: the server may add to it
    return response


@dataclass
class AppContext:
    db: Database
    files: FileStore
    settings: Settings
    export_created: Callable[[], None] = lambda: None  # wakes idle in-process workers
    reader: SqliteReader | None = field(init=False)  # None on PostgreSQL
    responses: ResponseCache = field(init=False)
    _bases: dict[tuple, str] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.reader = sqlite_reader(self.db)
        self.responses = ResponseCache(self.reader)

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking database work off the event loop."""
        return await run_in_threadpool(function, *args, **kwargs)

    async def read(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store call that only reads: on SQLite right here, else like ``run``.

        A SQLite read in WAL mode never waits for a writer and takes a fraction of a
        millisecond: less than the hop to a worker thread and back, and under load the
        threadpool's 40 threads spent more time contending for the GIL than reading.
        Writes still go through ``run``: BEGIN IMMEDIATE may wait for the write lock.
        On PostgreSQL every query is a network round trip, so reads use the threadpool.
        """
        if self.db.is_sqlite:
            return function(*args, **kwargs)
        return await run_in_threadpool(function, *args, **kwargs)

    def base_url(self, request: Request) -> str:
        """``scheme://host[:port]`` for links: the configured public URL, else the request's."""
        if self.settings.public_url:
            return self.settings.public_url
        # Building request.url parses the whole URL, a tenth of a cached list response's
        # time; the base depends only on the scheme, the Host header and the server address.
        key = (request.scope.get("scheme"), request.headers.get("host"),
               request.scope.get("server"))
        base = self._bases.get(key)
        if base is None:
            if len(self._bases) >= 64:  # Host is the client's to choose: keep this small
                self._bases.clear()
            base = self._bases[key] = f"{request.url.scheme}://{request.url.netloc}"
        return base

    async def authenticate(self, request: Request) -> Account:
        # Whitespace around a field value is not part of it (RFC 9110 §5.5); the HTTP
        # parser drops the leading but keeps the trailing.
        key = request.headers.get("api-key", "").strip(" \t")
        if not key:
            account = None
        elif self.reader is not None:
            account = self.reader.account_for_key(key)  # every request: the fastest way
        else:
            account = await self.read(account_for_key, self.db, key)
        if account is None:
            raise ApiError.one(401, "Authorization failed", title="Unauthorized")
        return account


def context_of(request: Request) -> AppContext:
    return request.app.state.context
