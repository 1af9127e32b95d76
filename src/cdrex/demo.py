"""Demo mode: an account `demo` with a key and three months of realistic calls, inbound
and outbound.

A second run on the same data directory reuses all of it: the same key, no new calls.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from cdrex.cdrs.generate import batches, generate_inbound, generate_outbound
from cdrex.settings import Settings
from cdrex.store import accounts as account_store
from cdrex.store.accounts import Account, AccountError, account_for_key
from cdrex.store.cdrs import count_cdrs, insert_cdrs
from cdrex.store.db import Database

DEMO_ACCOUNT = "demo"
DEMO_INBOUND_ROWS = 120_000
DEMO_OUTBOUND_ROWS = 30_000
DEMO_ROWS = DEMO_INBOUND_ROWS + DEMO_OUTBOUND_ROWS
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
    return count_cdrs(db, account.id) == 0


def add_calls(db: Database, account: Account, progress: Callable[[int], object]) -> int:
    """Generate the demo calls (a transaction per direction, outbound first: the inbound
    ones are what marks the demo as set up), reporting each batch's size."""
    now = datetime.now(UTC)
    outbound = generate_outbound(DEMO_OUTBOUND_ROWS, DEMO_MONTHS, now, seed=DEMO_SEED)
    inbound = generate_inbound(DEMO_INBOUND_ROWS, DEMO_MONTHS, now, seed=DEMO_SEED)
    if count_cdrs(db, account.id, "cdr_out"):  # an earlier run stopped between the two
        outbound = iter(())
    added = insert_cdrs(db, account.id, _reporting(batches(outbound), progress), "cdr_out")
    return added + insert_cdrs(db, account.id, _reporting(batches(inbound), progress))


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
