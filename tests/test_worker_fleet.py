"""Issue 3's worker fleet: separate `cdrex worker` processes on one PostgreSQL database,
the API alone in `cdrex serve --workers 0`, all real processes.

- four worker processes and 200 exports created at once by several clients: each export
  is built exactly once (attempts == 1), with the rows a query over cdrs_in finds;
- `kill -9` of the worker building a large export: another worker takes it over when the
  lease runs out, and the file served is whole;
- SIGTERM to a worker in the middle of an export: it exits 0 within seconds, the export is
  given back (the attempt not counted) or finished, and it ends Completed once;
- an export created while the worker is idle starts within one second, though it polls
  only every 60 s: it is woken by LISTEN/NOTIFY.

Each test has a database of its own; the two that need a large export get copies of one
database generated once for the module (CREATE DATABASE ... TEMPLATE).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from conftest import (
    FAST_WORKERS,
    POSTGRES_URL,
    Service,
    _admin_connection,
    create_body,
    create_export,
    month_back,
    post_export,
    wait_completed,
)

pytestmark = pytest.mark.postgres

HEADER = "Date/Time (UTC),Source,DID,Destination,Duration (secs)"
LARGE_ROWS = 200_000  # one month of one account: a build of about a second here
LARGE_ACCOUNT = "large"


# --- Processes -----------------------------------------------------------------------------


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the name, in parentheses, may hold spaces


def _is_descendant(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        parent = _parent_pid(pid)
        if parent is None:
            return False
        pid = parent
    return False


def _descendants(ancestor: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        pid = int(entry.name) if entry.name.isdigit() else 0
        if pid and pid != ancestor and _is_descendant(pid, ancestor):
            found.append(pid)
    return found


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class WorkerProcess:
    """One `cdrex worker` process (with its children, at --concurrency > 1), its output in a
    log file in the service's data directory."""

    def __init__(self, service: Service, name: str, *args: str, **env: str) -> None:
        self.name = name
        self.log_path = service.data_dir / f"worker-{name}.log"
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cdrex", "worker", *args],
            env={**service.env, **env},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def owns(self, pid: int) -> bool:
        """The process is this worker or one of its children."""
        return _is_descendant(pid, self.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, as an operator or a service manager stops it; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                for pid in [*_descendants(self.pid), self.pid]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()


# --- A deployment: the API process, worker processes and the database ----------------------


@dataclass
class Cluster:
    service: Service  # its process is the API alone: `cdrex serve --workers 0`
    workers: list[WorkerProcess] = field(default_factory=list)
    _db: psycopg.Connection | None = None

    def worker(self, name: str, *args: str, **env: str) -> WorkerProcess:
        worker = WorkerProcess(self.service, name, *args, **env)
        self.workers.append(worker)
        return worker

    def sql(self, query: str, **params: object) -> list[dict[str, Any]]:
        """A query on the service's database, on one connection kept for the test (a new
        one when the server restarted under it)."""
        for retry in (False, True):
            if self._db is None or self._db.closed or retry:
                if self._db is not None:
                    self._db.close()
                assert self.service.database_url
                self._db = psycopg.connect(
                    self.service.database_url, autocommit=True, row_factory=dict_row
                )
            try:
                return self._db.execute(query, params).fetchall()  # type: ignore[arg-type]
            except psycopg.OperationalError:
                if retry:
                    raise
        raise AssertionError("unreachable")

    def export_row(self, export_id: str) -> dict[str, Any]:
        return self.sql("SELECT * FROM exports WHERE id = %(id)s", id=export_id)[0]

    def worker_logs(self) -> str:
        return "\n".join(f"--- worker {w.name} ---\n{w.log()}" for w in self.workers)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self.service.stop()
        if self._db is not None:
            self._db.close()


@pytest.fixture
def make_cluster(
    postgres_database_factory: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Cluster]]:
    """Builds clusters (unstarted): a new database unless given one; stops them all."""
    clusters: list[Cluster] = []

    def make(database_url: str | None = None, **env: str) -> Cluster:
        url = database_url or postgres_database_factory()
        cluster = Cluster(Service(tmp_path_factory.mktemp("fleet"), url, {**FAST_WORKERS, **env}))
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.close()


@dataclass(frozen=True)
class LargeDatabase:
    copy: Callable[[], str]  # a new database with the large account's calls in it
    key: str  # the large account's API key (the same in every copy)
    # The month the calls are in: the month the fixture ran in, which a test that runs
    # minutes later, past a month's end, no longer calls the current one.
    month: dict[str, int]


@pytest.fixture(scope="module")
def large_database(
    postgres_database_factory: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LargeDatabase]:
    """LARGE_ROWS calls of the current month in one account, generated once; each test
    gets a copy of its own (a file copy on the server: seconds faster than generating)."""
    template_url = postgres_database_factory()
    template = template_url.rsplit("/", 1)[1]
    service = Service(tmp_path_factory.mktemp("large"), template_url)
    [(_, key)] = add_accounts(template_url, LARGE_ACCOUNT)
    until = datetime.now(UTC)
    service.cli(
        "cdrs", "generate", "--account", LARGE_ACCOUNT, "--rows", str(LARGE_ROWS), "--months", "1",
        "--until", until.strftime("%Y-%m-%d %H:%M:%S"),
    )  # fmt: skip
    copies: list[str] = []

    def copy() -> str:
        name = f"cdrex_test_{uuid.uuid4().hex[:12]}"
        for attempt in range(10):  # autovacuum may still be analysing the template
            try:
                with _admin_connection() as admin:
                    admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 9:
                    raise
                time.sleep(1)
        copies.append(name)
        return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name

    yield LargeDatabase(copy, key, {"year": until.year, "month": until.month})
    with _admin_connection() as admin:
        for name in copies:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def add_accounts(url: str, *names: str) -> list[tuple[str, str]]:
    """Accounts with an API key each, as (name, key), made in this process on a migrated
    database: the CLI's way (tested in test_cli.py) costs two process starts per account."""
    from cdrex.store import accounts as account_store
    from cdrex.store.db import Database
    from cdrex.store.migrate import upgrade

    db = Database(url)
    try:
        upgrade(db)
        made = []
        for name in names:
            account = account_store.create_account(db, name)
            made.append((name, account_store.create_api_key(db, account)))
        return made
    finally:
        db.dispose()


# --- Checks --------------------------------------------------------------------------------


def wait_for(
    predicate: Callable[[], Any], timeout: float, interval: float = 0.01, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if value := predicate():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def owner_pid(lease_owner: str) -> int:
    """The pid in a lease owner, "host:pid:random"."""
    host, pid, suffix = lease_owner.rsplit(":", 2)
    assert host and suffix, lease_owner
    return int(pid)


def month_bounds(months_ago: int) -> tuple[datetime, datetime]:
    year, month = month_back(months_ago)
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


_SELECTION = (
    "FROM cdrs_in WHERE account_id = (SELECT id FROM accounts WHERE name = %(account)s) "
    "AND time_start >= %(start)s AND time_start < %(end)s "
    "AND (%(did)s::text IS NULL OR did_number = %(did)s::text)"
)


def calls_by_export(
    cluster: Cluster, specs: dict[str, tuple[str, str, int, str | None]]
) -> dict[str, list[tuple[str, str, str]]]:
    """(time, DID, duration) of every call each export must hold, in the file's order
    (newest first, ties in insertion order), from a query of cdrs_in per distinct filter."""
    selections: dict[tuple[str, int, str | None], list[tuple[str, str, str]]] = {}
    for name, _, months_ago, did in specs.values():
        if (name, months_ago, did) not in selections:
            start, end = month_bounds(months_ago)
            calls = cluster.sql(
                "SELECT to_char(time_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS t, "
                f"did_number, duration::text AS d {_SELECTION} ORDER BY time_start DESC, id",
                account=name,
                start=start,
                end=end,
                did=did,
            )
            selections[name, months_ago, did] = [
                (call["t"], call["did_number"], call["d"]) for call in calls
            ]
    return {
        export_id: selections[name, months_ago, did]
        for export_id, (name, _, months_ago, did) in specs.items()
    }


def expected_totals(
    cluster: Cluster, account: str, start: datetime, end: datetime
) -> tuple[int, int]:
    """(calls, total duration) of the account's period: for exports too large to compare
    call by call."""
    row = cluster.sql(
        f"SELECT count(*) AS n, coalesce(sum(duration), 0) AS seconds {_SELECTION}",
        account=account,
        start=start,
        end=end,
        did=None,
    )[0]
    return row["n"], row["seconds"]


def read_csv(body: bytes) -> list[list[str]]:
    """The data records of a whole export file: header first, every record complete."""
    assert body.endswith(b"\n"), body[-200:]
    records = list(csv.reader(io.StringIO(body.decode(), newline="")))
    header, rows = records[0], records[1:]
    assert ",".join(header).startswith(HEADER), header
    broken = [row for row in rows if len(row) != len(header)]
    assert not broken, broken[:3]
    return rows


def download(client: httpx.Client, export_id: str, key: str | None = None) -> bytes:
    headers = {"Api-Key": key} if key else {}
    shown = client.get(f"/v3/cdr_exports/{export_id}", headers=headers)
    assert shown.status_code == 200, shown.text
    attributes = shown.json()["data"]["attributes"]
    assert attributes["status"] == "Completed", attributes
    response = client.get(attributes["url"], headers=headers)
    assert response.status_code == 200, response.text[:500]
    return response.content


def assert_whole_export(
    cluster: Cluster, client: httpx.Client, export_id: str, account: str
) -> dict[str, Any]:
    """The file of a (large) export is complete: it matches its row, and the count and total
    duration of the calls a query of cdrs_in finds in its period."""
    row = cluster.export_row(export_id)
    assert row["status"] == "completed", row
    body = download(client, export_id)
    assert hashlib.sha256(body).hexdigest() == row["sha256"]
    assert len(body) == row["byte_size"]
    records = read_csv(body)
    calls, seconds = expected_totals(cluster, account, row["period_start"], row["period_end"])
    assert len(records) == body.count(b"\n") - 1 == row["row_count"] == calls
    assert sum(int(record[4]) for record in records) == seconds
    return row


def building(cluster: Cluster, export_id: str) -> dict[str, Any] | None:
    """The export's row once a worker is writing its file, else None."""
    row = cluster.export_row(export_id)
    assert row["status"] in ("pending", "processing"), row
    partial = cluster.service.data_dir / "exports" / "partial"
    if row["status"] == "processing" and partial.is_dir() and any(partial.iterdir()):
        return row
    return None


def which_worker(cluster: Cluster, pid: int) -> WorkerProcess:
    owners = [worker for worker in cluster.workers if worker.owns(pid)]
    assert len(owners) == 1, (pid, [w.pid for w in cluster.workers])
    return owners[0]


class Phases:
    """How long each part of a test took (printed: a slow run says where its time went)."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.times: list[str] = []

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.times.append(f"{name} {now - self.last:.1f} s")
        self.last = now

    def __str__(self) -> str:
        return ", ".join(self.times)


# --- Tests ---------------------------------------------------------------------------------

EXPORTS = 200
CLIENTS = 8


def test_four_worker_processes_build_200_concurrent_exports_once_each(make_cluster) -> None:  # type: ignore[no-untyped-def]
    cluster = make_cluster()
    service = cluster.service
    phases = Phases()
    assert service.database_url
    accounts = add_accounts(service.database_url, *(f"fleet-{n}" for n in range(3)))
    with ThreadPoolExecutor(3) as pool:  # the processes start while the calls are generated
        generating = [
            pool.submit(
                service.cli,
                "cdrs",
                "generate",
                "--account",
                name,
                "--rows",
                "6000",
                "--months",
                "3",
                "--seed",
                str(n),
            )
            for n, (name, _) in enumerate(accounts, 1)
        ]
        service.start("--workers", "0")
        workers = [cluster.worker(str(n), "--concurrency", "1") for n in range(4)]
        for done in generating:
            done.result()
    dids = {
        name: [
            row["did_number"]
            for row in cluster.sql(
                "SELECT DISTINCT did_number FROM cdrs_in JOIN accounts ON accounts.id = account_id "
                "WHERE name = %(name)s ORDER BY 1",
                name=name,
            )
        ]
        for name, _ in accounts
    }
    # The 200 exports: three accounts, the three exportable months, the whole month or one
    # DID, some with a DID of another account or of no one (empty files).
    specs: list[tuple[str, str, int, str | None]] = []  # (account, key, months ago, DID)
    for n in range(EXPORTS):
        name, key = accounts[n % 3]
        months_ago = (n // 3) % 3
        if n % 4 == 0:
            did = None
        elif n % 25 == 7:
            did = "999000111222"
        elif n % 25 == 13:
            did = dids[accounts[(n + 1) % 3][0]][0]
        else:
            did = dids[name][n % len(dids[name])]
        specs.append((name, key, months_ago, did))

    phases.done("accounts, calls, processes")

    created: dict[str, tuple[str, str, int, str | None]] = {}
    lock = threading.Lock()
    start_together = threading.Barrier(CLIENTS)

    def client_run(mine: list[tuple[str, str, int, str | None]]) -> None:
        with service.client(None) as client:
            start_together.wait()
            for spec in mine:
                _name, key, months_ago, did = spec
                year, month = month_back(months_ago)
                filters: dict[str, object] = {"year": year, "month": month}
                if did:
                    filters["did_number"] = did
                response = post_export(client, create_body(filters), **{"Api-Key": key})
                assert response.status_code == 201, response.text
                data = response.json()["data"]
                assert data["attributes"]["status"] == "Pending", data
                with lock:
                    created[data["id"]] = spec

    began = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for done in [pool.submit(client_run, specs[n::CLIENTS]) for n in range(CLIENTS)]:
            done.result()
    assert len(created) == EXPORTS
    phases.done("200 created")

    # Wait for all of them, noting which processes hold leases on the way.
    holders: set[int] = set()

    def all_completed() -> bool:
        rows = cluster.sql("SELECT status, lease_owner FROM exports")
        assert not [row for row in rows if row["status"] == "failed"], cluster.worker_logs()
        holders.update(owner_pid(row["lease_owner"]) for row in rows if row["lease_owner"])
        return sum(row["status"] == "completed" for row in rows) == EXPORTS

    wait_for(all_completed, timeout=90, interval=0.02, what="200 completed exports")
    elapsed = time.monotonic() - began
    phases.done("all completed")

    rows = {row["id"]: row for row in cluster.sql("SELECT * FROM exports")}
    assert set(rows) == set(created)
    built_twice = {id_: row["attempts"] for id_, row in rows.items() if row["attempts"] != 1}
    assert not built_twice, built_twice
    assert all(row["lease_owner"] is None for row in rows.values())
    # The work was shared, and only our worker processes held leases.
    assert len(holders) >= 2, holders
    for pid in holders:
        which_worker(cluster, pid)

    # Every file: served whole, exactly the calls the query finds, each made once.
    files = service.data_dir / "exports"
    assert sorted(p.name for p in files.glob("*.csv")) == sorted(
        row["file_name"] + ".csv" for row in rows.values()
    )
    assert not list((files / "partial").iterdir())

    expected = calls_by_export(cluster, created)
    local = threading.local()
    clients: list[httpx.Client] = []

    def check(export_id: str) -> int:
        row = rows[export_id]
        if not hasattr(local, "client"):
            local.client = service.client(None)
            clients.append(local.client)
        body = download(local.client, export_id, created[export_id][1])
        assert hashlib.sha256(body).hexdigest() == row["sha256"], export_id
        assert len(body) == row["byte_size"]
        records = read_csv(body)
        assert len(records) == row["row_count"] == body.count(b"\n") - 1
        calls = [(record[0], record[2], record[4]) for record in records]
        assert calls == expected[export_id], (export_id, created[export_id])
        return len(records)

    try:
        with ThreadPoolExecutor(4) as pool:
            counts = list(pool.map(check, created))
    finally:
        for client in clients:
            client.close()
    assert 0 in counts and min(count for count in counts if count) > 100, counts
    phases.done("files checked")

    # Idle workers stop at once on SIGTERM, with exit code 0 and no error on the way.
    for worker in workers:
        worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.process.wait(10) == 0, worker.log()
        assert "Traceback" not in worker.log(), worker.log()
    phases.done("stopped")
    print(
        f"200 exports by 4 worker processes in {elapsed:.1f} s; lease holders seen: "
        f"{holders}; {phases}"
    )


def test_kill_9_mid_export_another_worker_completes_it_whole(  # type: ignore[no-untyped-def]
    make_cluster, large_database: LargeDatabase
) -> None:
    cluster = make_cluster(large_database.copy(), CDREX_LEASE_SECONDS="3")
    cluster.service.start("--workers", "0")
    first, second = (cluster.worker(n, "--concurrency", "1") for n in ("first", "second"))
    with cluster.service.client(large_database.key) as client:
        export_id = create_export(client, **large_database.month)["id"]
        row = wait_for(lambda: building(cluster, export_id), timeout=30, what="the build")
        victim_owner = row["lease_owner"]
        victim = which_worker(cluster, owner_pid(victim_owner))
        assert owner_pid(victim_owner) == victim.pid  # --concurrency 1: the process itself
        survivor = second if victim is first else first
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        assert victim.process.wait(10) == -signal.SIGKILL
        # The kill came in the middle of the build: nothing finished, no file published.
        row = cluster.export_row(export_id)
        assert (row["status"], row["lease_owner"], row["attempts"]) == (
            "processing",
            victim_owner,
            1,
        ), row
        lease_ran_out = row["lease_expires_at"]
        assert not (cluster.service.data_dir / "exports" / f"{row['file_name']}.csv").exists()
        unserved = client.get(f"/v3/cdr_exports/{export_id}").json()["data"]["attributes"]
        assert unserved["status"] == "Processing" and unserved["url"] is None, unserved

        owners: list[str] = []

        def completed() -> bool:
            row = cluster.export_row(export_id)
            if row["lease_owner"] and row["lease_owner"] not in owners:
                owners.append(row["lease_owner"])
            assert row["status"] in ("processing", "completed"), row
            return row["status"] == "completed"

        wait_for(completed, timeout=60, interval=0.01, what="the takeover")
        took = time.monotonic() - killed_at
        # Taken over by the other worker, once the dead one's lease ran out.
        assert owners[0] == victim_owner and len(owners) == 2, owners
        assert owner_pid(owners[1]) == survivor.pid, (owners, survivor.pid)
        row = assert_whole_export(cluster, client, export_id, LARGE_ACCOUNT)
        assert row["row_count"] > LARGE_ROWS * 0.9, row
        assert row["started_at"] >= lease_ran_out, row  # not taken while the lease ran
        assert row["attempts"] == 2, row
    assert survivor.process.poll() is None, survivor.log()
    assert "Traceback" not in survivor.log(), survivor.log()
    print(f"kill -9 to completed by the other worker: {took:.1f} s")


def test_sigterm_mid_export_gives_it_back_and_exits_0(  # type: ignore[no-untyped-def]
    make_cluster, large_database: LargeDatabase
) -> None:
    cluster = make_cluster(large_database.copy(), CDREX_LEASE_SECONDS="30")
    cluster.service.start("--workers", "0")
    # A process of two workers builds the export; SIGTERM goes to that process, as a service
    # manager sends it, and it passes it on to its workers. Another process takes over.
    holder = cluster.worker("holder", "--concurrency", "2")
    with cluster.service.client(large_database.key) as client:
        export_id = create_export(client, **large_database.month)["id"]
        row = wait_for(lambda: building(cluster, export_id), timeout=30, what="the build")
        holder_owner = row["lease_owner"]
        assert which_worker(cluster, owner_pid(holder_owner)) is holder
        assert owner_pid(holder_owner) != holder.pid  # one of its child processes
        holder_pids = [holder.pid, *_descendants(holder.pid)]
        other = cluster.worker("other", "--concurrency", "1")

        states: list[tuple[str, int, str | None]] = []

        def note() -> dict[str, Any]:
            row = cluster.export_row(export_id)
            state = (row["status"], row["attempts"], row["lease_owner"])
            if not states or states[-1] != state:
                states.append(state)
            return row

        holder.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        while holder.process.poll() is None:
            note()
            assert time.monotonic() - signalled < 10, ("no exit after SIGTERM", holder.log())
            time.sleep(0.01)
        stopped_in = time.monotonic() - signalled
        assert holder.process.returncode == 0, holder.log()
        # Its children (workers, multiprocessing's resource tracker) are gone too.
        wait_for(
            lambda: not [pid for pid in holder_pids if pid_alive(pid)],
            timeout=3,
            what="the stopped worker's children to exit",
        )

        wait_for(lambda: note()["status"] == "completed", timeout=30, what="completion")
        # The attempt of the stopped worker was given back (or it finished the export): it
        # was claimed at most once more, by the other worker, and never failed.
        assert all(status in ("processing", "pending", "completed") for status, _, _ in states), (
            states
        )
        assert all(attempts <= 1 for _, attempts, _ in states), states
        given_back = any(status == "pending" for status, _, _ in states) or any(
            owner and owner != holder_owner for _, _, owner in states
        )
        if given_back:
            takers = {
                owner
                for status, _, owner in states
                if status == "processing" and owner != holder_owner
            }
            assert len(takers) == 1, states
            assert other.owns(owner_pid(takers.pop())), states
        row = assert_whole_export(cluster, client, export_id, LARGE_ACCOUNT)
        assert row["row_count"] > LARGE_ROWS * 0.9, row
        assert row["attempts"] == 1, row
    assert not list((cluster.service.data_dir / "exports" / "partial").iterdir())
    assert "Traceback" not in holder.log(), holder.log()
    print(
        f"SIGTERM: exited 0 in {stopped_in:.2f} s; export "
        f"{'given back and completed by the other worker' if given_back else 'finished'}; "
        f"states {states}"
    )


def test_idle_worker_starts_a_new_export_within_a_second(make_cluster) -> None:  # type: ignore[no-untyped-def]
    # The idle worker polls only once a minute here: anything faster is the NOTIFY.
    cluster = make_cluster(CDREX_POLL_SECONDS="60")
    service = cluster.service
    phases = Phases()
    assert service.database_url
    [(_, key)] = add_accounts(service.database_url, "wake")  # no calls: instant builds
    service.start("--workers", "0")
    worker = cluster.worker("idle", "--concurrency", "1")
    phases.done("set-up")
    latencies: list[float] = []
    with service.client(key) as client:
        warm_up = create_export(client)
        wait_completed(client, warm_up["id"], timeout=30)
        phases.done("warm-up")
        for _ in range(3):
            time.sleep(0.5)  # the worker is idle, waiting for a notification
            posted = time.monotonic()
            export_id = create_export(client)["id"]
            wait_for(
                lambda export_id=export_id: cluster.export_row(export_id)["started_at"],
                timeout=10,
                interval=0.005,
                what="the start",
            )
            latencies.append(time.monotonic() - posted)
            row = cluster.export_row(export_id)
            assert row["started_at"] - row["created_at"] < timedelta(seconds=1), row
            wait_completed(client, export_id, timeout=10)
            assert cluster.export_row(export_id)["attempts"] == 1
    phases.done("measured")
    assert max(latencies) < 1.0, latencies
    assert worker.stop(timeout=10) == 0, worker.log()
    assert "Traceback" not in worker.log(), worker.log()
    phases.done("stopped")
    print(
        "created -> started, seen from the client: "
        + ", ".join(f"{latency * 1000:.0f} ms" for latency in latencies)
        + f"; {phases}"
    )
