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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

JSONAPI = "application/vnd.api+json"
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
    except Exception as error:  # noqa: BLE001 - any failure means: skip, with the reason
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
            [sys.executable, "-m", "cdrex", *args], env=self.env, input=input,
            capture_output=True, timeout=300,
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
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
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


@pytest.fixture
def make_service(tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> Iterator:
    """Builds services on the test's backend; every service gets its own database."""
    services: list[Service] = []

    def make(**extra_env: str) -> Service:
        url = None
        if backend == "postgres":
            url = request.getfixturevalue("postgres_database_factory")()
        data_dir = tmp_path / f"data-{len(services)}"
        data_dir.mkdir()
        service = Service(data_dir, url, {**FAST_WORKERS, **extra_env})
        services.append(service)
        return service

    yield make
    for service in services:
        service.stop()


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
