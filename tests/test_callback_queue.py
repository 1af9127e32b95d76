"""The callback_deliveries table as a queue, on both backends: each account's share of the
senders holds under concurrent claims, and a dead sender's claim stops counting."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from cdrex.exports.model import CallbackMethod, CdrSelection, Export, ExportType
from cdrex.store import export_queue as queue
from cdrex.store import exports as store
from cdrex.store.accounts import create_account
from cdrex.store.callback_queue import DueCallback, claim_due_callback

LEASE = timedelta(seconds=30)


def _owed(db, account_name: str, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """``count`` completed exports of a new account, each owing its callback now."""
    account = create_account(db, account_name)
    now = datetime.now(UTC)
    ids = []
    for n in range(count):
        export = Export(
            account_id=account.id,
            api_version="2026-04-16",
            export_type=ExportType.CDR_IN,
            filters={},
            selection=CdrSelection(now - timedelta(days=1), now),
            created_at=now + timedelta(microseconds=n),
            callback_url="http://hooks.example.com/",
            callback_method=CallbackMethod.POST,
        )
        store.insert_export(db, export)
        claimed = queue.claim_next_export(db, "w", now, LEASE, 3)
        assert claimed is not None
        assert queue.complete_export(db, claimed.id, "w", now, 0, 0, "0" * 64)
        ids.append(claimed.id)
    return ids


def _claim_at_once(db, senders: int, per_account: int) -> list[DueCallback]:  # type: ignore[no-untyped-def]
    """What ``senders`` threads get when they all claim at the same moment."""
    start, claimed = threading.Barrier(senders), []

    def claim() -> None:
        start.wait()
        if due := claim_due_callback(db, datetime.now(UTC), LEASE, per_account):
            claimed.append(due)

    threads = [threading.Thread(target=claim) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return claimed


def test_concurrent_claims_keep_an_account_to_its_share(database) -> None:  # type: ignore[no-untyped-def]
    busy = _owed(database, "busy", 12)
    claimed = _claim_at_once(database, 8, per_account=2)
    assert sorted(due.export.id for due in claimed) == sorted(busy[:2])  # the oldest two
    assert claim_due_callback(database, datetime.now(UTC), LEASE, 2) is None  # busy is full
    (other,) = _owed(database, "other", 1)
    due = claim_due_callback(database, datetime.now(UTC), LEASE, 2)
    assert due is not None and due.export.id == other  # busy's older ones wait


def test_a_dead_senders_claim_stops_counting_when_its_lease_ends(database) -> None:  # type: ignore[no-untyped-def]
    first, second = _owed(database, "a", 2)
    now = datetime.now(UTC)
    held = claim_due_callback(database, now, LEASE, 1)
    assert held is not None and held.export.id == first
    assert claim_due_callback(database, now, LEASE, 1) is None
    later = now + LEASE + timedelta(seconds=1)  # its sender died mid-attempt
    taken = claim_due_callback(database, later, LEASE, 1)  # the dead claim holds no share
    assert taken is not None and taken.export.id == second
    retaken = claim_due_callback(database, later, LEASE, 2)
    assert retaken is not None and retaken.export.id == first  # its lease is over
    assert retaken.attempts_made == 1
