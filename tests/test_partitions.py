"""The CDR table partitioned by month on PostgreSQL: maintenance creates months ahead,
drops expired ones whole, clusters closed ones, leaves months the default partition caught;
exports cut exactly at month boundaries; the migration keeps every row of an old table."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from cdrex.cdrs.generate import batches, generate_inbound
from cdrex.cdrs.records import INBOUND_FIELDS
from cdrex.exports.model import ExportType
from cdrex.settings import Settings
from cdrex.store.accounts import create_account
from cdrex.store.cdrs import insert_cdrs, owned_by
from cdrex.store.partitions import maintain_partitions, monthly_partitions
from cdrex.store.schema import CDR_TABLES
from conftest import create_export, month_back, run_sql, wait_completed

pytestmark = pytest.mark.postgres
postgres_only = pytest.mark.parametrize("backend", ["postgres"], indirect=True)
SETTINGS = Settings(export_window_months=2, cdr_retention_months=1, partitions_ahead_months=2)


def _where_rows_are(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT tableoid::regclass::text, count(*) FROM cdrs_in GROUP BY 1"
        )
        return dict(rows.all())


def _partitions(db) -> dict:  # type: ignore[no-untyped-def]
    with db.engine.connect() as conn:
        return monthly_partitions(conn, "cdrs_in")


def _in_both(months: Iterable[int]) -> list[str]:
    """The 2026 partitions of these months of both CDR tables, as maintenance lists them."""
    return [f"{table}_p2026_{m:02d}" for table in ("cdrs_in", "cdrs_out") for m in months]


@postgres_only
def test_maintenance_creates_ahead_drops_expired_and_clusters_closed(database) -> None:  # type: ignore[no-untyped-def]
    account = create_account(database, "a")
    june = datetime(2026, 6, 15, tzinfo=UTC)
    done = maintain_partitions(database, june, SETTINGS)
    # Kept: 2 exportable months + 1 of retention before June, 2 created ahead.
    assert done.created == _in_both(range(3, 9))
    # Calls over June and the three months before it land in their months' partitions.
    insert_cdrs(database, owned_by(account.id, batches(generate_inbound(2000, 4, june, seed=3))))
    assert sorted(_where_rows_are(database)) == [f"cdrs_in_p2026_0{m}" for m in range(3, 7)]
    assert sum(_where_rows_are(database).values()) == 2000
    # Closed months (ended over a day ago) are clustered once; June is still open.
    assert done.clustered == []  # they did not exist when the step list was made
    again = maintain_partitions(database, june, SETTINGS)
    assert again.created == [] and again.dropped == []
    assert sorted(again.clustered) == _in_both((3, 4, 5))
    assert {m: c for m, (_, c) in _partitions(database).items()}[(2026, 6)] is False
    assert maintain_partitions(database, june, SETTINGS).clustered == []  # only once

    # Two months later March and April have expired: dropped whole, with their rows.
    august = datetime(2026, 8, 2, tzinfo=UTC)
    later = maintain_partitions(database, august, SETTINGS)
    assert sorted(later.dropped) == _in_both((3, 4))
    assert later.created == _in_both((9, 10))
    assert min(_partitions(database)) == (2026, 5)


@postgres_only
def test_a_month_the_default_partition_caught_stays_there(database) -> None:  # type: ignore[no-untyped-def]
    """Moving calls out of the default partition while an export reads would hide them
    from it, so a month the default already holds gets no partition; its calls stay
    exportable, and the months around it are still created."""
    account = create_account(database, "a")
    june = datetime(2026, 6, 15, tzinfo=UTC)
    insert_cdrs(database, owned_by(account.id, batches(generate_inbound(500, 1, june, seed=4))))
    assert _where_rows_are(database) == {"cdrs_in_default": 500}  # no partitions yet

    done = maintain_partitions(database, june, SETTINGS)
    assert done.in_default == ["cdrs_in_p2026_06"]
    assert (2026, 6) not in _partitions(database) and (2026, 7) in _partitions(database)
    assert _where_rows_are(database) == {"cdrs_in_default": 500}
    # Later calls of June join them there; none is refused, none is lost.
    insert_cdrs(database, owned_by(account.id, batches(generate_inbound(20, 1, june, seed=5))))
    assert _where_rows_are(database) == {"cdrs_in_default": 520}
    assert maintain_partitions(database, june, SETTINGS).in_default == ["cdrs_in_p2026_06"]


@postgres_only
def test_the_cli_creates_partitions_before_it_imports(make_service) -> None:  # type: ignore[no-untyped-def]
    """A fresh database: the first command that opens it creates the kept months'
    partitions, so generated calls land in them, not in the default partition."""
    service = make_service()
    service.new_account("a")
    service.cli("cdrs", "generate", "--account", "a", "--rows", "300", "--months", "2")
    where = run_sql(
        service,
        "SELECT tableoid::regclass::text AS part, count(*) AS calls FROM cdrs_in GROUP BY 1",
    )
    assert where and all(row.part != "cdrs_in_default" for row in where), where
    assert sum(row.calls for row in where) == 300


@postgres_only
def test_an_unheld_advisory_lock_is_required(database) -> None:  # type: ignore[no-untyped-def]
    with database.engine.connect() as other:
        other.exec_driver_sql("SELECT pg_advisory_lock(7428202)")
        try:
            done = maintain_partitions(database, datetime(2026, 6, 1, tzinfo=UTC), SETTINGS)
        finally:
            other.exec_driver_sql("SELECT pg_advisory_unlock(7428202)")
            other.commit()
    assert done.created == []  # another maintainer holds it: nothing done twice


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_maintenance_does_nothing_on_sqlite(database) -> None:  # type: ignore[no-untyped-def]
    done = maintain_partitions(database, datetime.now(UTC), SETTINGS)
    assert (done.created, done.dropped, done.clustered) == ([], [], [])


@postgres_only
def test_migration_moves_an_existing_table_into_partitions(database) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    from cdrex.store.migrate import alembic_config, upgrade

    config = alembic_config(database)
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    account = create_account(database, "a")
    # Plain inserts of the columns 0001 has: the import of today writes later ones too.
    names = [field.name for field in INBOUND_FIELDS]
    rows = [
        {"account_id": account.id, **dict(zip(names, record, strict=True))}
        for record in generate_inbound(3000, 3, datetime.now(UTC))
    ]
    with database.engine.begin() as conn:
        conn.execute(CDR_TABLES[ExportType.CDR_IN].insert(), rows)
    with database.engine.connect() as conn:  # those of 0001: later revisions add some
        columns = ", ".join(
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'cdrs_in' "
                "ORDER BY ordinal_position"
            )
        )
    digest = (
        f"SELECT md5(string_agg(t::text, '' ORDER BY id)) FROM (SELECT {columns} FROM cdrs_in) t"
    )
    with database.engine.connect() as conn:
        before = conn.exec_driver_sql(digest).scalar_one()
    upgrade(database)
    with database.engine.connect() as conn:
        after = conn.exec_driver_sql(digest).scalar_one()
        kind = conn.exec_driver_sql("SELECT relkind FROM pg_class WHERE relname = 'cdrs_in'")
        assert kind.scalar_one() == "p"
    assert after == before  # every row, every value, every id
    assert "cdrs_in_default" not in _where_rows_are(database)
    insert_cdrs(database, owned_by(account.id, batches(generate_inbound(10, 1, datetime.now(UTC)))))
    with database.engine.connect() as conn:  # the id sequence carries on
        ids = conn.exec_driver_sql("SELECT count(DISTINCT id), count(*) FROM cdrs_in").one()
    assert ids[0] == ids[1] == 3010


@postgres_only
def test_exports_cut_exactly_at_the_month_boundary(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    key = service.new_account("edge")
    service.start("--workers", "1")  # its sweeper creates the partitions at start
    (last_year, last_month), (year, month) = month_back(1), month_back(0)
    start = datetime(year, month, 1)
    calls = [  # (call start, DID): both ends of last month and the first instant of this one
        (datetime(last_year, last_month, 1), "1000001"),
        (start - _MICROSECOND, "1000002"),
        (start, "1000003"),
    ]
    content = "time_start,did_number,duration\n" + "".join(
        f"{moment.isoformat(' ', 'microseconds')},{did},1\n" for moment, did in calls
    )
    service.cli("cdrs", "import", "-", "--account", "edge", input=content.encode())
    tables = {
        row[0] for row in run_sql(service, "SELECT DISTINCT tableoid::regclass::text FROM cdrs_in")
    }
    assert tables == {f"cdrs_in_p{last_year}_{last_month:02d}", f"cdrs_in_p{year}_{month:02d}"}
    with service.client(key) as client:
        by_month = {}
        for back in (1, 0):
            export = wait_completed(client, create_export(client, back)["id"])
            body = client.get(export["attributes"]["url"]).content
            rows = list(csv.reader(io.StringIO(body.decode())))[1:]
            by_month[back] = [(row[0], row[2]) for row in rows]
            assert (
                hashlib.sha256(body).hexdigest()
                == run_sql(service, "SELECT sha256 FROM exports WHERE id = :id", id=export["id"])[
                    0
                ][0]
            )
    last_day = (start - _MICROSECOND).strftime("%Y-%m-%d")
    assert by_month[1] == [
        (f"{last_day} 23:59:59", "1000002"),
        (f"{last_year}-{last_month:02d}-01 00:00:00", "1000001"),
    ]
    assert by_month[0] == [(f"{year}-{month:02d}-01 00:00:00", "1000003")]


_MICROSECOND = timedelta(microseconds=1)
