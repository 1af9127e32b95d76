"""The operator's command line: `cdrex serve | migrate | accounts | keys | cdrs`."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import click

from cdrex.cdrs.files import BadCdrFile, read_records
from cdrex.cdrs.generate import batches, generate_inbound
from cdrex.cdrs.records import INBOUND_FIELDS
from cdrex.settings import Settings
from cdrex.store import accounts as account_store
from cdrex.store.accounts import AccountError
from cdrex.store.cdrs import insert_inbound
from cdrex.store.db import Database
from cdrex.store.migrate import upgrade


def open_database(settings: Settings) -> Database:
    """The database, migrated to the newest schema (zero set-up on the embedded default)."""
    db = Database(settings.resolved_database_url)
    upgrade(db)
    return db


@click.group()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the SQLite file and export files live [env CDREX_DATA_DIR; "
                   "default ./cdrex-data].")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """cdrex: DIDWW API v3 compatible CDR exports."""
    ctx.obj = Settings.from_env(data_dir=data_dir)


@main.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Create or upgrade the database schema."""
    open_database(settings)
    click.echo("database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0),
              help="In-process export worker threads; 0 runs the API alone.")
@click.option("--demo", is_flag=True, help="Create a demo account with calls, print its key.")
@click.pass_obj
def serve(settings: Settings, host: str, port: int, workers: int, demo: bool) -> None:
    """Run the HTTP API (and, by default, export workers) in this process."""
    import uvicorn

    from cdrex.api.app import create_app
    from cdrex.api.context import AppContext
    from cdrex.demo import prepare_demo
    from cdrex.pipeline.sinks import LocalFiles
    from cdrex.worker.threads import WorkerThreads

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    db = open_database(settings)
    if demo:
        with click.progressbar(length=0, label="Generating demo calls") as bar:
            key = prepare_demo(db, settings, _grow(bar))
        _print_demo_banner(key, settings.public_url or f"http://{host}:{port}")
    files = LocalFiles(settings.files_dir)
    threads = WorkerThreads(db, files, settings, workers)
    threads.start()
    app = create_app(AppContext(db, files, settings, export_created=threads.notify))
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
    finally:
        threads.shutdown()


def _grow(bar):  # type: ignore[no-untyped-def]
    from cdrex.demo import DEMO_ROWS

    def progress(rows: int) -> None:
        bar.length = DEMO_ROWS
        bar.update(rows)

    return progress


def _print_demo_banner(key: str, base: str) -> None:
    click.echo(
        f"\nDemo account 'demo', API key: {key}\nTry:\n  curl -H 'Api-Key: {key}' "
        f"-H 'Accept: application/vnd.api+json' {base}/v3/cdr_exports\n"
    )


@main.group()
def accounts() -> None:
    """Manage customer accounts."""


@accounts.command("create")
@click.argument("name")
@click.pass_obj
def accounts_create(settings: Settings, name: str) -> None:
    """Create an account."""
    account = _fail_on_account_error(account_store.create_account, open_database(settings), name)
    click.echo(f"created account {account.name}")


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--account", "account_name", required=True)
@click.pass_obj
def keys_create(settings: Settings, account_name: str) -> None:
    """Create an API key; the key alone is printed, once."""
    db = open_database(settings)
    account = _fail_on_account_error(account_store.find_account, db, account_name)
    click.echo(account_store.create_api_key(db, account))


@keys.command("revoke")
@click.argument("key")
@click.pass_obj
def keys_revoke(settings: Settings, key: str) -> None:
    """Revoke a key, given the key or its displayed prefix."""
    prefix = _fail_on_account_error(account_store.revoke_api_key, open_database(settings), key)
    click.echo(f"revoked key {prefix}…")


@main.group()
def cdrs() -> None:
    """Load call detail records."""


@cdrs.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--account", "account_name", required=True)
@click.pass_obj
def cdrs_import(settings: Settings, file: BinaryIO, account_name: str) -> None:
    """Import inbound CDRs from FILE (CSV with a header, or JSON Lines; - for stdin).

    All or nothing: a file with a bad row imports nothing.
    """
    db = open_database(settings)
    account = _fail_on_account_error(account_store.find_account, db, account_name)
    size = _file_size(file)
    with click.progressbar(length=size, label="Importing", file=sys.stderr) as bar:
        try:
            batches = read_records(file, INBOUND_FIELDS)
            imported = insert_inbound(db, account.id, _tracked(batches, bar, file, size))
        except BadCdrFile as error:
            raise click.ClickException(f"{getattr(file, 'name', 'input')}: {error}; "
                                       "nothing was imported") from None
    click.echo(f"imported {imported} CDRs into account {account.name}")


@cdrs.command("generate")
@click.option("--account", "account_name", required=True)
@click.option("--rows", default=10_000, show_default=True, type=click.IntRange(min=0))
@click.option("--months", default=3, show_default=True, type=click.IntRange(1, 120))
@click.option("--seed", default=1, show_default=True, type=int)
@click.pass_obj
def cdrs_generate(settings: Settings, account_name: str, rows: int, months: int,
                  seed: int) -> None:
    """Generate realistic synthetic inbound CDRs over the last MONTHS months."""
    db = open_database(settings)
    account = _fail_on_account_error(account_store.find_account, db, account_name)
    generated = generate_inbound(rows, months, datetime.now(UTC), seed=seed)
    with click.progressbar(length=rows, label="Generating", file=sys.stderr) as bar:
        inserted = insert_inbound(db, account.id, _tracked(batches(generated), bar))
    click.echo(f"generated {inserted} CDRs for account {account.name}")


def _file_size(file: BinaryIO) -> int:
    try:
        return os.fstat(file.fileno()).st_size or 0
    except (OSError, ValueError):
        return 0


def _tracked(
    batches: Iterable[list[tuple]], bar, file: BinaryIO | None = None, size: int = 0  # type: ignore[no-untyped-def]
) -> Iterator[list[tuple]]:
    """Advance the progress bar by bytes read when the size is known, else by rows."""
    for batch in batches:
        if file is not None and size and file.seekable():
            bar.update(file.tell() - bar.pos)
        else:
            bar.update(len(batch))
        yield batch


def _fail_on_account_error(function, *args):  # type: ignore[no-untyped-def]
    try:
        return function(*args)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
