"""A private PostgreSQL server that a test may stop and start at will.

The PostgreSQL server the rest of the suite uses is shared (other test sessions, other
people): it is never stopped. A test that needs the database to go away gets a server of
its own instead: ``initdb`` into a temporary directory, ``pg_ctl start``/``stop`` on a free
port, everything removed at the end. initdb refuses to run as root, so under root the
server runs as the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from conftest import free_port


def _bin_dir() -> Path | None:
    """Where initdb and pg_ctl are: CDREX_TEST_PG_BIN, PATH, or the Debian layout."""
    if configured := os.environ.get("CDREX_TEST_PG_BIN"):
        return Path(configured)
    if found := shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def _run_as() -> tuple[list[str], int | None]:
    """The command prefix that runs the server as a non-root user, and that user's uid."""
    if os.geteuid() != 0:
        return [], None
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError as error:
        raise RuntimeError("running as root and there is no postgres user") from error
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root and there is no runuser to drop to postgres")
    return [runuser, "-u", "postgres", "--"], uid


class PostgresInstance:
    """One throwaway server: ``start()``, ``stop()``, ``start()`` again, ``destroy()``."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None or not (bin_dir / "initdb").exists():
            raise RuntimeError("no initdb/pg_ctl found (set CDREX_TEST_PG_BIN)")
        self.bin_dir = bin_dir
        self.prefix, uid = _run_as()
        # Not under pytest's tmp_path: that is private to root, and the server runs as
        # postgres. A short path, too: the Unix socket lives here (107-byte limit).
        self.root = Path(tempfile.mkdtemp(prefix="cdrex-pg-", dir="/tmp" if uid else None))
        if uid is not None:
            os.chown(self.root, uid, -1)
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.port = free_port()
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            [*self.prefix, str(self.bin_dir / program), *args],
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({result.returncode}): "
                f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}"
                f"{self.log()}"
            )
        return result.stdout.decode(errors="replace")

    def start(self) -> None:
        # Durability is not under test, speed is welcome: no fsync.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.logfile),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects every client at once (what a restart does to them)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
