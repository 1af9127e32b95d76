"""What every handler needs: the database, the files, the settings, the worker doorbell."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from cdrex.api.errors import ApiError
from cdrex.pipeline.sinks import LocalFiles
from cdrex.settings import Settings
from cdrex.store.accounts import Account, account_for_key
from cdrex.store.db import Database

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class AppContext:
    db: Database
    files: LocalFiles
    settings: Settings
    export_created: Callable[[], None] = lambda: None  # wakes idle in-process workers

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
        return self.settings.public_url or f"{request.url.scheme}://{request.url.netloc}"

    async def authenticate(self, request: Request) -> Account:
        key = request.headers.get("api-key")
        account = await self.read(account_for_key, self.db, key) if key else None
        if account is None:
            raise ApiError.one(401, "Authorization failed", title="Unauthorized")
        return account


def context_of(request: Request) -> AppContext:
    return request.app.state.context
