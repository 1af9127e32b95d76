"""The PostgreSQL benchmarks' data: 5,000,000 CDRs of 100 accounts over 3 months, and helpers.

The CDRs come from cdrex's own generator (``generate_inbound``, 50,000 calls per account,
one seed per account), inserted with ``insert_cdrs``. A live switch feed inserts all
accounts' calls as they end, so the heap it builds is in time order with every account
interleaved. The benchmark reproduces that: the generated rows are dumped once, ordered
by call start, to ``bench/.work/postgres/cdrs-5m.copy.gz`` (binary COPY, gzipped), and each
database is loaded from that file in that order.

- ``cdrex_bench_5m``: the schema of ``cdrex migrate``, loaded from the file, nothing
  else: a time-ordered heap (ids in time order too, as a feed assigns them).
  Its monthly partitions (cdrex.store.partitions) are created before the load.
- ``cdrex_bench_5m_clustered``: a copy of it (``CREATE DATABASE ... TEMPLATE``) on which
  cdrex's own maintenance (``maintain_partitions``, as ``cdrex migrate`` and the sweeper
  run it) then clusters the closed months by (account_id, time_start, id); without
  partitions, ``CLUSTER cdrs_in USING`` the export index.

Both are reused while they hold the rows of the same file under the newest schema
revision; a new migration makes them be reloaded from the file (about 3 minutes), which
is only regenerated when missing (about 5 minutes). "Now" for the data is the time the
file was generated: the closed months are the ones before that month.

No account has 1,000,000 calls in a month, so the clustered database also holds
``bench.one_account``: 1,000,000 of the last full month's calls, spread over the month,
as one account's, stored and indexed as a clustered partition stores an account (see
``_one_account``).
The export of every row (5,000,000) goes through the ``bench.all_accounts`` view, which
presents every account's calls as account 0. The pipeline's selection is an account and
a time range; its table is pointed at these by the child process (_pg_child.py).

Set BENCH_PG_URL to use another server (default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from isal import igzip

from _common import WORK
from cdrex.cdrs.generate import batches, generate_inbound
from cdrex.cdrs.records import INBOUND_FIELDS
from cdrex.exports.formats import FileFormat
from cdrex.exports.model import CdrSelection
from cdrex.exports.window import month_start, next_month_start, shift_month
from cdrex.pipeline import sources
from cdrex.settings import Settings
from cdrex.store.accounts import create_account
from cdrex.store.cdrs import insert_cdrs, owned_by
from cdrex.store.db import Database
from cdrex.store.migrate import alembic_config, upgrade

try:
    from cdrex.store import partitions
except ImportError:  # before the CDR table was partitioned: one plain table
    partitions = None  # type: ignore[assignment]

SERVER = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
DATA = WORK / "postgres"
SOURCE = DATA / "cdrs-5m.copy.gz"  # binary COPY of every row, in call-start order
SOURCE_INFO = DATA / "cdrs-5m.json"
HEAP, CLUSTERED = "cdrex_bench_5m", "cdrex_bench_5m_clustered"
ROWS, ACCOUNTS, MONTHS = 5_000_000, 100, 3
ALL_ACCOUNTS, ALL_ACCOUNTS_ID = "bench.all_accounts", 0  # the view of the 5M export
ONE_ACCOUNT, ONE_ACCOUNT_ID, ONE_ACCOUNT_ROWS = "bench.one_account", 0, 1_000_000
COLUMNS = ("account_id", *(field.name for field in INBOUND_FIELDS))
MADE_BY_US = ("cdrex_bench_",)  # the only databases these benchmarks create or drop


def url(database: str) -> str:
    return f"{SERVER}/{database}"


def connect(database: str, autocommit: bool = True) -> psycopg.Connection:
    """A plain psycopg connection, in the session time zone cdrex's engine sets (UTC)."""
    return psycopg.connect(url(database), autocommit=autocommit, options="-c timezone=UTC")


@contextlib.contextmanager
def _admin() -> Iterator[psycopg.Connection]:
    with connect("postgres") as conn:
        yield conn


def database_exists(name: str) -> bool:
    with _admin() as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def drop_database(name: str) -> None:
    if not name.startswith(MADE_BY_US):
        raise ValueError(f"refusing to drop {name}: not a benchmark database")
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_database(name: str, template: str | None = None) -> None:
    """A new, empty database (or a copy of ``template``), replacing one of ours."""
    drop_database(name)
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def migrated(name: str) -> Database:
    """The database as ``cdrex migrate`` leaves it (created if missing)."""
    if not database_exists(name):
        create_database(name)
    db = Database(url(name))
    upgrade(db)
    return db


def schema_head(db: Database) -> str:
    """The newest migration: data loaded under an older one is reloaded."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(db)).get_current_head() or ""


# --- the data set ---------------------------------------------------------------------


@dataclass(frozen=True)
class DataSet:
    generated_at: datetime  # "now" for the generator
    rows: int
    accounts: int

    @property
    def closed_month(self) -> CdrSelection:
        """The last full month: the one before the month of generation."""
        year, month = shift_month(self.generated_at.year, self.generated_at.month, -1)
        return CdrSelection(month_start(year, month), next_month_start(year, month))

    @property
    def everything(self) -> CdrSelection:
        """From the first month's start to the end of the month of generation."""
        now = self.generated_at
        year, month = shift_month(now.year, now.month, -(MONTHS - 1))
        return CdrSelection(month_start(year, month), next_month_start(now.year, now.month))

    def signature(self) -> str:
        return f"{self.rows} rows, {self.accounts} accounts, generated {self.generated_at}"


def account_name(number: int) -> str:
    return f"bench-{number:03d}"


def prepare(log: Callable[[str], None] = print) -> DataSet:
    """Both databases, reused when current; built (and the source file made) when not."""
    data = _source(log)
    head = schema_head(Database(url("postgres")))
    _heap(data, head, log)
    _clustered(data, head, log)
    _one_account(data, log)
    return data


def _info(database: str) -> dict[str, str]:
    """What the benchmark recorded in a database when it built it ({} if nothing)."""
    if not database_exists(database):
        return {}
    with connect(database) as conn:
        try:
            return dict(conn.execute("SELECT key, value FROM bench.info").fetchall())
        except psycopg.errors.UndefinedTable:
            return {}


def _record(database: str, info: dict[str, str]) -> None:
    with connect(database) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        conn.execute("CREATE TABLE IF NOT EXISTS bench.info (key text PRIMARY KEY, value text)")
        for key, value in info.items():
            conn.execute(
                "INSERT INTO bench.info VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value",
                (key, value),
            )


def _source(log: Callable[[str], None]) -> DataSet:
    if SOURCE.exists() and SOURCE_INFO.exists():
        info = json.loads(SOURCE_INFO.read_text())
        return DataSet(datetime.fromisoformat(info["generated_at"]), info["rows"], info["accounts"])
    DATA.mkdir(parents=True, exist_ok=True)
    data = DataSet(datetime.now(UTC), ROWS, ACCOUNTS)
    log(
        f"generating {data.rows:,} CDRs of {data.accounts} accounts into {HEAP} "
        "(about 5 minutes, once)..."
    )
    started = time.perf_counter()
    create_database(HEAP)
    db = migrated(HEAP)
    per_account = data.rows // data.accounts
    for number in range(1, data.accounts + 1):
        account = create_account(db, account_name(number))
        calls = generate_inbound(per_account, MONTHS, data.generated_at, seed=number)
        insert_cdrs(db, owned_by(account.id, batches(calls)))
    db.dispose()
    log(f"  generated in {time.perf_counter() - started:.0f} s; dumping in call-start order")
    partial = SOURCE.with_suffix(".partial")
    with connect(HEAP) as conn, igzip.open(partial, "wb", compresslevel=1) as out:
        cursor = conn.cursor()
        select = f"SELECT {', '.join(COLUMNS)} FROM cdrs_in ORDER BY time_start, account_id, id"
        with cursor.copy(f"COPY ({select}) TO STDOUT (FORMAT binary)") as copy:
            for chunk in copy:
                out.write(chunk)
    partial.rename(SOURCE)
    SOURCE_INFO.write_text(
        json.dumps(
            {
                "generated_at": data.generated_at.isoformat(),
                "rows": data.rows,
                "accounts": data.accounts,
            }
        )
    )
    drop_database(HEAP)  # reloaded from the file, in time order, by _heap
    return data


def _heap(data: DataSet, head: str, log: Callable[[str], None]) -> None:
    wanted = {"source": data.signature(), "schema": head, "layout": "time-ordered heap"}
    if _info(HEAP).items() >= wanted.items():
        log(f"reusing {HEAP} ({data.signature()})")
        return
    log(f"loading {HEAP} from {SOURCE.name} in call-start order (about 3 minutes)...")
    started = time.perf_counter()
    create_database(HEAP)
    db = migrated(HEAP)
    for number in range(1, data.accounts + 1):
        account = create_account(db, account_name(number))
        assert account.id == number, "the file's account ids are 1..N, in creation order"
    _prepare_partitions(db, data)
    db.dispose()
    with connect(HEAP) as conn, igzip.open(SOURCE, "rb") as source:
        cursor = conn.cursor()
        with cursor.copy(f"COPY cdrs_in ({', '.join(COLUMNS)}) FROM STDIN (FORMAT binary)") as copy:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        conn.execute("VACUUM ANALYZE cdrs_in")
        fields = ", ".join(field.name for field in INBOUND_FIELDS)
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        conn.execute(
            f"CREATE VIEW {ALL_ACCOUNTS} AS SELECT id, {ALL_ACCOUNTS_ID} AS account_id,"
            f" {fields} FROM cdrs_in"
        )
    _record(HEAP, wanted)
    log(f"  loaded in {time.perf_counter() - started:.0f} s")


def _data_months(data: DataSet) -> list[tuple[int, int]]:
    now = data.generated_at
    return [shift_month(now.year, now.month, -back) for back in range(MONTHS - 1, -1, -1)]


def _prepare_partitions(db: Database, data: DataSet) -> None:
    """Where cdrex partitions the CDR table by month (cdrex.store.partitions), a partition
    for each month of the data, as ``cdrex migrate`` creates them ahead of the calls.

    Not ``maintain_partitions`` itself: at this point it would also cluster (empty) closed
    months and mark them done, and the heap must stay in time order.
    """
    if partitions is None:
        return
    with db.engine.begin() as conn:
        for month in _data_months(data):
            partitions.create_partition(conn, "cdrs_in", month)


def cluster_method() -> str:
    """How the closed months get clustered: cdrex's own maintenance when it exists."""
    if partitions is None:
        return "CLUSTER cdrs_in USING its (account_id, time_start, id) index (bench fallback)"
    return "cdrex.store.partitions.maintain_partitions (CLUSTER of each closed month)"


def _clustered(data: DataSet, head: str, log: Callable[[str], None]) -> None:
    method = cluster_method()
    wanted = {
        "source": data.signature(),
        "schema": head,
        "layout": f"closed months clustered: {method}",
    }
    if _info(CLUSTERED).items() >= wanted.items():
        log(f"reusing {CLUSTERED} ({method})")
        return
    log(f"copying {HEAP} to {CLUSTERED} and clustering its closed months ({method})...")
    started = time.perf_counter()
    create_database(CLUSTERED, template=HEAP)
    if partitions is not None:  # "now" is the data's: its earlier months are closed
        db = Database(url(CLUSTERED))
        done = partitions.maintain_partitions(db, data.generated_at, Settings())
        db.dispose()
        log(f"  clustered: {', '.join(done.clustered) or 'nothing'}")
    else:
        with connect(CLUSTERED) as conn:
            conn.execute(f"CLUSTER cdrs_in USING {export_index(conn)}")
    with connect(CLUSTERED) as conn:
        conn.execute("VACUUM ANALYZE cdrs_in")
    _record(CLUSTERED, wanted)
    log(f"  clustered in {time.perf_counter() - started:.0f} s")


def one_account_signature(data: DataSet) -> str:
    return f"{ONE_ACCOUNT_ROWS} calls spread over {data.closed_month.start:%Y-%m}"


def _one_account(data: DataSet, log: Callable[[str], None]) -> None:
    """ONE_ACCOUNT in the clustered database: 1,000,000 of the last full month's calls
    (all accounts', every 1.76th in time order, so they spread over the whole month as a
    big customer's do) as the calls of one account, account 0, stored as a clustered month
    stores an account's calls (in (account, time) order) under the same index. An export
    of its month reads like a big customer's, through the index, where the same rows
    selected across accounts need a seq scan and a sort of the whole month."""
    wanted = one_account_signature(data)
    if _info(CLUSTERED).get("one account") == wanted:
        return
    log(f"making {ONE_ACCOUNT} in {CLUSTERED}: {wanted}...")
    month = data.closed_month
    fields = ", ".join(field.name for field in INBOUND_FIELDS)
    with connect(CLUSTERED) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {ONE_ACCOUNT}")
        conn.execute(f"CREATE TABLE {ONE_ACCOUNT} (LIKE cdrs_in INCLUDING DEFAULTS)")
        conn.execute(
            f"INSERT INTO {ONE_ACCOUNT} (id, account_id, {fields}) "
            f"SELECT id, {ONE_ACCOUNT_ID}, {fields} FROM ("
            "SELECT *, row_number() OVER (ORDER BY time_start, id) AS n, "
            "count(*) OVER () AS total FROM cdrs_in WHERE time_start >= %(start)s "
            "AND time_start < %(end)s) month "
            "WHERE n * %(rows)s / total > (n - 1) * %(rows)s / total ORDER BY time_start, id",
            {"start": month.start, "end": month.end, "rows": ONE_ACCOUNT_ROWS},
        )
        conn.execute(f"CREATE INDEX ON {ONE_ACCOUNT} (account_id, time_start, id)")
        conn.execute(f"VACUUM ANALYZE {ONE_ACCOUNT}")
    _record(CLUSTERED, {"one account": wanted})


def export_index(conn: psycopg.Connection) -> str:
    """The name of cdrs_in's (account_id, time_start, id) index."""
    (name,) = conn.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'cdrs_in' "
        "AND indexdef LIKE '%(account_id, time_start, id)%'"
    ).fetchone()
    return name


def account_id(database: str, name: str) -> int:
    with connect(database) as conn:
        return conn.execute("SELECT id FROM accounts WHERE name = %s", (name,)).fetchone()[0]


def count_rows(database: str, table: str, account: int, selection: CdrSelection) -> int:
    """Counted with SQL of its own, as a check on the export's."""
    did = dict(selection.narrowing).get("did_number")
    with connect(database) as conn:
        return conn.execute(
            f"SELECT count(*) FROM {table} WHERE account_id = %s AND time_start >= %s "
            "AND time_start < %s AND (%s::text IS NULL OR did_number = %s)",
            (account, selection.start, selection.end, did, did),
        ).fetchone()[0]


def newest_rows(database: str, end: datetime, rows: int) -> CdrSelection:
    """The time range ending at ``end`` that holds the ``rows`` newest calls (all accounts;
    a few more when calls share the first second)."""
    with connect(database) as conn:
        (start,) = conn.execute(
            "SELECT time_start FROM cdrs_in WHERE time_start < %s "
            "ORDER BY time_start DESC OFFSET %s LIMIT 1",
            (end, rows - 1),
        ).fetchone()
    return CdrSelection(start.astimezone(UTC), end)


# --- the SQL cdrex's PostgreSQL source runs -------------------------------------------


def copy_statement(
    table: str, fmt: FileFormat, account: int, selection: CdrSelection
) -> tuple[str, dict]:
    """The COPY statement and parameters of ``cdrex.pipeline.sources.postgres_csv``.

    The benchmarks check that its output is byte for byte the export's (see
    export_postgres.py), so the baseline is the export's own SELECT.
    """
    return sources.postgres_copy_statement(table, fmt, account, selection)


def pages_touched(database_url: str, copy_sql: str) -> int:
    """How many 8 kB pages (table and index, shared-buffer hits and reads) the COPY's query
    touches: what the layout changes, whatever the load on the machine."""
    select = copy_sql[copy_sql.index("(") + 1 : copy_sql.rindex(") TO STDOUT")]
    with psycopg.connect(database_url, options="-c timezone=UTC") as conn:
        (plan,) = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {select}").fetchone()
    top = plan[0]["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"]


def bound_copy_statement(
    database_url: str, table: str, fmt: FileFormat, account: int, selection: CdrSelection
) -> str:
    """``copy_statement`` with its parameters bound as psycopg binds them for a COPY
    (client-side, as literals), for processes that should not import cdrex's SQL code."""
    sql, params = copy_statement(table, fmt, account, selection)
    with psycopg.connect(database_url, options="-c timezone=UTC") as conn:
        return psycopg.ClientCursor(conn).mogrify(sql, params)
