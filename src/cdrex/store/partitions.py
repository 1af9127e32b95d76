"""Monthly partitions of the CDR tables on PostgreSQL (SQLite keeps one plain table).

A CDR table is partitioned by range of call start, one partition per UTC month, plus a
default partition that catches calls of months without one (old data, far future), so an
import never fails for want of a partition. Maintenance, run by ``cdrex migrate`` and by
every sweeper (an advisory lock lets one at a time do it):

- creates the partitions of the kept months and the coming ones ahead of need (every CLI
  command that opens the database does this step too, so calls never land in the default
  partition for want of one). A new partition is created as a plain table and then
  ATTACHed: ATTACH takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so running
  exports and imports go on. A month whose calls the default partition already holds gets
  no partition: its calls stay there, where exports find them. Moving them out is not safe
  while anything reads: a transaction whose snapshot predates the move but that plans its
  query after it prunes the default partition and cannot see the moved rows, so an export
  running at that moment came out empty;
- drops the partitions of months older than the exportable window plus
  ``cdr_retention_months`` whole, never deleting row by row;
- clusters each closed month once (``CLUSTER ... USING`` the (account, time) index): a
  month's calls arrive interleaved across accounts in time order, and one account's month
  scattered over the whole heap reads several times slower than the same rows stored
  together (bench/export_postgres.py measures it). CLUSTER blocks that month's exports
  while it rewrites the partition, so it runs once, a day after the month has ended.

DDL runs with a short lock timeout: if a long export holds a conflicting lock, the step is
skipped and retried at the next sweep rather than queueing every reader behind it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from cdrex.exports.kinds import KINDS
from cdrex.exports.window import month_start, shift_month
from cdrex.settings import Settings
from cdrex.store.db import Database

log = logging.getLogger("cdrex.partitions")

PARTITIONED_TABLES = tuple(kind.table for kind in KINDS.values() if kind.partitioned_by_month)
_LOCK_KEY = 7428202  # pg_advisory lock: one maintainer at a time
_LOCK_TIMEOUT = "2s"
_CLUSTERED = "cdrex: clustered"  # the table comment that marks a clustered partition
_CLOSE_DELAY = timedelta(days=1)  # late CDRs of a month still arrive on the next day
_MONTH_SUFFIX = re.compile(r"_p(\d{4})_(\d{2})$")

Month = tuple[int, int]


@dataclass
class Maintenance:
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    clustered: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # lock timeouts: retried next time
    in_default: list[str] = field(default_factory=list)  # months the default partition keeps


def partition_name(table: str, month: Month) -> str:
    return f"{table}_p{month[0]:04d}_{month[1]:02d}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"


def kept_months(now: datetime, settings: Settings) -> tuple[Month, Month]:
    """The first month whose partition is kept and the last one created ahead."""
    first = shift_month(
        now.year, now.month, -(settings.export_window_months + settings.cdr_retention_months)
    )
    return first, shift_month(now.year, now.month, settings.partitions_ahead_months)


def _months(first: Month, last: Month) -> list[Month]:
    months, month = [], first
    while month <= last:
        months.append(month)
        month = shift_month(*month, 1)
    return months


def _bounds(month: Month) -> tuple[str, str]:
    start, end = month_start(*month), month_start(*shift_month(*month, 1))
    return start.isoformat(), end.isoformat()


def monthly_partitions(conn: sa.Connection, table: str) -> dict[Month, tuple[str, bool]]:
    """The table's month partitions: month -> (name, clustered)."""
    rows = conn.execute(
        sa.text(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = CAST(:t AS regclass)"
        ),
        {"t": table},
    )
    found = {}
    for name, comment in rows:
        if match := _MONTH_SUFFIX.search(name):
            found[(int(match[1]), int(match[2]))] = (name, comment == _CLUSTERED)
    return found


class DefaultHoldsMonth(Exception):
    """The default partition holds calls of the month: it keeps them (see the module doc)."""


def create_partition(conn: sa.Connection, table: str, month: Month) -> str:
    """Create and attach one month's partition, unless the default holds calls of it."""
    name, default = partition_name(table, month), default_partition_name(table)
    start, end = _bounds(month)
    in_month = f"time_start >= '{start}' AND time_start < '{end}'"
    if conn.exec_driver_sql(f"SELECT 1 FROM {default} WHERE {in_month} LIMIT 1").first():
        raise DefaultHoldsMonth(name)
    conn.exec_driver_sql(
        f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    conn.exec_driver_sql(
        f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')"
    )
    return name


def maintain_partitions(
    db: Database, now: datetime, settings: Settings, create_only: bool = False
) -> Maintenance:
    """Create kept and coming months, drop expired ones, cluster closed ones (see the module
    doc); with ``create_only``, only create (cheap when they exist: one catalog query)."""
    done = Maintenance()
    if db.is_sqlite:
        return done
    with db.engine.connect() as conn:
        locked = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _LOCK_KEY})
        if not locked.scalar_one():
            conn.commit()
            return done  # another process is at it
        try:
            for table in PARTITIONED_TABLES:
                _maintain_table(conn, table, now, settings, done, create_only)
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            conn.commit()
    return done


def _maintain_table(
    conn: sa.Connection,
    table: str,
    now: datetime,
    settings: Settings,
    done: Maintenance,
    create_only: bool,
) -> None:
    first, last = kept_months(now, settings)
    existing = monthly_partitions(conn, table)
    conn.commit()
    steps = [("created", create_partition, m) for m in _months(first, last) if m not in existing]
    if not create_only:
        steps += [("dropped", _drop_partition, m) for m in existing if m < first]
        steps += [
            ("clustered", _cluster_partition, m)
            for m, (_, clustered) in existing.items()
            if not clustered and m >= first and _closed(m, now)
        ]
    for outcome, step, month in steps:
        name = partition_name(table, month)
        try:
            with conn.begin():
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'")
                step(conn, table, month)
        except sa.exc.OperationalError as error:  # lock timeout: a long export holds it
            done.skipped.append(name)
            log.warning("partitions: %s not %s, retried later: %s", name, outcome, error.orig)
        except (DefaultHoldsMonth, sa.exc.IntegrityError):  # ATTACH found one after the check
            done.in_default.append(name)
            log.warning("partitions: %s not created: the default partition holds its calls", name)
        else:
            getattr(done, outcome).append(name)
            log.info("partitions: %s %s", outcome, name)


def _drop_partition(conn: sa.Connection, table: str, month: Month) -> str:
    name = partition_name(table, month)
    conn.exec_driver_sql(f"ALTER TABLE {table} DETACH PARTITION {name}")
    conn.exec_driver_sql(f"DROP TABLE {name}")
    return name


def _cluster_partition(conn: sa.Connection, table: str, month: Month) -> str:
    name = partition_name(table, month)
    index = conn.execute(  # the partition's share of the parent's (account, time) index
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_index x ON x.indexrelid = c.oid "
            "WHERE i.inhparent = CAST(:parent AS regclass) AND x.indrelid = CAST(:t AS regclass)"
        ),
        {"parent": f"ix_{table}_account_id_time_start_id", "t": name},
    ).scalar_one()
    conn.exec_driver_sql(f"CLUSTER {name} USING {index}")
    conn.exec_driver_sql(f"COMMENT ON TABLE {name} IS '{_CLUSTERED}'")
    conn.exec_driver_sql(f"ANALYZE {name}")
    return name


def _closed(month: Month, now: datetime) -> bool:
    return now >= month_start(*shift_month(*month, 1)) + _CLOSE_DELAY
