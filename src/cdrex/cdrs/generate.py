"""Realistic synthetic inbound CDRs, for demo mode, tests and benchmarks.

Deterministic: the same seed on the same day gives the same calls. Caller names include
commas, quotes, empty names and non-ASCII text so exports exercise CSV quoting; about a
fifth of the calls go unanswered.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice

from cdrex.exports.window import month_start, shift_month

CALLER_NAMES = (
    "Smith, John",
    'Robert "Bob" Jones',
    "Müller, Jürgen",
    "José Álvarez",
    "Zoë O'Brien",
    "李小龙",
    "Σωκράτης Παπαδόπουλος",
    "ACME Corp.",
    "",
    None,
    None,
    "Nguyễn Văn An",
    "Dr. Anna-Lena Schmidt",
    "Олег Петров",
    '"Quoted", with comma',
)
COUNTRIES = (
    ("United States", "AT&T"),
    ("Germany", "Telekom"),
    ("United Kingdom", "BT"),
    ("France", "Orange"),
    ("Japan", "NTT"),
)
ANSWERED = (("Completed", 200, "Bye", "Origination"), ("Completed", 200, "Bye", "Destination"))
UNANSWERED = (
    ("Failed", 404, "Not Found", "Destination"),
    ("Failed", 486, "Busy Here", "Destination"),
    ("Failed", 408, "SIP transaction timeout", "Destination"),
    ("Failed", 487, "Request Terminated", "Origination"),
)


def _amount(rng: random.Random, scale: int) -> int:
    """A charge in millionths, sometimes with sub-millicent precision."""
    return rng.randrange(0, scale) * rng.choice((1, 1, 1, 10, 100))


def _window_end(now: datetime) -> datetime:
    """Where generated calls stop: the start of today, so that a seed gives the same calls
    all day long; on the first day of a month the start of this hour instead, so that the
    current month has calls too."""
    if now.day == 1:
        return now.replace(minute=0, second=0, microsecond=0)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def generate_inbound(
    rows: int, months: int, now: datetime, seed: int = 1, dids: int = 8
) -> Iterator[tuple]:
    """``rows`` records (tuples in INBOUND_FIELDS order) spread evenly over the last
    ``months`` months up to ``now`` (see ``_window_end``), oldest first."""
    rng = random.Random(seed)
    year, month = shift_month(now.year, now.month, -(months - 1))
    start = month_start(year, month).replace(tzinfo=None)
    span = (_window_end(now).replace(tzinfo=None) - start).total_seconds()
    did_numbers = [str(rng.randrange(10**10, 10**11)) + str(n) for n in range(dids)]
    for n in range(rows):
        time_start = start + timedelta(seconds=int(span * (n + rng.random()) / rows))
        answered = rng.random() < 0.8
        status, code, response, initiator = rng.choice(ANSWERED if answered else UNANSWERED)
        duration = int(rng.expovariate(1 / 150)) + 1 if answered else 0
        time_connect = time_start + timedelta(seconds=rng.randrange(1, 15)) if answered else None
        time_end = time_connect + timedelta(seconds=duration) if time_connect else None
        country, network = rng.choice(COUNTRIES)
        did = rng.choice(did_numbers)
        source = str(rng.randrange(10**10, 10**12)) if rng.random() < 0.95 else ""
        pstn = _amount(rng, 20_000) if answered else 0
        metered = _amount(rng, 5_000) if answered else 0
        yield (
            time_start,
            time_connect,
            time_end,
            did,
            source,
            source or None,
            rng.choice(CALLER_NAMES),
            country,
            network,
            rng.choice((f"sip:{did}@sip.example.net", f"iax:{did}@pbx.example.org")),
            status,
            duration,
            rng.randrange(1, 3),
            code,
            response,
            initiator,
            "SIP Trunk",
            rng.choice(("Trunk Group A", "Trunk Group B", None)),
            rng.choice(("Shared Cap A", None)),
            0,
            pstn,
            metered,
            0,
            pstn + metered,
            0,
            rng.choice((None, None, "cust-001", "cust-002")),
            f"{rng.getrandbits(64):016x}",
        )


def batches(records: Iterable[tuple], size: int = 5000) -> Iterator[list[tuple]]:
    """Lists of up to ``size`` records, the unit the store inserts."""
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch
