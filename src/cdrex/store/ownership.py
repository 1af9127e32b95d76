"""Who owned which DID number or trunk when: the assignments table (cdrex.cdrs.routing).

Assigning checks for an overlapping interval and inserts in one write transaction; on
PostgreSQL a transaction advisory lock makes concurrent assignments take turns (SQLite's
write lock does it there), so two operators can never both win the same number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa

from cdrex.cdrs.routing import Assignment
from cdrex.exports.kinds import Resource
from cdrex.store.accounts import AccountError
from cdrex.store.backends import take_turns
from cdrex.store.db import Database
from cdrex.store.schema import accounts, assignments

_ASSIGN_LOCK_KEY = 7428204  # take_turns: one assignment at a time (see callback_queue)
_IN_CHUNK = 500  # identifiers per IN list: far below either backend's parameter limit
_COLUMNS = (
    assignments.c.id,
    assignments.c.resource,
    assignments.c.identifier,
    assignments.c.account_id,
    accounts.c.name,
    assignments.c.name,
    assignments.c.since,
    assignments.c.until,
)
_JOINED = assignments.join(accounts, accounts.c.id == assignments.c.account_id)


def _when(moment: datetime | None, open_end: str) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else open_end


def describe(assignment: Assignment, label: str) -> str:
    """'DID number 441234567890 of account 'acme' from ... until ...', for messages."""
    return (
        f"{label} {assignment.identifier} of account {assignment.account_name!r} from "
        f"{_when(assignment.since, 'the start')} until {_when(assignment.until, 'now on')}"
    )


def assign(
    db: Database,
    resource: Resource,
    identifier: str,
    account_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    name: str | None = None,
) -> Assignment:
    """Give ``identifier`` to the account for [since, until); AccountError if any of that
    interval is someone's (the account's own included) or the interval is empty."""
    identifier = _checked(resource, identifier)
    if since is not None and until is not None and until <= since:
        raise AccountError("--until must be later than --since")
    with db.write() as conn:
        take_turns(conn, _ASSIGN_LOCK_KEY)
        for held in _intervals(conn, resource, [identifier]).get(identifier, []):
            if held.overlaps(since, until):
                raise AccountError(
                    f"{describe(held, resource.label)} overlaps: give --since/--until "
                    f"outside it, or release it first"
                )
        new_id = conn.execute(
            assignments.insert().values(
                resource=resource.name,
                identifier=identifier,
                account_id=account_id,
                name=name,
                since=since,
                until=until,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        [assignment] = _select(conn, assignments.c.id == new_id)
    return assignment


def release(db: Database, resource: Resource, identifier: str, at: datetime) -> Assignment:
    """End at ``at`` the interval that holds ``at``: the number is nobody's from then on
    (until a later interval, if one was assigned ahead)."""
    identifier = _checked(resource, identifier)
    with db.write() as conn:
        held = _intervals(conn, resource, [identifier]).get(identifier, [])
        current = [assignment for assignment in held if assignment.covers(at)]
        if not current:
            raise AccountError(f"{resource.label} {identifier} is nobody's at {_when(at, '')}")
        [assignment] = current
        if assignment.since == at:  # released as it begins: it never held anything
            conn.execute(assignments.delete().where(assignments.c.id == assignment.id))
        else:
            conn.execute(
                assignments.update().where(assignments.c.id == assignment.id).values(until=at)
            )
    return replace(assignment, until=at)


def list_assignments(
    db: Database, resource: Resource, account_id: int | None = None
) -> list[Assignment]:
    """The resource's intervals, by identifier then time; only the account's, if given."""
    matches = assignments.c.resource == resource.name
    if account_id is not None:
        matches &= assignments.c.account_id == account_id
    with db.read() as conn:
        return _select(conn, matches)


def owner_intervals(
    db: Database, resource: Resource, identifiers: Iterable[str]
) -> dict[str, list[Assignment]]:
    """identifier -> its intervals, for the identifiers that have any (the router's lookup)."""
    with db.read() as conn:
        return _intervals(conn, resource, list(identifiers))


def _intervals(
    conn: sa.Connection, resource: Resource, identifiers: list[str]
) -> dict[str, list[Assignment]]:
    found: dict[str, list[Assignment]] = {}
    for start in range(0, len(identifiers), _IN_CHUNK):
        chunk = identifiers[start : start + _IN_CHUNK]
        matches = (assignments.c.resource == resource.name) & assignments.c.identifier.in_(chunk)
        for assignment in _select(conn, matches):
            found.setdefault(assignment.identifier, []).append(assignment)
    return found


def _select(conn: sa.Connection, matches: sa.ColumnElement[bool]) -> list[Assignment]:
    query = (
        sa.select(*_COLUMNS)
        .select_from(_JOINED)
        .where(matches)
        .order_by(assignments.c.identifier, assignments.c.since.is_not(None), assignments.c.since)
    )
    return [Assignment(*row) for row in conn.execute(query)]


def _checked(resource: Resource, identifier: str) -> str:
    try:
        return resource.check(identifier)
    except ValueError as error:
        raise AccountError(str(error)) from None
