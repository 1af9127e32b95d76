"""The migrations build exactly the schema the code declares (store/schema.py), on SQLite and
on PostgreSQL: the migrations are frozen history, so a change to the declared schema needs a
new revision, and this test says when one is missing."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cdrex.store.schema import metadata

# PostgreSQL partitions these by month; a partitioned table's primary key holds the
# partition key (migrations 0002 and 0004).
PARTITIONED = {"cdrs_in", "cdrs_out"}


def _declared_table(name: str | None, type_: str, parent_names: dict) -> bool:
    """Leave out the partitions (children of a CDR table), which the code does not declare."""
    return type_ != "table" or name in metadata.tables or name == "alembic_version"


def test_autogenerate_finds_no_differences(database) -> None:  # type: ignore[no-untyped-def]
    with database.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": _declared_table,
            },
        )
        assert compare_metadata(context, metadata) == []


def test_primary_keys_match(database) -> None:  # type: ignore[no-untyped-def]
    inspector = sa.inspect(database.engine)
    for table in metadata.sorted_tables:
        expected = [column.name for column in table.primary_key.columns]
        if not database.is_sqlite and table.name in PARTITIONED:
            expected.append("time_start")
        found = inspector.get_pk_constraint(table.name)
        assert found["constrained_columns"] == expected, table.name
        assert found["name"] == _primary_key_name(table, database.is_sqlite), table.name


def _primary_key_name(table: sa.Table, sqlite: bool) -> str | None:
    # SQLite writes AUTOINCREMENT on the column itself: no named constraint is left to find.
    if sqlite and table.dialect_options["sqlite"]["autoincrement"]:
        return None
    return table.primary_key.name


def test_indexes_match(database) -> None:  # type: ignore[no-untyped-def]
    inspector = sa.inspect(database.engine)
    for table in metadata.sorted_tables:
        expected = {
            (index.name, tuple(column.name for column in index.columns), bool(index.unique))
            for index in table.indexes
        }
        found = {
            (index["name"], tuple(index["column_names"]), bool(index["unique"]))
            for index in inspector.get_indexes(table.name)
            # PostgreSQL lists a unique constraint's index among the indexes too.
            if not index.get("duplicates_constraint")
        }
        assert found == expected, table.name
