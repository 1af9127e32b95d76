"""The callback queue: deliveries owed when an export finishes, claimed by senders, every
attempt kept.

A delivery is a queue row like an export: ``due_at`` says when it may be sent, and a sender
that claims it marks it ``sending`` and pushes ``due_at`` past the time the attempt can take,
which is its lease. A sender that dies mid-attempt leaves the row to be claimed again once
that time has passed. The rows ``sending`` within their lease are the account's callbacks in
flight, which the claim caps per account: one customer's hanging endpoints cannot take every
sender of the fleet. Every statement of the queue is here, each with one line saying what it
does and why it is safe with many senders at once; when to retry is cdrex.worker.retry's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from cdrex.callbacks.send import DeliveryOutcome
from cdrex.exports.model import Export, ExportStatus
from cdrex.store.backends import take_turns
from cdrex.store.db import Database
from cdrex.store.export_rows import EXPORT_COLUMNS, to_export
from cdrex.store.schema import (
    UtcDateTime,
    accounts,
    callback_attempts,
    callback_deliveries,
    exports,
)

PENDING, SENDING, DELIVERED, DROPPED = "pending", "sending", "delivered", "dropped"
_CLAIM_LOCK_KEY = 7428203  # take_turns: one claim at a time (partitions use ...202)


@dataclass(frozen=True)
class DueCallback:
    delivery_id: int
    attempts_made: int  # before this one
    event: str
    export: Export
    secret: str | None


def owe_callback(conn: sa.Connection, export_id: str, event: ExportStatus, now: datetime) -> None:
    """Owe a callback for the export's ``event``, if it asked for one. Written in the
    transaction that finishes the export: a crash cannot finish one without the other."""
    at = sa.literal(now, UtcDateTime())
    wanted = sa.select(exports.c.id, sa.literal(event.value), sa.literal(PENDING), at, at).where(
        exports.c.id == export_id, exports.c.callback_url.is_not(None)
    )
    # One pending delivery, due now, only if the export has a callback URL: INSERT ... SELECT
    # decides that in the statement, under the export's own transaction.
    conn.execute(
        callback_deliveries.insert().from_select(
            ["export_id", "event", "status", "due_at", "created_at"], wanted
        )
    )


def claim_due_callback(
    db: Database, now: datetime, lease: timedelta, per_account: int
) -> DueCallback | None:
    """Take the callback due longest ago of an account with fewer than ``per_account`` in
    flight, and hold it for ``lease``.

    The cap counts every process's senders, so it must see their claims: claims take turns
    (BEGIN IMMEDIATE on SQLite, a transaction-level advisory lock on PostgreSQL, whose next
    statement then sees every claim committed before it). A claim is two short statements,
    so taking turns costs nothing a sender would notice; without it, two claims at the same
    moment could both count the same account below its cap.
    """
    due = (
        sa.select(
            callback_deliveries.c.id,
            callback_deliveries.c.attempts,
            callback_deliveries.c.event,
            exports.c.id.label("eid"),
            accounts.c.callback_secret,
        )
        .join(exports, exports.c.id == callback_deliveries.c.export_id)
        .join(accounts, accounts.c.id == exports.c.account_id)
        .where(
            callback_deliveries.c.status.in_((PENDING, SENDING)),  # sending: lease over
            callback_deliveries.c.due_at <= now,
            exports.c.account_id.not_in(_accounts_at_cap(now, per_account)),
        )
        .order_by(callback_deliveries.c.due_at)
        .limit(1)
        .with_for_update(skip_locked=True, of=callback_deliveries)
    )
    with db.write() as conn:
        take_turns(conn, _CLAIM_LOCK_KEY)  # one claim at a time, until commit
        # The due delivery, locked, of an account below its cap (which the turn keeps true).
        row = conn.execute(due).first()
        if row is None:
            return None
        # Mark it sending with the lease as its due time, and count the attempt.
        conn.execute(
            callback_deliveries.update()
            .where(callback_deliveries.c.id == row.id)
            .values(status=SENDING, due_at=now + lease, attempts=callback_deliveries.c.attempts + 1)
        )
    with db.read() as conn:
        # The export to tell about, read after the claim commits, so the claim stays short.
        exported = conn.execute(sa.select(*EXPORT_COLUMNS).where(exports.c.id == row.eid)).first()
    if exported is None:  # deleted by the sweeper since: nothing left to tell
        return None
    return DueCallback(row.id, row.attempts, row.event, to_export(exported), row.callback_secret)


def _accounts_at_cap(now: datetime, per_account: int) -> sa.Select:
    """The accounts with ``per_account`` or more callbacks in flight."""
    in_flight, owner = callback_deliveries.alias("in_flight"), exports.alias("owner")
    return (
        sa.select(owner.c.account_id)
        .join(in_flight, in_flight.c.export_id == owner.c.id)
        .where(in_flight.c.status == SENDING, in_flight.c.due_at > now)
        .group_by(owner.c.account_id)
        .having(sa.func.count() >= per_account)
    )


def record_attempt(
    db: Database,
    delivery_id: int,
    now: datetime,
    outcome: DeliveryOutcome,
    retry_at: datetime | None,
) -> str:
    """Keep the attempt, and move the delivery on: delivered, due again at ``retry_at``, or
    dropped when there is no retry left. Returns the delivery's new status."""
    status = DELIVERED if outcome.ok else (PENDING if retry_at is not None else DROPPED)
    with db.write() as conn:
        # Every attempt is a row of its own: the delivery keeps only the count and the last error.
        conn.execute(
            callback_attempts.insert().values(
                delivery_id=delivery_id,
                attempted_at=now,
                status_code=outcome.status_code,
                error=outcome.error,
                elapsed_ms=outcome.elapsed_ms,
            )
        )
        # The claimer's row: written by id, as only the claimer writes it before its lease ends.
        conn.execute(
            callback_deliveries.update()
            .where(callback_deliveries.c.id == delivery_id)
            .values(
                status=status,
                due_at=retry_at or now,
                finished_at=None if status == PENDING else now,
                last_error=outcome.error,
            )
        )
    return status


@dataclass(frozen=True)
class DeliveryInfo:
    """What the operator sees of one callback owed (``cdrex callbacks list``)."""

    export_id: str
    account: str
    event: str
    status: str
    attempts: int
    created_at: datetime
    last_error: str | None


def list_deliveries(db: Database, account_id: int | None, limit: int) -> list[DeliveryInfo]:
    """The newest deliveries first, of one account or of all."""
    query = (
        sa.select(
            callback_deliveries.c.export_id,
            accounts.c.name,
            callback_deliveries.c.event,
            callback_deliveries.c.status,
            callback_deliveries.c.attempts,
            callback_deliveries.c.created_at,
            callback_deliveries.c.last_error,
        )
        .join(exports, exports.c.id == callback_deliveries.c.export_id)
        .join(accounts, accounts.c.id == exports.c.account_id)
        .order_by(callback_deliveries.c.created_at.desc(), callback_deliveries.c.id.desc())
        .limit(limit)
    )
    if account_id is not None:
        query = query.where(exports.c.account_id == account_id)
    with db.read() as conn:
        # A read: the queue's rows as they are, no lock taken.
        return [DeliveryInfo(*row) for row in conn.execute(query)]
