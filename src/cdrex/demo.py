"""Demo mode: an account `demo` with a key and three months of realistic calls, inbound
and outbound.

A second run on the same data directory reuses all of it: the same key, no new calls.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from cdrex.cdrs.generate import batches
from cdrex.exports.kinds import KINDS
from cdrex.settings import Settings
from cdrex.store import accounts as account_store
from cdrex.store.accounts import Account, AccountError, account_for_key
from cdrex.store.cdrs import count_cdrs, insert_cdrs, owned_by
from cdrex.store.db import Database

DEMO_ACCOUNT = "demo"
DEMO_ROWS = sum(kind.demo_rows for kind in KINDS.values())
DEMO_MONTHS = 3  # the current month and the two before it: what the API lets one export
DEMO_SEED = 2017
KEY_FILE = "demo-api-key.txt"


def demo_account(db: Database) -> Account:
    """The demo account, created on the first run."""
    try:
        return account_store.find_account(db, DEMO_ACCOUNT)
    except AccountError:
        return account_store.create_account(db, DEMO_ACCOUNT)


def needs_calls(db: Database, account: Account) -> bool:
    """Whether the demo is not set up yet: the first kind's calls, added last, mark it."""
    return count_cdrs(db, account.id, next(iter(KINDS))) == 0


def add_calls(db: Database, account: Account, progress: Callable[[int], object]) -> int:
    """Generate the demo calls, reporting each batch's size: a transaction per kind, the
    first kind last (its calls mark the demo as set up), none for a kind that has calls
    (an earlier run stopped between two)."""
    now = datetime.now(UTC)
    added = 0
    for kind in reversed(KINDS.values()):
        if count_cdrs(db, account.id, kind.export_type):
            continue
        calls = kind.generate(kind.demo_rows, DEMO_MONTHS, now, seed=DEMO_SEED)
        reported = _reporting(batches(calls), progress)
        added += insert_cdrs(db, owned_by(account.id, reported), kind.export_type).rows
    return added


def demo_key(db: Database, settings: Settings, account: Account) -> str:
    """The demo account's API key: the one an earlier run made, while it still works.

    The key is kept in the data directory (demo only: real keys are stored hashed) so a
    second run can print the same key.
    """
    key_file = settings.data_dir / KEY_FILE
    key = key_file.read_text().strip() if key_file.exists() else ""
    found = account_for_key(db, key) if key else None
    if found is None or found.id != account.id:
        key = account_store.create_api_key(db, account)
        _write_private(key_file, key + "\n")
    return key


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def _reporting(
    batches: Iterable[list[tuple]], progress: Callable[[int], object]
) -> Iterator[list[tuple]]:
    for batch in batches:
        yield batch
        progress(len(batch))
