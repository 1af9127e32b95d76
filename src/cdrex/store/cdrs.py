"""CDR rows: bulk insert (the import path) and counting."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from cdrex.cdrs.records import INBOUND_FIELDS
from cdrex.store.db import Database
from cdrex.store.schema import cdrs_in

INBOUND_NAMES = ("account_id", *(field.name for field in INBOUND_FIELDS))


def insert_inbound(db: Database, account_id: int, batches: Iterable[list[tuple]]) -> int:
    """Insert batches of parsed records in one transaction: all of them or, on error, none."""
    total = 0
    insert = cdrs_in.insert()
    with db.write() as conn:
        for batch in batches:
            conn.execute(insert, [dict(zip(INBOUND_NAMES, (account_id, *row), strict=True)) for row in batch])
            total += len(batch)
    return total


def count_inbound(db: Database, account_id: int) -> int:
    query = sa.select(sa.func.count()).where(cdrs_in.c.account_id == account_id)
    with db.read() as conn:
        return conn.execute(query).scalar_one()
