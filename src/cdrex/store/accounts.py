"""Accounts and their API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from cdrex.store.db import Database
from cdrex.store.schema import accounts, api_keys

KEY_PREFIX_LENGTH = 12  # "cdrex_" + 6 random characters, shown in listings and logs


@dataclass(frozen=True)
class Account:
    id: int
    name: str


class AccountError(Exception):
    """An operator mistake the CLI reports as one line (unknown account, duplicate name...)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_account(db: Database, name: str) -> Account:
    with db.write() as conn:
        if conn.execute(sa.select(accounts.c.id).where(accounts.c.name == name)).first():
            raise AccountError(f"account {name!r} already exists")
        account_id = conn.execute(
            accounts.insert().values(name=name, created_at=datetime.now(UTC))
        ).inserted_primary_key[0]
    return Account(account_id, name)


def find_account(db: Database, name: str) -> Account:
    with db.read() as conn:
        row = conn.execute(sa.select(accounts.c.id, accounts.c.name).where(accounts.c.name == name))
        found = row.first()
    if found is None:
        raise AccountError(f"no account named {name!r}")
    return Account(found.id, found.name)


def create_api_key(db: Database, account: Account) -> str:
    """A new key for the account; only its hash is stored, so this is the one time it is seen."""
    key = "cdrex_" + secrets.token_urlsafe(30)
    with db.write() as conn:
        conn.execute(
            api_keys.insert().values(
                account_id=account.id,
                prefix=key[:KEY_PREFIX_LENGTH],
                key_hash=hash_key(key),
                created_at=datetime.now(UTC),
            )
        )
    return key


def revoke_api_key(db: Database, key_or_prefix: str) -> str:
    """Revoke one key, named by the key itself or its displayed prefix; return the prefix."""
    matches = (
        api_keys.c.key_hash == hash_key(key_or_prefix)
        if len(key_or_prefix) > KEY_PREFIX_LENGTH
        else api_keys.c.prefix == key_or_prefix
    )
    with db.write() as conn:
        found = conn.execute(
            sa.select(api_keys.c.id, api_keys.c.prefix).where(
                matches, api_keys.c.revoked_at.is_(None)
            )
        ).all()
        if len(found) != 1:
            raise AccountError(
                "no active key matches" if not found else "prefix matches several keys"
            )
        conn.execute(
            api_keys.update()
            .where(api_keys.c.id == found[0].id)
            .values(revoked_at=datetime.now(UTC))
        )
    return found[0].prefix


_ACCOUNT_FOR_KEY = (
    sa.select(accounts.c.id, accounts.c.name, api_keys.c.key_hash)
    .join(api_keys, api_keys.c.account_id == accounts.c.id)
    .where(api_keys.c.key_hash == sa.bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
)


def account_for_key(db: Database, key: str) -> Account | None:
    """The account an active API key belongs to, or None."""
    digest = hash_key(key)
    with db.engine.connect() as conn:
        row = conn.execute(_ACCOUNT_FOR_KEY, {"key_hash": digest}).first()
    # The lookup goes through an index on the hash; comparing in constant time as well
    # keeps the check free of timing differences on the key material.
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return Account(row.id, row.name)
