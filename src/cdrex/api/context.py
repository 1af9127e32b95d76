"""What every handler needs: the database, the files, the settings, the worker doorbell."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from cdrex.api.errors import ApiError
from cdrex.pipeline.file_store import FileStore
from cdrex.settings import Settings
from cdrex.store.accounts import Account, account_for_key
from cdrex.store.db import Database, write_deadline
from cdrex.store.reader import SqliteReader, sqlite_reader

P = ParamSpec("P")
T = TypeVar("T")
# Threads for writes, apart from the threadpool's 40: writes waiting for SQLite's write lock
# never hold the threads downloads (and, on PostgreSQL, reads) need. SQLite takes one
# write at a time anyway; more waiting would only queue longer.
WRITE_THREADS = 16


class ResponseCache:
    """Successful read-only responses (body and headers), reused while the database is
    unchanged.

    A list page of 50 exports costs milliseconds to query and render, a check of the data
    version a few microseconds. Any commit, by any connection in any process (an export
    created, claimed or finished, a sweep), changes the version and so retires every entry
    at once: what is served is always what a fresh query would give. The version is read
    before the response is made, so a commit racing with the query retires the entry
    early, never late. Without a data version (PostgreSQL) nothing is cached.

    The entries' bytes (keys and bodies: a list key holds its query string, and the
    page's links repeat it) are held under ``max_bytes``, the oldest going first.
    """

    def __init__(self, reader: SqliteReader | None, max_bytes: int) -> None:
        self._reader = reader
        self._max_bytes = max_bytes
        self._version: int | None = None  # the data version every entry was made at
        # body, headers (Content-Length included), counted size
        self._entries: dict[Hashable, tuple[bytes, list[tuple[bytes, bytes]], int]] = {}
        self._bytes = 0

    @property
    def held_bytes(self) -> int:
        """What the entries are counted as: keys' strings, bodies and headers, plus
        ENTRY_OVERHEAD each."""
        return self._bytes

    async def get(self, key: Hashable, make: Callable[[], Awaitable[Response]]) -> Response:
        """The response for ``key``: the stored one if still current, else ``make()``'s.

        ``key`` must hold everything the response depends on besides the database.
        """
        version = self._reader.data_version() if self._reader else None
        if version != self._version:
            self._entries.clear()
            self._bytes, self._version = 0, version
        entry = self._entries.get(key)
        if entry is not None:
            return _stored(entry[0], entry[1])
        response = await make()
        # Another request may have seen a newer version meanwhile: then this one is stale.
        if version is not None and version == self._version and response.status_code == 200:
            self._store(key, bytes(response.body), list(response.raw_headers))
        return response

    def _store(self, key: Hashable, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        size = ENTRY_OVERHEAD + len(body) + _key_bytes(key)
        size += sum(len(name) + len(value) for name, value in headers)
        if size > self._max_bytes:
            return
        if (made_meanwhile := self._entries.pop(key, None)) is not None:  # by a twin request
            self._bytes -= made_meanwhile[2]
        while self._bytes + size > self._max_bytes:
            oldest = next(iter(self._entries))
            self._bytes -= self._entries.pop(oldest)[2]
        self._entries[key] = (body, headers, size)
        self._bytes += size


# What an entry costs besides its strings: the dict slot, the tuples, the objects' headers.
ENTRY_OVERHEAD = 400


def _key_bytes(key: Hashable) -> int:
    parts = key if isinstance(key, tuple) else (key,)
    return sum(len(part) for part in parts if isinstance(part, str | bytes))


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
    _writers: CapacityLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.reader = sqlite_reader(self.db)
        self.responses = ResponseCache(self.reader, self.settings.response_cache_bytes)
        self._writers = CapacityLimiter(WRITE_THREADS)

    async def run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking work (file storage) off the event loop."""
        return await run_in_threadpool(function, *args, **kwargs)

    async def write(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store call that writes, on a write thread.

        The request waits one write wait at most, for a thread and the write lock together:
        a write still waiting then fails as the database being unavailable (503 with
        Retry-After). Queued writes get threads in order and each has an earlier
        deadline than the next, so none waits much past its own.
        """
        deadline = time.monotonic() + self.settings.write_wait_seconds

        def call() -> T:
            with write_deadline(deadline):
                return function(*args, **kwargs)

        return await anyio.to_thread.run_sync(call, limiter=self._writers)

    async def read(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store call that only reads: on SQLite right here, else like ``run``.

        A SQLite read in WAL mode never waits for a writer and takes a fraction of a
        millisecond: less than the hop to a worker thread and back, and under load the
        threadpool's 40 threads spent more time contending for the GIL than reading.
        Writes go through ``write``: BEGIN IMMEDIATE may wait for the write lock.
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
        key = (
            request.scope.get("scheme"),
            request.headers.get("host"),
            request.scope.get("server"),
        )
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
