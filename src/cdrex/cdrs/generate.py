"""Realistic synthetic inbound and outbound CDRs, for demo mode, tests and benchmarks.

Deterministic: the same seed and ``now`` give the same calls, and so does the same seed
all day long except on the first of a month (see ``_month_end``). Caller names and
disconnect reasons include commas and quotes (caller names also empty names and non-ASCII
text) so exports exercise CSV quoting; about a fifth of the calls go unanswered.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import islice

from cdrex.exports.window import month_start, next_month_start, shift_month

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
ANSWER_RATE = 0.8

# (country, network, dialling prefix, call type, rate in millionths of USD per minute,
# billing increment in seconds).
OUT_DESTINATIONS = (
    ("United States", "AT&T", "1", "International", 9_000, 6),
    ("United States", "Verizon Wireless", "1", "International Mobile", 9_500, 6),
    ("Germany", "Telekom", "49", "International", 12_345, 60),
    ("Germany", "Vodafone Mobile", "49", "International Mobile", 85_000, 60),
    ("United Kingdom", "BT", "44", "Domestic", 7_250, 1),
    ("France", "Orange Mobile", "33", "International Mobile", 61_500, 60),
    ("Japan", "NTT Docomo", "81", "International Mobile", 120_000, 1),
)
OUT_ANSWERED = (("Completed", 200, "Normal call clearing"), ("Completed", 200, "Bye"))
OUT_UNANSWERED = (
    ("Failed", 486, 'Busy Here, "user busy"'),
    ("Failed", 404, "Not Found, number unallocated"),
    ("Failed", 480, "Temporarily Unavailable"),
    ("Failed", 503, 'Service Unavailable, "no route, try later"'),
    ("Failed", 487, "Request Terminated"),
)


def _amount(rng: random.Random, scale: int) -> int:
    """A charge in millionths, sometimes with sub-millicent precision."""
    return rng.randrange(0, scale) * rng.choice((1, 1, 1, 10, 100))


def _month_end(year: int, month: int, now: datetime) -> datetime:
    """Where a month's generated calls stop: its end, or for the current month the start of
    today, so that a seed gives the same calls all day long; on the first day of a month
    ``now`` itself, so that the current month gets its share too. Never in the future."""
    end = next_month_start(year, month)
    if end <= now:
        return end
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return today if today > month_start(year, month) else now.replace(microsecond=0)


def _call_starts(rng: random.Random, rows: int, months: int, now: datetime) -> Iterator[datetime]:
    """``rows`` start times over the last ``months`` months up to ``now``, oldest first, as
    naive UTC. Each month gets an equal share of the rows (the current one too, however
    early in the month ``now`` is), spread evenly up to its end (see ``_month_end``).

    A generator, so each start draws from ``rng`` only when the caller's loop reaches it:
    the draws of one call stay together.
    """
    for index in range(months):
        year, month = shift_month(now.year, now.month, index - (months - 1))
        start = month_start(year, month)
        span = (_month_end(year, month, now) - start).total_seconds()
        share = rows * (index + 1) // months - rows * index // months
        for n in range(share):
            offset = int(span * (n + rng.random()) / share)
            yield (start + timedelta(seconds=offset)).replace(tzinfo=None)


def _call_times(
    rng: random.Random, time_start: datetime, answered: bool
) -> tuple[int, datetime | None, datetime | None]:
    """Duration in seconds, connect and end time; an unanswered call lasts 0 and has
    neither time."""
    if not answered:
        return 0, None, None
    duration = int(rng.expovariate(1 / 150)) + 1
    time_connect = time_start + timedelta(seconds=rng.randrange(1, 15))
    return duration, time_connect, time_connect + timedelta(seconds=duration)


def generate_inbound(
    rows: int, months: int, now: datetime, seed: int = 1, dids: int = 8
) -> Iterator[tuple]:
    """``rows`` records (tuples in INBOUND_FIELDS order) spread over the last ``months``
    months up to ``now`` (see ``_call_starts``), oldest first."""
    rng = random.Random(seed)
    did_numbers = [str(rng.randrange(10**10, 10**11)) + str(n) for n in range(dids)]
    for time_start in _call_starts(rng, rows, months, now):
        answered = rng.random() < ANSWER_RATE
        status, code, response, initiator = rng.choice(ANSWERED if answered else UNANSWERED)
        duration, time_connect, time_end = _call_times(rng, time_start, answered)
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


def _trunks(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """``count`` (id, name) outbound trunks; ids are lower-case UUIDs, as the parser
    stores them."""
    return [
        (str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"Voice OUT Trunk {n}")
        for n in range(1, count + 1)
    ]


def outbound_trunks(seed: int = 1, trunks: int = 4) -> list[tuple[str, str]]:
    """The (id, name) trunks ``generate_outbound`` with the same seed and count uses."""
    return _trunks(random.Random(seed), trunks)


def _billed(duration: int, increment: int) -> int:
    """Billed seconds: the duration rounded up to whole billing increments."""
    return -(-duration // increment) * increment


def _charge(rate: int, billed: int) -> int:
    """Millionths of USD for ``billed`` seconds at ``rate`` millionths a minute, rounded
    half up (both are whole numbers, so integer arithmetic keeps it exact)."""
    return (rate * billed + 30) // 60


def generate_outbound(
    rows: int, months: int, now: datetime, seed: int = 1, trunks: int = 4
) -> Iterator[tuple]:
    """``rows`` records (tuples in OUTBOUND_FIELDS order) spread over the last ``months``
    months up to ``now`` (see ``_call_starts``), oldest first, over the trunks
    ``outbound_trunks(seed, trunks)`` returns.

    Absent text is ``None``, never ``""``: a CSV file cannot tell the two apart, and the
    records should survive a round trip through the record format unchanged.
    """
    rng = random.Random(seed)
    trunk_list = _trunks(rng, trunks)  # drawn first, so outbound_trunks sees the same ids
    for time_start in _call_starts(rng, rows, months, now):
        answered = rng.random() < ANSWER_RATE
        status, code, reason = rng.choice(OUT_ANSWERED if answered else OUT_UNANSWERED)
        duration, time_connect, time_end = _call_times(rng, time_start, answered)
        trunk_id, trunk_name = rng.choice(trunk_list)
        country, network, prefix, call_type, rate, increment = rng.choice(OUT_DESTINATIONS)
        billed = _billed(duration, increment)
        source = str(rng.randrange(10**10, 10**11))
        cli = rng.choice((source, source, "anonymous", None))
        yield (
            time_start,
            time_connect,
            time_end,
            trunk_id,
            trunk_name,
            source,
            cli,
            prefix + str(rng.randrange(10**8, 10**10)),
            status,
            duration,
            billed,
            code,
            reason,
            country,
            network,
            call_type,
            rate,
            _charge(rate, billed),
            rng.choice((f"<sip:{source}@pstn.example.net>;npi=ISDN;noa=4", None)),
            f"{rng.getrandbits(64):016x}",
        )


def batches(records: Iterable[tuple], size: int = 5000) -> Iterator[list[tuple]]:
    """Lists of up to ``size`` records, the unit the store inserts."""
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch
