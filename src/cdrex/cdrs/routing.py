"""Whose record it is: the account that owned its DID number or trunk at its time_start.

An account owns a resource (kinds.Resource: a DID number, an outbound trunk) for
intervals, ``since`` inclusive, ``until`` exclusive, either open (None: from the start, or
for as long as it lasts). One resource's intervals never overlap, so a moment has at most
one owner. The intervals are the store's (cdrex.store.ownership); this module only reads
them, batch by batch, so that a file of millions of records asks for each identifier once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cdrex.cdrs.files import BadCdrFile


@dataclass(frozen=True)
class Assignment:
    """``account_id`` owned ``identifier`` of ``resource`` from ``since`` until ``until``."""

    id: int
    resource: str
    identifier: str
    account_id: int
    account_name: str
    name: str | None
    since: datetime | None  # aware UTC; None: from the start
    until: datetime | None  # aware UTC, exclusive; None: still owned

    def covers(self, moment: datetime) -> bool:
        """Whether ``moment`` (aware) lies in the interval."""
        return (self.since is None or self.since <= moment) and (
            self.until is None or moment < self.until
        )

    def overlaps(self, since: datetime | None, until: datetime | None) -> bool:
        """Whether the interval shares a moment with [since, until)."""
        starts_before_it_ends = self.until is None or since is None or since < self.until
        ends_after_it_starts = until is None or self.since is None or self.since < until
        return starts_before_it_ends and ends_after_it_starts


# Looks up the intervals of the given identifiers of one resource: identifier -> intervals.
Lookup = Callable[[Iterable[str]], Mapping[str, list[Assignment]]]


class Router:
    """Finds each record's owner; built once per import, for one record kind.

    ``key`` and ``time`` are the positions, in the record tuples, of the field naming the
    resource and of time_start (a naive UTC datetime, as records hold it). Intervals are
    looked up once per identifier and kept for the rest of the import: an import sees the
    assignments as they were when it first met each identifier.
    """

    def __init__(self, lookup: Lookup, label: str, key: int, time: int) -> None:
        self._lookup = lookup
        self._label = label
        self.key, self.time = key, time
        self._known: dict[str, list[Assignment]] = {}

    def owners(self, records: list[tuple]) -> list[int | None]:
        """The owning account id of each record, None where nobody owned it."""
        missing = {record[self.key] for record in records} - self._known.keys()
        if missing:
            found = self._lookup(missing)
            self._known.update({identifier: found.get(identifier, []) for identifier in missing})
        return [self._owner(record) for record in records]

    def _owner(self, record: tuple) -> int | None:
        moment = record[self.time].replace(tzinfo=UTC)  # records hold naive UTC
        for assignment in self._known[record[self.key]]:
            if assignment.covers(moment):
                return assignment.account_id
        return None

    def why_unrouted(self, record: tuple) -> str:
        return (
            f"no account owned {self._label} {record[self.key]} at "
            f"{record[self.time]:%Y-%m-%d %H:%M:%S} UTC"
        )


def one_owner(account_id: int) -> Lookup:
    """A lookup giving every identifier to one account for ever: an import with
    ``--account``, routed like any other."""
    always = Assignment(0, "", "", account_id, "", None, None, None)
    return lambda identifiers: {identifier: [always] for identifier in identifiers}


@dataclass
class Tally:
    """What an import did: records per owning account, and (with ``skip``) those it left
    out instead of stopping: records nobody owned, per identifier, and records too old;
    and, by why, records its format leaves out on purpose (a FreeSWITCH B-leg)."""

    skip: bool = False
    accounts: Counter[int] = field(default_factory=Counter)
    unowned: Counter[str] = field(default_factory=Counter)
    too_old: int = 0
    ignored: Counter[str] = field(default_factory=Counter)


def route(
    numbered: Iterable[tuple[list[int], list[tuple]]],
    router: Router,
    tally: Tally,
    oldest: datetime,
) -> Iterator[list[tuple]]:
    """Owned batches, ``(account_id, *record)``, as cdrex.store.cdrs.insert_cdrs takes them.

    A record nobody owned, or older than ``oldest`` (naive UTC: what can no longer be
    exported, and would be kept for nothing), stops the import with BadCdrFile naming its
    line, unless the tally skips such records."""
    for lines, records in numbered:
        owned = []
        for line, record, owner in zip(lines, records, router.owners(records), strict=True):
            if record[router.time] < oldest:
                if not tally.skip:
                    raise BadCdrFile(line, _too_old(record[router.time], oldest))
                tally.too_old += 1
            elif owner is not None:
                owned.append((owner, *record))
                tally.accounts[owner] += 1
            elif tally.skip:
                tally.unowned[record[router.key]] += 1
            else:
                raise BadCdrFile(line, router.why_unrouted(record))
        yield owned


def _too_old(time_start: datetime, oldest: datetime) -> str:
    return (
        f"time_start {time_start:%Y-%m-%d %H:%M:%S} is before {oldest:%Y-%m-%d}: cdrex keeps "
        "no older calls (CDREX_EXPORT_WINDOW_MONTHS and CDREX_CDR_RETENTION_MONTHS)"
    )
