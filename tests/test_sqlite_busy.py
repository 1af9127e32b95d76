"""A busy SQLite never freezes the API (issue 8, point 2).

Another process holding SQLite's write lock must not slow requests that only read, a
write that cannot get the lock in bounded time answers 503 with Retry-After, and an
import takes the lock only in short slices while staying all or nothing.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest

from conftest import (
    Service,
    assert_cli_error,
    assert_error,
    create_account,
    create_body,
    create_export,
    month_back,
    post_export,
    run_sql,
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


# --- imports -------------------------------------------------------------------------------

LONGEST_HOLD = 1.0  # seconds an import may keep the write lock at once (the "about")
IMPORT_ROWS = 300_000  # copied in one go, these held the lock 1.5 s (idle machine) to 5 s


def calls_csv(service: Service, rows: int, last_line: str = "") -> str:
    """A CSV file of ``rows`` calls last month, spread over it (the index takes them all over
    the place, as it does a day of calls across accounts), then ``last_line``."""
    year, month = month_back(1)
    lines = ["time_start,did_number,duration"]
    for n in range(rows):
        day, second = 1 + n * 7919 % 28, n * 104729 % 86400
        lines.append(
            f"{year}-{month:02d}-{day:02d} {second // 3600:02d}:{second // 60 % 60:02d}:"
            f"{second % 60:02d},{441234500000 + n % 1000},{n % 600}"
        )
    path = service.data_dir / f"calls-{rows}.csv"
    path.write_text("\n".join(lines) + "\n" + last_line)
    return str(path)


@contextmanager
def longest_lock_wait(service: Service) -> Iterator[list[float]]:
    """Takes and releases the write lock over and over while the block runs; the list
    gets the longest wait for it (how long anyone else held it at once, about)."""
    longest = [0.0]
    done = threading.Event()

    def watch() -> None:
        connection = sqlite3.connect(database_file(service), isolation_level=None, timeout=60)
        while not done.is_set():
            started = time.monotonic()
            connection.execute("BEGIN IMMEDIATE")
            longest[0] = max(longest[0], time.monotonic() - started)
            connection.execute("COMMIT")
            done.wait(0.02)
        connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield longest
    finally:
        done.set()
        watcher.join()


def exported_rows(client: httpx.Client) -> int:
    """The rows of a fresh export of last month, where calls_csv puts its calls."""
    export = wait_completed(client, create_export(client, months_back=1)["id"], timeout=60)
    download = client.get(export["attributes"]["url"])
    assert download.status_code == 200, download.text
    return download.text.count("\n") - 1  # the header


def physical_rows(service: Service) -> tuple[int, int]:
    """CDR rows in the table, visible or not, and imports not published."""
    ((cdrs,),) = run_sql(service, "SELECT count(*) FROM cdrs_in")
    ((imports,),) = run_sql(service, "SELECT count(*) FROM cdr_imports")
    return cdrs, imports


def test_an_import_holds_the_write_lock_only_in_short_slices(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    account = create_account(service, "busy")
    path = calls_csv(service, IMPORT_ROWS)
    with longest_lock_wait(service) as longest:
        done = service.cli("cdrs", "import", path, "--account", account)
    assert done.stdout == f"imported {IMPORT_ROWS} CDRs into account {account}\n".encode()
    assert longest[0] < LONGEST_HOLD, longest
    assert physical_rows(service) == (IMPORT_ROWS, 0)


def test_an_import_failing_late_leaves_nothing(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    account = create_account(service, "busy")
    path = calls_csv(service, IMPORT_ROWS, last_line="not a time,1,1\n")
    failed = service.cli("cdrs", "import", path, "--account", account, check=False)
    assert_cli_error(failed, f"line {IMPORT_ROWS + 2}: ", "nothing was imported")
    assert physical_rows(service) == (0, 0)


def test_an_import_killed_midway_shows_nothing_and_is_cleaned_up(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()  # lease 3 s (FAST_WORKERS)
    account = create_account(service, "busy")
    key = service.cli("keys", "create", "--account", account).stdout.decode().strip()
    service.start()
    path = calls_csv(service, IMPORT_ROWS)
    importing = subprocess.Popen(
        [sys.executable, "-m", "cdrex", "cdrs", "import", path, "--account", account],
        env=service.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while physical_rows(service)[0] == 0:  # some slices are in
            assert importing.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "no rows arrived"
            time.sleep(0.02)
        importing.send_signal(signal.SIGKILL)
    finally:
        importing.wait()
    left, imports = physical_rows(service)
    assert 0 < left < IMPORT_ROWS and imports == 1, (left, imports)  # killed part way
    with service.client(key) as client:
        assert exported_rows(client) == 0
        time.sleep(3.5)  # the dead import's lease runs out: the next import discards it
        service.cli("cdrs", "import", calls_csv(service, 10), "--account", account)
        assert exported_rows(client) == 10
    assert physical_rows(service) == (10, 0)


def test_a_worker_that_cannot_finish_for_the_lock_retries_and_builds_once(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CDREX_LEASE_SECONDS="30")  # outlasts the lock: no takeover
    account = create_account(service, "busy")
    key = service.cli("keys", "create", "--account", account).stdout.decode().strip()
    service.cli("cdrs", "import", calls_csv(service, 150_000), "--account", account)
    service.start("--workers", "1")
    with service.client(key) as client:
        export_id = create_export(client, months_back=1)["id"]
        status = "SELECT status, attempts FROM exports WHERE id = :id"
        deadline = time.monotonic() + 30
        while run_sql(service, status, id=export_id)[0][0] == "pending":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with write_lock_held(service):  # while it builds: longer than a write waits
            time.sleep(8)
            # Built by now, but not finished: completing needs the lock.
            assert run_sql(service, status, id=export_id) == [("processing", 1)]
        wait_completed(client, export_id)
    assert run_sql(service, status, id=export_id) == [("completed", 1)]  # built once
    assert "Traceback" not in service.log()
