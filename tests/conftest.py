"""Fixtures: a `cdrex serve` server over HTTP, on SQLite or on a throwaway PostgreSQL
database, plus the operator's CLI pointed at the same data.

The server runs in the test process (uvicorn on a thread, on a real socket, with the same
protocol, app and worker threads `cdrex serve` builds) unless the test module needs a real
process to kill, signal or measure (REAL_PROCESS_MODULES, or the ``real_process`` marker).
CLI commands that only touch the database run in process too (click's runner, one at a
time); `serve`, `worker` and the rest run as subprocesses. PostgreSQL databases are copies
of one template migrated once per session (per xdist worker).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest

from sdk_env import SdkEnvs

JSONAPI = "application/vnd.api+json"
# DIDWW's samples and OpenAPI excerpt, kept in the repository (tests/samples/README.md).
SAMPLES = Path(__file__).resolve().parent / "samples"
POSTGRES_URL = os.environ.get(
    "CDREX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _admin_connection():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)


def postgres_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        with _admin_connection() as conn:
            conn.execute("SELECT 1")
    except Exception as error:
        return f"no PostgreSQL at {POSTGRES_URL}: {error}"
    return None


def _database_url(name: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


def _migrated_template() -> str:
    """A database migrated to the newest schema, to copy (CREATE DATABASE ... TEMPLATE):
    a copy takes a fraction of the time Alembic takes to migrate an empty one. Nobody
    connects to it after the migration, which a copy requires."""
    from cdrex.store.db import Database
    from cdrex.store.migrate import upgrade

    name = f"cdrex_tpl_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(_database_url(name))
    try:
        upgrade(db)
    finally:
        db.dispose()
    return name


@pytest.fixture(scope="session")
def postgres_database_factory() -> Iterator:
    """Creates throwaway databases, migrated (dropped at the end of the session)."""
    reason = postgres_available()
    if reason and os.environ.get("CDREX_REQUIRE_POSTGRES"):
        pytest.fail(reason)  # CI sets this: a silent skip there would hide real failures
    if reason:
        pytest.skip(reason)
    created: list[str] = []
    template: list[str] = []  # made on first use: one per session (per xdist worker)
    lock = threading.Lock()  # tests make databases from several threads at once

    def create() -> str:
        name = f"cdrex_test_{uuid.uuid4().hex[:12]}"
        with lock:
            if not template:
                template.append(_migrated_template())
            # One copy at a time: PostgreSQL refuses a template that another copy is reading.
            with _admin_connection() as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template[0]}"')
            created.append(name)
        return _database_url(name)

    yield create
    with _admin_connection() as conn:
        for name in created + template:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Modules whose servers must be processes of their own: they kill or signal them
# (SIGKILL, SIGTERM), restart them, read their /proc entry, run several side by side as a
# fleet, or time them under load where the test process's own threads would compete.
REAL_PROCESS_MODULES = {
    "test_http_limits",  # the server's memory, from /proc/<pid>
    "test_postgres_restart",  # restarts
    "test_s3",  # SIGKILL mid-upload
    "test_sqlite_busy",  # SIGKILL, and timing of the write lock between processes
    "test_worker_crash",  # SIGKILL
    "test_worker_faults",  # SIGTERM and exit codes
    "test_worker_fleet",  # several processes, SIGKILL and SIGTERM
}
# CLI command groups that run in the test process: they open the database, do their work
# and return. `serve`, `worker` (and --help, --version...) stay subprocesses.
IN_PROCESS_COMMANDS = {
    *("accounts", "keys", "operator-keys", "cdrs", "callbacks", "migrate", "dids", "trunks"),
}
# One in-process command at a time: click's runner swaps os.environ and sys.std*.
_ENVIRON_LOCK = threading.RLock()
LOG_FORMAT = "%(levelname)s:     %(name)s %(message)s"  # what `cdrex serve` logs


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    """os.environ is exactly ``env`` inside (under _ENVIRON_LOCK)."""
    with _ENVIRON_LOCK:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _cli_in_process(env: dict[str, str], args: tuple[str, ...], input: bytes | None):  # type: ignore[no-untyped-def]
    """`cdrex ARGS` run by click's runner, as a CompletedProcess. An exception the CLI did
    not handle puts its traceback on stderr, as the interpreter would."""
    from click.testing import CliRunner

    import cdrex.cli as cli_module

    opened: list[Any] = []
    open_database = cli_module.open_database

    def open_and_remember(settings):  # type: ignore[no-untyped-def]
        db = open_database(settings)
        opened.append(db)
        return db

    with (
        _environ(env),
        mock.patch.object(cli_module, "open_database", open_and_remember),
    ):
        result = CliRunner().invoke(cli_module.main, list(args), input=input, prog_name="cdrex")
    for db in opened:  # a process would have closed its connections on exit
        db.dispose()
    stderr = result.stderr_bytes or b""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception)).encode()
    return subprocess.CompletedProcess(
        ["cdrex", *args], result.exit_code, result.stdout_bytes, stderr
    )


class _LogFile(logging.FileHandler):
    """A server's log in its data directory, as `cdrex serve` would write it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8", delay=False)
        self.setFormatter(logging.Formatter(LOG_FORMAT))


_LOGGERS = ("cdrex", "uvicorn", "uvicorn.error", "uvicorn.access")
_live_logs: list[_LogFile] = []
_thread_hook = threading.excepthook


def _log_thread_crash(args: threading.ExceptHookArgs) -> None:
    """An exception that ends a thread goes to stderr, which is the log of a server
    process: in process, into the running servers' logs as well."""
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    for handler in list(_live_logs):
        handler.stream.write(f"Exception in thread {args.thread and args.thread.name}:\n{text}")
        handler.flush()
    _thread_hook(args)


threading.excepthook = _log_thread_crash


class InProcessServer:
    """What `cdrex serve --workers N` runs, on a thread of the test process."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int) -> None:
        import uvicorn

        from cdrex.api.app import create_app
        from cdrex.api.context import AppContext
        from cdrex.api.protocol import BoundedHttpToolsProtocol
        from cdrex.cli import open_database
        from cdrex.pipeline.file_store import open_file_store
        from cdrex.settings import Settings
        from cdrex.worker.threads import WorkerThreads

        self.log = _LogFile(log_path)
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self.log)
            if logger.level == logging.NOTSET or logger.level > logging.INFO:
                logger.setLevel(logging.INFO)
        _live_logs.append(self.log)
        with _environ(env):
            settings = Settings.from_env()
        self.db = open_database(settings)
        files = open_file_store(settings)
        self.threads = WorkerThreads(self.db, files, settings, workers)
        self.threads.start()
        app = create_app(AppContext(self.db, files, settings, export_created=self.threads.notify))
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))  # no race for a free port with other workers
        self.port = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,  # the handlers above; uvicorn's dictConfig is process-wide
            proxy_headers=False,
            http=BoundedHttpToolsProtocol,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        self.thread.start()
        # The socket only listens once uvicorn has started: a request sent before that is
        # refused (a cold start on a loaded machine lost this race).
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {log_path.read_text()}")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.threads.shutdown()
        self.db.dispose()
        self.socket.close()
        _live_logs.remove(self.log)
        for name in _LOGGERS:
            logging.getLogger(name).removeHandler(self.log)
        self.log.close()


@dataclass
class Service:
    """A data directory and database, the CLI on them, and a server when started: in the
    test process unless ``real_process`` (or the start arguments need a process)."""

    data_dir: Path
    database_url: str | None
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    port: int = 0
    real_process: bool | None = None  # None: as the running test's module needs
    server: InProcessServer | None = None
    _log_name: str = ""
    _db: Any = None
    _db_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, "CDREX_DATA_DIR": str(self.data_dir), **self.extra_env}
        env.pop("CDREX_DATABASE_URL", None)
        if self.database_url:
            env["CDREX_DATABASE_URL"] = self.database_url
        return env

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(
        self, *args: str, input: bytes | None = None, check: bool = True, process: bool = False
    ):  # type: ignore[no-untyped-def]
        """`cdrex ARGS`; in process for IN_PROCESS_COMMANDS unless ``process``."""
        # Reading stdin ("-"): a process, whose stdin click names <stdin> in its messages.
        in_process = not (process or ALL_REAL_PROCESSES) and "-" not in args
        if in_process and args and args[0] in IN_PROCESS_COMMANDS:
            result = _cli_in_process(self.env, args, input)
        else:
            result = subprocess.run(
                [sys.executable, "-m", "cdrex", *args],
                env=self.env,
                input=input,
                capture_output=True,
                timeout=300,
            )
        if check and result.returncode != 0:
            raise AssertionError(f"cdrex {' '.join(args)} failed: {result.stderr.decode()}")
        return result

    def database(self):  # type: ignore[no-untyped-def]
        """The service's database, migrated, opened once in the test process."""
        with self._db_lock:
            if self._db is None:
                from cdrex.cli import open_database
                from cdrex.settings import Settings

                with _environ(self.env):
                    self._db = open_database(Settings.from_env())
            return self._db

    def new_account(self, name: str | None = None) -> str:
        """Create an account and return a fresh API key for it (through the store: the
        CLI's `accounts create` and `keys create` have tests of their own)."""
        from cdrex.store import accounts

        name = name or f"acct-{uuid.uuid4().hex[:8]}"
        db = self.database()
        accounts.create_account(db, name)
        return accounts.create_api_key(db, accounts.find_account(db, name))

    def start(self, *args: str) -> None:
        workers = _in_process_workers(args)
        real = _needs_real_process() if self.real_process is None else self.real_process
        if not real and workers is not None:
            self.server = InProcessServer(
                self.env, self.data_dir / "server-in-process.log", workers
            )
            self.port = self.server.port
            self._log_name = "server-in-process.log"
            return
        self.port = free_port()
        self._log_name = f"server-{self.port}.log"
        log = open(self.data_dir / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cdrex", "serve", "--port", str(self.port), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log()}")
            try:
                httpx.get(self.base_url + "/", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"server did not start: {self.log()}")

    def log(self) -> str:
        return (self.data_dir / self._log_name).read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.server is not None:
            assert sig == signal.SIGTERM, "signals need a real process (REAL_PROCESS_MODULES)"
            self.server.stop()
            self.server = None
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        if self._db is not None:
            self._db.dispose()
            self._db = None

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Accept": JSONAPI}
        if key is not None:
            headers["Api-Key"] = key
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


FAST_WORKERS = {"CDREX_POLL_SECONDS": "0.2", "CDREX_LEASE_SECONDS": "3"}


def _in_process_workers(args: tuple[str, ...]) -> int | None:
    """The worker count of `serve ARGS` when a server in process can run it, else None."""
    if not args:
        return 2  # serve's default
    if len(args) == 2 and args[0] == "--workers" and args[1].isdigit():
        return int(args[1])
    return None  # --demo, --host...: the real command


_current_item: list[pytest.Item] = []  # the test running now (its fixtures start servers)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _current_item[:] = [item]
    try:
        return (yield)
    finally:
        _current_item.clear()


# tests/at_date.sh sets it: under libfaketime, servers on threads of the test process
# crashed (a segfault in uvloop's thread), processes of their own do not.
ALL_REAL_PROCESSES = os.environ.get("CDREX_TEST_REAL_PROCESSES") == "1"


def _needs_real_process() -> bool:
    """Whether the running test's module (or the test) must have servers of their own."""
    if not _current_item or ALL_REAL_PROCESSES:
        return True
    item = _current_item[0]
    module = item.module.__name__.rsplit(".", 1)[-1] if item.module else ""  # type: ignore[attr-defined]
    return module in REAL_PROCESS_MODULES or item.get_closest_marker("real_process") is not None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _service_factory(
    request: pytest.FixtureRequest, backend: str, new_data_dir: Callable[[], Path]
) -> Iterator[Callable[..., Service]]:
    """Builds (unstarted) services on ``backend``, each with its own data directory and
    database; stops them all at the end."""
    services: list[Service] = []

    def make(**extra_env: str) -> Service:
        url = None
        if backend == "postgres":
            url = request.getfixturevalue("postgres_database_factory")()
        service = Service(new_data_dir(), url, {**FAST_WORKERS, **extra_env})
        services.append(service)
        return service

    yield make
    for service in services:
        service.close()


@pytest.fixture
def make_service(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, backend: str
) -> Iterator:
    """Builds services on the test's backend; every service gets its own database."""
    yield from _service_factory(request, backend, lambda: tmp_path_factory.mktemp("data"))


@pytest.fixture
def service(make_service) -> Iterator[Service]:  # type: ignore[no-untyped-def]
    """A running server with two in-process workers."""
    svc = make_service()
    svc.start()
    yield svc


@pytest.fixture
def database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator:
    """A migrated cdrex database on the test's backend, used in-process."""
    from cdrex.store.db import Database
    from cdrex.store.migrate import upgrade

    if backend == "postgres":
        url = request.getfixturevalue("postgres_database_factory")()
    else:
        url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    db = Database(url)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def sdk_envs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkEnvs]:
    """DIDWW's Python SDKs from PyPI, one venv per version, made once per session (see
    sdk_env.py); a failed install fails the tests that need it."""
    envs = SdkEnvs(tmp_path_factory.mktemp("sdk"))
    yield envs
    envs.close()


# --- Shared by the API suites (test_api_*.py, test_download.py) -----------------------------
# One server per backend for the whole session: those tests each work in accounts of their
# own, so they can share it, and the suites stay fast.

ERROR_MEMBERS = ("status", "code", "title", "detail")


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def new_api_service(
    api_backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator:
    """Builds (unstarted) services on ``api_backend``; all are stopped at the end."""
    yield from _service_factory(
        request, api_backend, lambda: tmp_path_factory.mktemp(f"api-{api_backend}")
    )


@pytest.fixture(scope="session")
def api_service(new_api_service) -> Service:  # type: ignore[no-untyped-def]
    """The running server the API suites share (two in-process workers)."""
    service = new_api_service()
    service.start()
    return service


def new_accounts(service: Service, count: int) -> list[tuple[str, str]]:
    """``count`` new accounts as (name, API key), made in parallel: two CLI runs each make
    accounts the slowest part of the API suites."""
    from concurrent.futures import ThreadPoolExecutor

    names = [f"acct-{uuid.uuid4().hex[:8]}" for _ in range(count)]
    with ThreadPoolExecutor(count) as pool:
        return list(zip(names, pool.map(service.new_account, names), strict=True))


def assert_error(
    response: httpx.Response,
    status: int,
    *,
    code: str | None = None,
    pointer: str | None = None,
    parameter: str | None = None,
) -> dict:
    """The response is a JSON:API error document with this status, with DIDWW's headers for
    errors; returns errors[0]."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSONAPI
    assert response.headers["vary"] == "Accept"
    assert response.headers["cache-control"] == "no-cache"
    document = response.json()
    assert list(document) == ["errors"], document
    assert document["errors"], document
    for error in document["errors"]:
        for member in ERROR_MEMBERS:
            assert isinstance(error[member], str) and error[member], (member, error)
        assert error["status"] == str(status)
    first = document["errors"][0]
    if code is not None:
        assert first["code"] == code, first
    if pointer is not None:
        assert first["source"] == {"pointer": pointer}, first
    if parameter is not None:
        # A query parameter is named in meta: DIDWW's error schema wants a pointer in every
        # source (README, compatibility).
        assert "source" not in first, first
        assert first["meta"] == {"parameter": parameter}, first
    return first


def create_body(filters: object, type_: str = "cdr_exports") -> dict:
    return {"data": {"type": type_, "attributes": {"filters": filters}}}


def post_export(client: httpx.Client, body: object, **headers: str) -> httpx.Response:
    """POST a create document (any JSON value) as application/vnd.api+json."""
    import json

    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/v3/cdr_exports", content=content, headers={"Content-Type": JSONAPI, **headers}
    )


def month_back(months: int) -> tuple[int, int]:
    """(year, month) of the current UTC month minus ``months``."""
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 - months
    return index // 12, index % 12 + 1


def create_export(client: httpx.Client, months_back: int = 0, **filters: object) -> dict:
    """Create an export of a month in the window; returns its resource object."""
    year, month = month_back(months_back)
    response = post_export(client, create_body({"year": year, "month": month, **filters}))
    assert response.status_code == 201, response.text
    return response.json()["data"]


def wait_completed(client: httpx.Client, export_id: str, timeout: float = 30) -> dict:
    """Poll the export until it is Completed; returns its resource object."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v3/cdr_exports/{export_id}")
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        if data["attributes"]["status"] == "Completed":
            return data
        assert data["attributes"]["status"] in ("Pending", "Processing"), data
        assert time.monotonic() < deadline, f"export {export_id} not completed: {data}"
        time.sleep(0.05)


def durations(service: Service, account: str, table: str = "cdrs_in") -> list[int]:
    """The durations of the account's stored CDRs, in order: what an import stored, read
    with plain SQL (unpublished rows of a running SQLite import included)."""
    rows = run_sql(
        service,
        f"SELECT c.duration FROM {table} c JOIN accounts a ON a.id = c.account_id"
        " WHERE a.name = :name ORDER BY c.duration",
        name=account,
    )
    return [row[0] for row in rows]


def run_sql(service: Service, sql: str, **params: object) -> list:
    """Run SQL on the service's database directly (to see or set what the API cannot)."""
    import sqlalchemy as sa

    url = service.database_url or f"sqlite:///{service.data_dir / 'cdrex.sqlite3'}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


def send_without(
    client: httpx.Client, method: str, url: str, drop: tuple[str, ...], **kwargs: object
) -> httpx.Response:
    """A request without the named headers (the client's Accept, say: SDK downloads send
    none, which httpx cannot express with per-request headers)."""
    request = client.build_request(method, url, **kwargs)  # type: ignore[arg-type]
    for name in drop:
        del request.headers[name]
    return client.send(request)


# --- Shared by the CLI suites (test_cli*.py, test_import*.py) -------------------------------


@pytest.fixture(scope="module")
def cli_service(new_api_service) -> Service:  # type: ignore[no-untyped-def]
    """A running server of the test module's own, on each backend; the CLI works beside it
    on the same database."""
    service = new_api_service()
    service.start()
    return service


def create_account(service: Service, prefix: str = "cli") -> str:
    """A new account, made with the CLI; returns its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    done = service.cli("accounts", "create", name)
    assert done.stdout == f"created account {name}\n".encode(), done.stdout
    return name


def assert_cli_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """The CLI failed the clean way: exit code 1, nothing on stdout, no traceback, and a last
    stderr line `Error: ...` naming every fragment. Returns that line."""
    stderr = result.stderr.decode()
    assert result.returncode == 1, (result.returncode, stderr)
    assert "Traceback" not in stderr, stderr
    assert result.stdout == b"", result.stdout
    message = stderr.rstrip("\n").splitlines()[-1]
    assert message.startswith("Error: "), stderr
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


_UUID_ID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Test ids that do not change between collections: some parameters are fresh UUIDs,
    and pytest-xdist's workers must all collect the same ids."""
    if isinstance(val, str) and _UUID_ID.fullmatch(val):
        return "uuid" if val == val.lower() else "UUID"
    return None
