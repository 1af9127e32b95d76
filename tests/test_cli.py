"""The operator's CLI end to end, through real `cdrex` subprocesses: help, settings,
accounts, API keys (checked against a running server) and demo mode."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx
import pytest

from cdrex.cli import main
from conftest import (
    Service,
    assert_cli_error,
    create_account,
    month_back,
    run_sql,
    wait_completed,
)

KEY = re.compile(r"cdrex_[A-Za-z0-9_-]{40}")


def cdrex(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """The CLI with no cdrex settings in its environment but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CDREX_")}
    return subprocess.run(
        [sys.executable, "-m", "cdrex", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        timeout=120,
    )


def api_status(service: Service, key: str) -> int:
    with service.client(key) as client:
        return client.get("/v3/cdr_exports").status_code


# --- help and settings ---------------------------------------------------------------------


def command_paths(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``group``, as argument lists."""
    paths = [path]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += command_paths(command, (*path, name))
        else:
            paths.append((*path, name))
    return paths


def test_help_works_for_every_command(tmp_path: Path) -> None:
    paths = command_paths(main)
    assert ("cdrs", "import") in paths and ("serve",) in paths
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: cdrex(*p, "--help", cwd=tmp_path), paths))
    for path, result in zip(paths, results, strict=True):
        assert result.returncode == 0, (path, result.stderr)
        assert result.stdout.startswith(f"Usage: cdrex {' '.join(path)}".encode()), path
        assert result.stderr == b"", (path, result.stderr)
    top = results[0].stdout.decode()
    for name in ("accounts", "cdrs", "keys", "migrate", "serve", "--data-dir"):
        assert name in top
    assert not (tmp_path / "cdrex-data").exists(), "help must not create a data directory"
    assert cdrex("--version", cwd=tmp_path).stdout.startswith(b"cdrex, version ")


def test_data_dir_comes_from_flag_then_environment_then_default(tmp_path: Path) -> None:
    from_env, from_flag = tmp_path / "from-env", tmp_path / "from-flag"
    assert cdrex("accounts", "create", "in-default", cwd=tmp_path).returncode == 0
    in_env = cdrex("accounts", "create", "in-env", cwd=tmp_path, CDREX_DATA_DIR=str(from_env))
    assert in_env.returncode == 0, in_env.stderr
    flagged = cdrex(
        "--data-dir", str(from_flag), "accounts", "create", "in-flag",
        cwd=tmp_path, CDREX_DATA_DIR=str(from_env),
    )  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr
    for directory, name in (
        (tmp_path / "cdrex-data", "in-default"),
        (from_env, "in-env"),
        (from_flag, "in-flag"),
    ):
        assert (directory / "cdrex.sqlite3").is_file()
        listed = cdrex("--data-dir", str(directory), "accounts", "list", cwd=tmp_path)
        assert listed.stdout.decode().split() == [name]


def test_migrate_is_idempotent_and_bad_database_urls_fail_cleanly(tmp_path: Path) -> None:
    for _ in range(2):
        done = cdrex("migrate", cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, b"database is up to date\n"), done.stderr
    refused = cdrex(
        "accounts", "list", cwd=tmp_path,
        CDREX_DATABASE_URL="postgresql://someone:secret@127.0.0.1:1/nothing",
    )  # fmt: skip
    message = assert_cli_error(refused, "cannot open the database", "127.0.0.1:1")
    assert "secret" not in message
    assert_cli_error(
        cdrex("migrate", cwd=tmp_path, CDREX_DATABASE_URL="nonsense"), "not a database"
    )


# --- accounts ------------------------------------------------------------------------------


def test_accounts_create_list_and_duplicates(cli_service: Service) -> None:
    name = create_account(cli_service)
    duplicate = cli_service.cli("accounts", "create", name, check=False)
    assert_cli_error(duplicate, f"account '{name}' already exists")
    assert name in cli_service.cli("accounts", "list").stdout.decode().splitlines()
    if cli_service.database_url:  # CDREX_DATABASE_URL wins over the data directory's SQLite file
        assert not (cli_service.data_dir / "cdrex.sqlite3").exists()


@pytest.mark.parametrize("name", ["", " padded", "tab\there", "x" * 101])
def test_account_names_must_be_plain(cli_service: Service, name: str) -> None:
    assert_cli_error(cli_service.cli("accounts", "create", name, check=False), "account name")


# --- keys ----------------------------------------------------------------------------------


def test_keys_create_prints_the_key_alone_and_it_authenticates(cli_service: Service) -> None:
    created = cli_service.cli("keys", "create", "--account", create_account(cli_service))
    key = created.stdout.decode()
    assert KEY.fullmatch(key.removesuffix("\n")), created.stdout  # nothing else on stdout
    assert api_status(cli_service, key.strip()) == 200
    assert_cli_error(
        cli_service.cli("keys", "create", "--account", "no-such-account", check=False),
        "no account named 'no-such-account'",
    )


def test_keys_revoke_by_key_or_prefix(cli_service: Service) -> None:
    name = create_account(cli_service)
    first, second = (
        cli_service.cli("keys", "create", "--account", name).stdout.decode().strip()
        for _ in range(2)
    )
    listed = cli_service.cli("keys", "list", "--account", name).stdout.decode().splitlines()
    assert [line.split("\t")[0] for line in listed] == [f"{first[:12]}…", f"{second[:12]}…"]
    assert all(line.endswith("\tactive") for line in listed)

    revoked = cli_service.cli("keys", "revoke", first)
    assert revoked.stdout.decode() == f"revoked key {first[:12]}…\n"
    assert (api_status(cli_service, first), api_status(cli_service, second)) == (401, 200)
    cli_service.cli("keys", "revoke", second[:12])
    assert api_status(cli_service, second) == 401

    as_listed = listed[0].split("\t")[0]  # the first key's prefix, with its "…"
    assert_cli_error(cli_service.cli("keys", "revoke", as_listed, check=False), "already revoked")
    assert_cli_error(
        cli_service.cli("keys", "revoke", "cdrex_nosuch", check=False), "no key matches"
    )
    listed = cli_service.cli("keys", "list", "--account", name).stdout.decode().splitlines()
    assert not any(line.endswith("\tactive") for line in listed)


# --- demo mode -----------------------------------------------------------------------------


def demo_banner(service: Service) -> tuple[str, list[str]]:
    """The key the demo banner printed and its curl lines."""
    log = service.log()
    keys = re.findall(r"API key: (\S+)", log)
    assert len(keys) == 1, log
    curls = [line.strip() for line in log.splitlines() if line.strip().startswith("curl ")]
    return keys[0], curls


def calls_by_month(service: Service, table: str = "cdrs_in") -> dict[str, int]:
    rows = run_sql(
        service,
        f"SELECT substr(time_start, 1, 7), count(*) FROM {table} c JOIN accounts a"
        " ON a.id = c.account_id WHERE a.name = 'demo' GROUP BY 1",
    )
    return dict(rows)  # type: ignore[arg-type]


def run_curl(line: str) -> dict:
    done = subprocess.run(shlex.split(line), capture_output=True, timeout=30, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("backend", ["sqlite"])  # the demo is the embedded default's feature
def test_demo_mode_generates_once_and_reuses_its_data(make_service) -> None:  # type: ignore[no-untyped-def]
    demo = make_service()
    demo.start("--demo")
    key, curls = demo_banner(demo)
    assert KEY.fullmatch(key)
    assert "Generating demo calls" in demo.log()
    months, outbound = calls_by_month(demo), calls_by_month(demo, "cdrs_out")
    assert sum(months.values()) >= 100_000
    assert sum(outbound.values()) >= 10_000 and set(outbound) == set(months)
    assert set(months) == {"{}-{:02}".format(*month_back(n)) for n in range(3)}, months
    assert len(curls) == 2 and all(key in line and demo.base_url in line for line in curls)
    if shutil.which("curl"):  # the printed lines work as they are
        assert isinstance(run_curl(curls[0])["data"], list)
        created = run_curl(curls[1])["data"]
        with demo.client(key) as client:
            export = wait_completed(client, created["id"])
            csv = client.get(export["attributes"]["url"]).text
        this_month = datetime.now(UTC).strftime("%Y-%m")
        assert csv.count("\n") == months[this_month] + 1  # and the header

    demo.stop()
    demo.start("--demo")
    assert demo_banner(demo)[0] == key
    assert "Generating demo calls" not in demo.log()
    assert calls_by_month(demo) == months
    assert calls_by_month(demo, "cdrs_out") == outbound
    assert api_status(demo, key) == 200


def test_serve_refuses_a_busy_port_cleanly(cli_service: Service) -> None:
    busy = cli_service.cli("serve", "--port", str(cli_service.port), "--workers", "0", check=False)
    assert busy.returncode != 0
    assert "Traceback" not in busy.stderr.decode()
    assert (
        httpx.get(cli_service.base_url + "/", timeout=5).status_code == 404
    )  # still the first one
