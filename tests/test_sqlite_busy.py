"""A busy SQLite never freezes the API (issue 8, point 2).

Another process holding SQLite's write lock must not slow requests that only read, a
write that cannot get the lock in bounded time answers 503 with Retry-After, and an
import takes the lock only in short slices while staying all or nothing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest

from conftest import (
    Service,
    assert_error,
    create_body,
    create_export,
    month_back,
    post_export,
    wait_completed,
)

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

READ_DEADLINE = 0.5  # seconds a read may take while the lock is held (the figure)


def database_file(service: Service) -> str:
    return str(service.data_dir / "cdrex.sqlite3")


@contextmanager
def write_lock_held(service: Service) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` on the service's database from a connection of our own."""
    connection = sqlite3.connect(database_file(service), isolation_level=None, timeout=30)
    try:
        connection.execute("BEGIN IMMEDIATE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def quick(client: httpx.Client, path: str, **params: object) -> httpx.Response:
    """A GET that must answer within READ_DEADLINE."""
    started = time.monotonic()
    response = client.get(path, params=params)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert elapsed < READ_DEADLINE, (path, params, elapsed)
    return response


def test_reads_answer_at_once_and_writes_get_503_while_the_lock_is_held(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    key = service.new_account()
    service.start()
    year, month = month_back(0)
    body = create_body({"year": year, "month": month})
    with service.client(key) as client, service.client("not-a-key") as stranger:
        shown = create_export(client)["id"]
        file_url = wait_completed(client, shown)["attributes"]["url"]
        with ThreadPoolExecutor(40) as pool, write_lock_held(service):
            started = time.monotonic()

            def create() -> tuple[float, httpx.Response]:
                with service.client(key) as own:
                    response = post_export(own, body)
                return time.monotonic() - started, response

            creates = [pool.submit(create) for _ in range(40)]
            time.sleep(1.0)  # the creates are all waiting for the lock by now
            for size in range(1, 6):  # a page size of its own each: no cached answer
                listed = quick(client, "/v3/cdr_exports", **{"page[size]": size})
                assert listed.status_code == 200, listed.text
                assert_error(quick(stranger, "/v3/cdr_exports"), 401)
                assert quick(client, f"/v3/cdr_exports/{shown}").status_code == 200
                assert quick(client, file_url).status_code == 200
                time.sleep(1.0)
            held = time.monotonic() - started
            assert held < 10, "the test itself was too slow to judge the reads"
            time.sleep(10 - held)
        answered = [future.result() for future in creates]
        for elapsed, response in answered:
            # Held for 10 s, longer than a write waits: every create gave up, and in time.
            assert_error(response, 503)
            assert response.headers["Retry-After"].isdigit()
            assert elapsed < 10, elapsed
        assert post_export(client, body).status_code == 201  # the lock is free again
    assert "Traceback" not in service.log()
