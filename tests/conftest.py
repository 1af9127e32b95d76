"""Fixtures: a real `cdrex serve` process over HTTP, on SQLite or on a throwaway PostgreSQL
database, plus the operator's CLI pointed at the same data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

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


@pytest.fixture(scope="session")
def postgres_database_factory() -> Iterator:
    """Creates throwaway databases (dropped at the end of the session)."""
    reason = postgres_available()
    if reason and os.environ.get("CDREX_REQUIRE_POSTGRES"):
        pytest.fail(reason)  # CI sets this: a silent skip there would hide real failures
    if reason:
        pytest.skip(reason)
    created: list[str] = []

    def create() -> str:
        name = f"cdrex_test_{uuid.uuid4().hex[:12]}"
        with _admin_connection() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name

    yield create
    with _admin_connection() as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Service:
    """A data directory and database, the CLI on them, and a server process when started."""

    data_dir: Path
    database_url: str | None
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    port: int = 0

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

    def cli(self, *args: str, input: bytes | None = None, check: bool = True):  # type: ignore[no-untyped-def]
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

    def new_account(self, name: str | None = None) -> str:
        """Create an account and return a fresh API key for it."""
        name = name or f"acct-{uuid.uuid4().hex[:8]}"
        self.cli("accounts", "create", name)
        return self.cli("keys", "create", "--account", name).stdout.decode().strip()

    def start(self, *args: str) -> None:
        self.port = free_port()
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
        return (self.data_dir / f"server-{self.port}.log").read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def client(self, key: str | None) -> httpx.Client:
        headers = {"Accept": JSONAPI}
        if key is not None:
            headers["Api-Key"] = key
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


FAST_WORKERS = {"CDREX_POLL_SECONDS": "0.2", "CDREX_LEASE_SECONDS": "3"}


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
        service.stop()


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
