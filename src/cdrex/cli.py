"""The operator's command line: `cdrex serve | worker | migrate | accounts | keys | dids |
trunks | callbacks | cdrs`.

Results go to stdout (a new key is printed alone, so `$(cdrex keys create ...)` works);
progress bars and logs go to stderr. Operator mistakes and database failures end with one
`Error: ...` line and exit code 1, never a traceback; a refused CDREX_* setting likewise,
with exit code 2 (a usage error, as click gives for a bad flag).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import click
import sqlalchemy as sa

from cdrex.cdrs.files import BadCdrFile
from cdrex.cdrs.generate import batches
from cdrex.cdrs.input_formats import CDREX, INPUT_FORMATS, input_format
from cdrex.cdrs.mapping import BadMapping
from cdrex.cdrs.records import parse_timestamp
from cdrex.cdrs.routing import Tally
from cdrex.exports.kinds import KINDS, RESOURCES, RecordKind, Resource
from cdrex.exports.model import ExportType
from cdrex.exports.versions import VERSIONS
from cdrex.pipeline.file_store import StorageConfigError
from cdrex.pipeline.intake import take_in
from cdrex.settings import SettingError, Settings
from cdrex.store import accounts as account_store
from cdrex.store import callback_queue, ownership
from cdrex.store.accounts import AccountError
from cdrex.store.cdrs import ImportAbandoned, Imported, insert_cdrs, owned_by
from cdrex.store.db import UNAVAILABLE_ERRORS, Database

Bar = Any  # click's ProgressBar, which click does not export


class _BadSetting(click.ClickException):
    exit_code = 2


class _Commands(click.Group):
    """Turns the errors an operator can cause or meet into one clean line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingError as error:
            raise _BadSetting(str(error)) from None
        except (AccountError, StorageConfigError) as error:
            raise click.ClickException(str(error)) from None
        except sa.exc.SQLAlchemyError as error:
            raise click.ClickException(f"database error: {_first_line(error)}") from None


def _first_line(error: BaseException) -> str:
    # Driver messages run on for lines (SQL, parameters, a link to SQLAlchemy's docs).
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def open_database(settings: Settings, create_partitions: bool = True) -> Database:
    """The database, migrated to the newest schema (zero set-up on the embedded default),
    with the partitions of the kept months (``create_partitions``: all but `migrate`, which
    makes and reports them itself)."""
    from cdrex.store.migrate import upgrade  # Alembic is slow to import; --help needs none
    from cdrex.store.partitions import maintain_partitions

    try:
        db = Database(settings.resolved_database_url, settings.write_wait_seconds)
        upgrade(db)
        # Before any call is imported: a month without its partition would keep its calls
        # in the default partition for good (cdrex.store.partitions).
        if create_partitions:
            maintain_partitions(db, datetime.now(UTC), settings, create_only=True)
    except Exception as error:  # a bad URL, no server, no permission: say which and stop
        raise click.ClickException(
            f"cannot open the database {_shown_url(settings)}: {_first_line(error)}"
        ) from None
    return db


def _shown_url(settings: Settings) -> str:
    try:
        return sa.make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(CDREX_DATABASE_URL is not a database URL)"  # nor shown: it may hold a password


def _progress(label: str, length: int | None) -> Bar:
    """A progress bar on stderr; with no known length it counts instead of filling."""
    unknown = iter(lambda: None, 0)  # an iterable without a length: click then counts
    return click.progressbar(
        None if length is not None else unknown,
        length=length,
        label=label,
        file=sys.stderr,
        show_pos=length is None,
    )


@click.group(cls=_Commands)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the SQLite file and export files live [env CDREX_DATA_DIR; "
    "default ./cdrex-data]. The database is CDREX_DATABASE_URL when set.",
)
@click.version_option(package_name="cdrex")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """cdrex: DIDWW API v3 compatible CDR exports."""
    ctx.obj = Settings.from_env(data_dir=data_dir)


@main.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Create or upgrade the database schema (and, on PostgreSQL, the CDR partitions)."""
    from cdrex.store.partitions import maintain_partitions

    db = open_database(settings, create_partitions=False)
    done = maintain_partitions(db, datetime.now(UTC), settings)
    for outcome in ("created", "dropped", "clustered", "skipped", "in_default"):
        if names := getattr(done, outcome):
            click.echo(f"partitions {outcome}: {', '.join(names)}")
    click.echo("database is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(min=0),
    help="In-process export worker threads; 0 runs the API alone.",
)
@click.option(
    "--demo", is_flag=True, help="Create a demo account with calls, print its key and a curl line."
)
@click.pass_obj
def serve(settings: Settings, host: str, port: int, workers: int, demo: bool) -> None:
    """Run the HTTP API (and, by default, export workers) in this process."""
    import uvicorn

    from cdrex.api.app import create_app
    from cdrex.api.context import AppContext
    from cdrex.api.protocol import BoundedHttpToolsProtocol
    from cdrex.pipeline.file_store import open_file_store
    from cdrex.worker.processes import stop_on_signals
    from cdrex.worker.threads import WorkerThreads

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # start-up noise
    db = open_database(settings)
    if demo:
        key = _prepare_demo(db, settings)
        _print_demo_banner(key, settings.public_url or f"http://{_url_host(host)}:{port}")
    files = open_file_store(settings)
    threads = WorkerThreads(db, files, settings, workers)
    threads.start()
    # uvicorn handles SIGTERM and SIGINT while it serves, then restores the handlers it found
    # and raises the signal again: SIGTERM's default handler would kill the process there,
    # in the middle of a build. This one stops the workers as `cdrex worker` stops its own.
    stop_on_signals(threads.stop)
    app = create_app(AppContext(db, files, settings, export_created=threads.notify))
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=_uvicorn_logging(),
            proxy_headers=False,
            http=BoundedHttpToolsProtocol,
        )
    finally:
        threads.shutdown()


@main.command()
@click.option(
    "--concurrency",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (each builds one export at a time).",
)
@click.pass_obj
def worker(settings: Settings, concurrency: int) -> None:
    """Run export workers in their own processes (scale-out: run the API with --workers 0).

    Stops on SIGTERM or Ctrl-C: an export being built goes back to pending for another
    worker, without counting as an attempt.
    """
    from cdrex.worker.processes import configure_logging, run_workers

    configure_logging()
    open_database(settings).dispose()  # migrated, and a clear error if it cannot be reached
    run_workers(settings, concurrency)


def _uvicorn_logging() -> dict:
    """uvicorn's logging, with the access log on stderr too: stdout has the demo banner."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


def _prepare_demo(db: Database, settings: Settings) -> str:
    from cdrex import demo

    account = demo.demo_account(db)
    if demo.needs_calls(db, account):
        with _progress("Generating demo calls", demo.DEMO_ROWS) as bar:
            demo.add_calls(db, account, bar.update)
    return demo.demo_key(db, settings, account)


def _url_host(host: str) -> str:
    """The host to put in a URL for a server listening on ``host``."""
    if host in ("0.0.0.0", "::", ""):  # every interface: this machine answers locally
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _print_demo_banner(key: str, base: str) -> None:
    now = datetime.now(UTC)
    filters = {"year": now.year, "month": now.month}
    body = json.dumps(
        {"data": {"type": "cdr_exports", "attributes": {"filters": filters}}}, separators=(",", ":")
    )
    headers = f"-H 'Api-Key: {key}' -H 'Accept: application/vnd.api+json'"
    click.echo(
        f"\nDemo account 'demo', API key: {key}\n"
        f"List its exports:\n  curl {headers} {base}/v3/cdr_exports\n"
        f"Export this month's calls:\n  curl {headers} "
        f"-H 'Content-Type: application/vnd.api+json' -d '{body}' {base}/v3/cdr_exports\n"
    )


@main.group()
def accounts() -> None:
    """Manage customer accounts."""


@accounts.command("create")
@click.argument("name")
@click.pass_obj
def accounts_create(settings: Settings, name: str) -> None:
    """Create an account named NAME."""
    account = account_store.create_account(open_database(settings), name)
    click.echo(f"created account {account.name}")


@accounts.command("list")
@click.pass_obj
def accounts_list(settings: Settings) -> None:
    """List the accounts' names."""
    for account in account_store.list_accounts(open_database(settings)):
        click.echo(account.name)


@accounts.command("update")
@click.argument("name")
@click.option(
    "--api-version",
    type=click.Choice(list(VERSIONS)),
    help="The version its requests get without X-DIDWW-API-Version (and the oldest "
    "they may ask for).",
)
@click.option(
    "--callback-secret",
    metavar="SECRET",
    help="The secret its callbacks are signed with ('' removes it: no callbacks).",
)
@click.pass_obj
def accounts_update(
    settings: Settings, name: str, api_version: str | None, callback_secret: str | None
) -> None:
    """Change account NAME's default API version or callback secret."""
    changes = {"api_version": api_version, "callback_secret": callback_secret}
    changes = {key: value for key, value in changes.items() if value is not None}
    if not changes:
        raise click.UsageError("nothing to change: give --api-version or --callback-secret")
    if changes.get("callback_secret") == "":
        changes["callback_secret"] = None
    account = account_store.update_account(open_database(settings), name, **changes)
    click.echo(f"updated account {account.name}: API version {account.api_version}")


@accounts.command("show")
@click.argument("name")
@click.pass_obj
def accounts_show(settings: Settings, name: str) -> None:
    """Show account NAME's default API version and whether callbacks are signed."""
    db = open_database(settings)
    account = account_store.find_account(db, name)
    secret = account_store.callback_secret(db, account.id)
    click.echo(
        f"name: {account.name}\napi_version: {account.api_version}\n"
        f"callback_secret: {'set' if secret else 'not set (no callbacks are sent)'}"
    )


@main.group()
def keys() -> None:
    """Manage API keys."""


@keys.command("create")
@click.option("--account", "account_name", metavar="NAME", required=True)
@click.pass_obj
def keys_create(settings: Settings, account_name: str) -> None:
    """Create an API key; the key alone is printed, once."""
    db = open_database(settings)
    click.echo(account_store.create_api_key(db, account_store.find_account(db, account_name)))


@keys.command("list")
@click.option("--account", "account_name", metavar="NAME", help="Only this account's keys.")
@click.pass_obj
def keys_list(settings: Settings, account_name: str | None) -> None:
    """List keys by their displayed prefix: prefix, account, created, revoked (UTC)."""
    db = open_database(settings)
    account = account_store.find_account(db, account_name) if account_name else None
    for key in account_store.list_api_keys(db, account):
        click.echo(_key_line(key))


def _key_line(key: account_store.KeyInfo) -> str:
    revoked = _utc(key.revoked_at) if key.revoked_at else "active"
    whose = [] if key.account is None else [key.account]
    return "\t".join([f"{key.prefix}…", *whose, _utc(key.created_at), revoked])


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@keys.command("revoke")
@click.argument("key")
@click.pass_obj
def keys_revoke(settings: Settings, key: str) -> None:
    """Revoke KEY, given as the key itself or its displayed 12-character prefix."""
    prefix = account_store.revoke_api_key(open_database(settings), key)
    click.echo(f"revoked key {prefix}…")


@main.group("operator-keys")
def operator_keys() -> None:
    """Manage the operator API's keys (sent as Authorization: Bearer KEY)."""


@operator_keys.command("create")
@click.pass_obj
def operator_keys_create(settings: Settings) -> None:
    """Create an operator key; the key alone is printed, once."""
    click.echo(account_store.create_api_key(open_database(settings), account_store.OPERATOR))


@operator_keys.command("list")
@click.pass_obj
def operator_keys_list(settings: Settings) -> None:
    """List operator keys by their displayed prefix: prefix, created, revoked (UTC)."""
    for key in account_store.list_api_keys(open_database(settings), operators=True):
        click.echo(_key_line(key))


@operator_keys.command("revoke")
@click.argument("key")
@click.pass_obj
def operator_keys_revoke(settings: Settings, key: str) -> None:
    """Revoke operator KEY, given as the key itself or its displayed 12-character prefix."""
    prefix = account_store.revoke_api_key(open_database(settings), key, operators=True)
    click.echo(f"revoked operator key {prefix}…")


class UtcTime(click.ParamType):
    """A time as CDR files give it: with Z or an offset, or without a zone meaning UTC; a
    date alone is its midnight UTC."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = value + " 00:00:00" if len(value) == 10 else value
        try:
            return parse_timestamp(text).replace(tzinfo=UTC)
        except ValueError as error:
            self.fail(f"{value!r}: {error} (e.g. 2026-12-01, 2026-12-01 10:00:00, ...Z)")


def _ownership_commands(resource: Resource) -> click.Group:
    """`cdrex dids ...` and `cdrex trunks ...`: who owned each DID number or trunk when."""
    label = resource.label

    @main.group(f"{resource.name}s", help=f"Assign {label}s to accounts, for a time.")
    def group() -> None:
        pass

    @group.command("assign", help=f"Give {label} ID to an account from --since until --until.")
    @click.argument("identifier", metavar="ID")
    @click.option("--account", "account_name", metavar="NAME", required=True)
    @click.option("--since", type=UtcTime(), help="From this time on  [default: from the start]")
    @click.option("--until", type=UtcTime(), help="Until this time  [default: from now on]")
    @click.option("--name", help="A label shown in listings.")
    @click.pass_obj
    def assign(settings: Settings, identifier: str, account_name: str, **interval: Any) -> None:
        db = open_database(settings)
        account = account_store.find_account(db, account_name)
        assigned = ownership.assign(db, resource, identifier, account.id, **interval)
        click.echo(f"assigned {ownership.describe(assigned, label)}")

    @group.command("list", help=f"{label}s: ID, account, since, until (UTC), name.")
    @click.option("--account", "account_name", metavar="NAME", help="Only this account's.")
    @click.pass_obj
    def list_(settings: Settings, account_name: str | None) -> None:
        db = open_database(settings)
        account = account_store.find_account(db, account_name) if account_name else None
        for held in ownership.list_assignments(db, resource, account.id if account else None):
            since = _utc(held.since) if held.since else "-"
            until = _utc(held.until) if held.until else "-"
            click.echo(
                f"{held.identifier}\t{held.account_name}\t{since}\t{until}\t{held.name or ''}"
            )

    @group.command("release", help=f"End the assignment of {label} ID at --at.")
    @click.argument("identifier", metavar="ID")
    @click.option("--at", type=UtcTime(), help="At this time  [default: now]")
    @click.pass_obj
    def release(settings: Settings, identifier: str, at: datetime | None) -> None:
        db = open_database(settings)
        released = ownership.release(db, resource, identifier, at or datetime.now(UTC))
        click.echo(f"released {ownership.describe(released, label)}")

    return group


OWNERSHIP_GROUPS = [_ownership_commands(resource) for resource in RESOURCES.values()]


@main.group()
def callbacks() -> None:
    """See the callbacks exports owe."""


@callbacks.command("list")
@click.option("--account", "account_name", metavar="NAME", help="Only this account's.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.pass_obj
def callbacks_list(settings: Settings, account_name: str | None, limit: int) -> None:
    """Newest first: created (UTC), export id, account, event, status, attempts, last error."""
    db = open_database(settings)
    account = account_store.find_account(db, account_name) if account_name else None
    for delivery in callback_queue.list_deliveries(db, account.id if account else None, limit):
        click.echo(
            "\t".join(
                [
                    _utc(delivery.created_at),
                    delivery.export_id,
                    delivery.account,
                    delivery.event,
                    delivery.status,
                    str(delivery.attempts),
                    delivery.last_error or "",
                ]
            )
        )


@main.group()
def cdrs() -> None:
    """Load call detail records."""


CDR_TYPE = click.option(
    "--type",
    "export_type",
    # The values, not the members: click would take an enum's member names.
    type=click.Choice([export_type.value for export_type in KINDS]),
    default=ExportType.CDR_IN.value,
    show_default=True,
    callback=lambda _ctx, _param, value: ExportType(value),
    help=" or ".join(f"{kind.description} ({name})" for name, kind in KINDS.items()).capitalize()
    + ".",
)


# What stops an import with a message, and nothing imported: the file, a stall, the database.
IMPORT_ERRORS: tuple[type[Exception], ...] = (BadCdrFile, ImportAbandoned, *UNAVAILABLE_ERRORS)


@cdrs.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--account",
    "account_name",
    metavar="NAME",
    help="Give every CDR to this account. Without it, each goes to the account that owned "
    "its DID (inbound) or trunk (outbound) at its time_start (`cdrex dids assign`).",
)
@click.option(
    "--unrouted",
    type=click.Choice(["refuse", "skip"]),
    default="refuse",
    show_default=True,
    help="A CDR nobody owned, or older than the oldest month cdrex keeps: refuse the file, "
    "naming its line, or skip it and import the rest.",
)
@CDR_TYPE
@click.option(
    "--format",
    "format_name",
    type=click.Choice(INPUT_FORMATS),
    default=CDREX,
    show_default=True,
    help="cdrex's own (CSV with a header, or JSON Lines: docs/cdr-record.md), a switch's "
    "(docs/switches.md), or a mapping file's (--mapping).",
)
@click.option(
    "--template",
    type=click.File("r", encoding="utf-8"),
    help="freeswitch-csv: the file holding the site's mod_cdr_csv template, "
    '"${var}","${var}",... (default: the shipped example template).',
)
@click.option(
    "--timezone",
    metavar="ZONE",
    help="The zone of times written without one (an IANA name: Europe/Berlin), as a switch "
    "writes local time; default: the format's (UTC).",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="--format mapping: the TOML file naming where each field is read (docs/switches.md).",
)
@click.pass_obj
def cdrs_import(
    settings: Settings,
    file: BinaryIO,
    account_name: str | None,
    unrouted: str,
    export_type: ExportType,
    format_name: str,
    template: TextIO | None,
    timezone: str | None,
    mapping_file: Path | None,
) -> None:
    """Import CDRs from FILE (- for stdin), in cdrex's format or a switch's (--format).

    All or nothing: a file with a bad row imports nothing, and the error names its line.
    """
    try:
        source = input_format(
            format_name, timezone, template.read() if template else None, mapping_file
        )
        source.reader(KINDS[export_type])  # a mapping without these records fails here
    except BadMapping as error:
        raise click.ClickException(str(error)) from None
    db = open_database(settings)
    account = account_store.find_account(db, account_name) if account_name else None
    size = _file_size(file)
    with _progress("Importing", size) as bar:
        try:
            intake = take_in(
                db,
                settings,
                file,
                export_type,
                account.id if account else None,
                skip=unrouted == "skip",
                progress=lambda batches: _tracked(batches, bar, file, size),
                source=source,
            )
        except IMPORT_ERRORS as error:
            name = getattr(file, "name", "input")
            raise click.ClickException(
                f"{name}: {_first_line(error)}; nothing was imported"
            ) from None
    imported, tally = intake.imported, intake.tally
    into = f"account {account.name}" if account else f"{len(tally.accounts)} accounts"
    click.echo(f"imported {imported.rows} CDRs into {into}{_skipped(imported)}")
    _report_skipped(tally, KINDS[export_type])


def _report_skipped(tally: Tally, kind: RecordKind) -> None:
    if tally.unowned:
        label = kind.routed_by.label
        most = ", ".join(f"{key}: {n}" for key, n in tally.unowned.most_common(5))
        more = ", ..." if len(tally.unowned) > 5 else ""
        click.echo(f"skipped {tally.unowned.total()} CDRs nobody owned, by {label} ({most}{more})")
    if tally.too_old:
        click.echo(f"skipped {tally.too_old} CDRs older than the oldest month cdrex keeps")
    for why, count in tally.ignored.items():
        click.echo(f"ignored {count} {why}s (not stored by this import: docs/switches.md says why)")


def _skipped(imported: Imported) -> str:
    return f", skipped {imported.duplicates} already present" if imported.duplicates else ""


@cdrs.command("generate")
@click.option("--account", "account_name", metavar="NAME", required=True)
@click.option("--rows", default=10_000, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--months",
    default=3,
    show_default=True,
    type=click.IntRange(1, 120),
    help="How many months, counting the current one, the calls spread over.",
)
@click.option(
    "--seed",
    default=1,
    show_default=True,
    type=int,
    help="Same seed and --until, same calls (same seed and day, except on a month's 1st).",
)
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]),
    help="UTC time the calls end at, and whose month is the current one  [default: now]",
)
@CDR_TYPE
@click.pass_obj
def cdrs_generate(
    settings: Settings,
    account_name: str,
    rows: int,
    months: int,
    seed: int,
    until: datetime | None,
    export_type: ExportType,
) -> None:
    """Generate realistic synthetic CDRs over the last --months months, an equal share in
    each month."""
    db = open_database(settings)
    account = account_store.find_account(db, account_name)
    kind = KINDS[export_type]
    end = until.replace(tzinfo=UTC) if until else datetime.now(UTC)
    generated = kind.generate(rows, months, end, seed=seed)
    with _progress("Generating", rows) as bar:
        inserted = insert_cdrs(
            db,
            owned_by(account.id, _tracked(batches(generated), bar)),
            export_type,
            _lease(settings),
        )
    click.echo(f"generated {inserted.rows} CDRs for account {account.name}{_skipped(inserted)}")
    for note in kind.generated_notes(seed):
        click.echo(f"  {note}")


def _lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.lease_seconds)


def _file_size(file: BinaryIO) -> int | None:
    """The size of a regular file; None for a pipe or terminal, whose size is unknown."""
    try:
        return os.fstat(file.fileno()).st_size if file.seekable() else None
    except (OSError, ValueError):
        return None


def _tracked(
    batches: Iterable[list[tuple]], bar: Bar, file: BinaryIO | None = None, size: int | None = None
) -> Iterator[list[tuple]]:
    """Advance the progress bar by bytes read when the size is known, else by rows."""
    for batch in batches:
        if file is not None and size is not None:
            bar.update(file.tell() - bar.pos)
        else:
            bar.update(len(batch))
        yield batch
