"""Accounts and their API keys."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from cdrex.exports.versions import DEFAULT_VERSION
from cdrex.store.db import Database
from cdrex.store.schema import accounts, api_keys

KEY_PREFIX_LENGTH = 12  # "cdrex_" + 6 random characters, shown in listings and logs
NAME_LENGTH = accounts.c.name.type.length  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    api_version: str = DEFAULT_VERSION.name  # the default version of its requests


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never the key itself, which is not stored."""

    prefix: str
    account: str | None  # None: an operator key
    created_at: datetime
    revoked_at: datetime | None


class AccountError(Exception):
    """An operator mistake the CLI reports as one line (unknown account, duplicate name...)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_account_name(name: str) -> None:
    """Names are typed on command lines and printed in listings: keep them plain."""
    if not name or len(name) > NAME_LENGTH:
        raise AccountError(f"an account name has 1 to {NAME_LENGTH} characters")
    if name != name.strip() or not name.isprintable():
        raise AccountError(f"account name {name!r} has control characters or surrounding spaces")


def create_account(db: Database, name: str) -> Account:
    check_account_name(name)
    exists = AccountError(f"account {name!r} already exists")
    try:
        with db.write() as conn:
            if conn.execute(sa.select(accounts.c.id).where(accounts.c.name == name)).first():
                raise exists
            account_id = conn.execute(
                accounts.insert().values(name=name, created_at=datetime.now(UTC))
            ).inserted_primary_key[0]  # type: ignore[index]
    except sa.exc.IntegrityError:
        raise exists from None  # created by someone else between our check and insert
    return Account(account_id, name)


_ACCOUNT_COLUMNS = (accounts.c.id, accounts.c.name, accounts.c.api_version)


def find_account(db: Database, name: str) -> Account:
    with db.read() as conn:
        found = conn.execute(sa.select(*_ACCOUNT_COLUMNS).where(accounts.c.name == name)).first()
    if found is None:
        raise AccountError(f"no account named {name!r}")
    return Account(*found)


def list_accounts(db: Database) -> list[Account]:
    with db.read() as conn:
        rows = conn.execute(sa.select(*_ACCOUNT_COLUMNS).order_by(accounts.c.name))
        return [Account(*row) for row in rows]


def update_account(db: Database, name: str, **changes: str | None) -> Account:
    """Set the account's ``api_version`` and/or ``callback_secret``."""
    with db.write() as conn:
        updated = conn.execute(
            accounts.update().where(accounts.c.name == name).values(**changes)
        ).rowcount
    if not updated:
        raise AccountError(f"no account named {name!r}")
    return find_account(db, name)


def callback_secret(db: Database, account_id: int) -> str | None:
    """The secret the account's callbacks are signed with; None: send none."""
    with db.read() as conn:
        return conn.execute(
            sa.select(accounts.c.callback_secret).where(accounts.c.id == account_id)
        ).scalar_one_or_none()


OPERATOR = None  # the "account" of operator keys (an account_id of NULL)


def create_api_key(db: Database, account: Account | None) -> str:
    """A new key for the account, or with ``OPERATOR`` for the operator API; only its hash
    is stored, so this is the one time it is seen."""
    key = ("cdrex_" if account else "cdrexop_") + secrets.token_urlsafe(30)
    with db.write() as conn:
        conn.execute(
            api_keys.insert().values(
                account_id=account.id if account else None,
                prefix=key[:KEY_PREFIX_LENGTH],
                key_hash=hash_key(key),
                created_at=datetime.now(UTC),
            )
        )
    return key


def list_api_keys(
    db: Database, account: Account | None = None, operators: bool = False
) -> list[KeyInfo]:
    """Every customer key (of one account, if given), or every operator key, oldest first."""
    query = (
        sa.select(api_keys.c.prefix, accounts.c.name, api_keys.c.created_at, api_keys.c.revoked_at)
        .outerjoin(accounts, api_keys.c.account_id == accounts.c.id)
        .where(_of_kind(operators))
        .order_by(api_keys.c.id)
    )
    if account is not None:
        query = query.where(api_keys.c.account_id == account.id)
    with db.read() as conn:
        return [KeyInfo(*row) for row in conn.execute(query)]


def _of_kind(operators: bool) -> sa.ColumnElement[bool]:
    return api_keys.c.account_id.is_(None) if operators else api_keys.c.account_id.is_not(None)


def revoke_api_key(db: Database, key_or_prefix: str, operators: bool = False) -> str:
    """Revoke one customer key (or operator key), named by the key itself or its displayed
    prefix; return the prefix."""
    given = key_or_prefix.strip().removesuffix("…")  # as `keys list` shows a prefix
    matches = (
        api_keys.c.key_hash == hash_key(given)
        if len(given) > KEY_PREFIX_LENGTH
        else api_keys.c.prefix == given
    )
    with db.write() as conn:
        found = conn.execute(
            sa.select(api_keys.c.id, api_keys.c.prefix, api_keys.c.revoked_at).where(
                matches, _of_kind(operators)
            )
        ).all()
        active = [row for row in found if row.revoked_at is None]
        if len(active) != 1:
            raise AccountError(_no_single_key(given, found, active))
        conn.execute(
            api_keys.update()
            .where(api_keys.c.id == active[0].id)
            .values(revoked_at=datetime.now(UTC))
        )
    return active[0].prefix


def _no_single_key(given: str, found: Sequence, active: list) -> str:
    shown = given if len(given) <= KEY_PREFIX_LENGTH else given[:KEY_PREFIX_LENGTH] + "…"
    if active:
        return f"prefix {shown!r} matches {len(active)} keys: give the whole key"
    if found:
        return f"key {shown!r} is already revoked"
    return f"no key matches {shown!r}"


_ACCOUNT_FOR_KEY = (
    sa.select(accounts.c.id, accounts.c.name, accounts.c.api_version, api_keys.c.key_hash)
    .join(api_keys, api_keys.c.account_id == accounts.c.id)
    .where(api_keys.c.key_hash == sa.bindparam("key_hash"), api_keys.c.revoked_at.is_(None))
)


@functools.cache
def _driver_sql(dialect: sa.Dialect) -> str:
    return str(_ACCOUNT_FOR_KEY.compile(dialect=dialect))


def is_operator_key(db: Database, key: str) -> bool:
    """Whether ``key`` is an active operator key."""
    digest = hash_key(key)
    with db.read() as conn:
        found = conn.execute(
            sa.select(api_keys.c.key_hash).where(
                api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None), _of_kind(True)
            )
        ).scalar_one_or_none()
    return found is not None and hmac.compare_digest(found, digest)


def account_for_key(db: Database, key: str) -> Account | None:
    """The account an active API key belongs to, or None."""
    # Every API request runs this, so it goes straight to the driver on a pooled
    # connection: a Connection's per-execution work and the BEGIN/ROLLBACK it wraps
    # around one SELECT took 110 us on SQLite, this takes 25 us.
    raw = db.engine.raw_connection()
    try:
        return account_for_key_on(raw, db.engine.dialect, key)
    finally:
        raw.close()  # back to the pool, which rolls back whatever the driver began


def account_for_key_on(connection: Any, dialect: sa.Dialect, key: str) -> Account | None:
    """``account_for_key`` on a driver (DB-API) connection of ``dialect``."""
    digest = hash_key(key)
    params = (digest,) if dialect.positional else {"key_hash": digest}
    cursor = connection.cursor()
    try:
        cursor.execute(_driver_sql(dialect), params)
        row = cursor.fetchone()
    finally:
        cursor.close()
    # The lookup goes through an index on the hash; comparing in constant time as well
    # keeps the check free of timing differences on the key material.
    if row is None or not hmac.compare_digest(row[3], digest):
        return None
    return Account(row[0], row[1], row[2])
