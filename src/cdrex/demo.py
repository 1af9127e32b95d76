"""Demo mode: an account `demo` with a key and three months of realistic calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cdrex.cdrs.generate import batches, generate_inbound
from cdrex.settings import Settings
from cdrex.store import accounts as account_store
from cdrex.store.accounts import AccountError, account_for_key
from cdrex.store.cdrs import count_inbound, insert_inbound
from cdrex.store.db import Database

DEMO_ACCOUNT = "demo"
DEMO_ROWS = 120_000
DEMO_MONTHS = 3


def prepare_demo(db: Database, settings: Settings, progress: Callable[[int], None]) -> str:
    """Create what demo mode needs, reusing what an earlier run made; return the API key.

    The key is kept in the data directory (demo only: real keys are stored hashed) so a
    second run prints the same key and does not generate the data again.
    """
    try:
        account = account_store.find_account(db, DEMO_ACCOUNT)
    except AccountError:
        account = account_store.create_account(db, DEMO_ACCOUNT)
    if count_inbound(db, account.id) == 0:
        rows = generate_inbound(DEMO_ROWS, DEMO_MONTHS, datetime.now(UTC), seed=2017)
        insert_inbound(db, account.id, _reporting(batches(rows), progress))
    key_file = settings.data_dir / "demo-api-key.txt"
    key = key_file.read_text().strip() if key_file.exists() else ""
    if not key or account_for_key(db, key) is None:
        key = account_store.create_api_key(db, account)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    return key


def _reporting(batches, progress: Callable[[int], None]):  # type: ignore[no-untyped-def]
    for batch in batches:
        yield batch
        progress(len(batch))
