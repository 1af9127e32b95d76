"""The retry policy of both queues, decided by one function: ``decide`` says what a failure
means for its job, an export or a callback: try again, and when, or give up, and why.

Exports. An outage (the database or the file store down, the file store full) is not the
export's fault: the export goes back to pending without counting the attempt and the worker
waits before it claims again, so an outage, however long, neither turns exports into Failed
nor spins. Any other error counts as an attempt, and any worker may retry it at once. Either
way the reason is recorded in words a customer can read. The attempts are counted when an
export is claimed, not when it fails, since a worker that dies mid-build decides nothing:
an export claimed ``max_attempts`` times is Failed with its last error instead of being
run again, so a job that kills its worker every time cannot loop forever.

Callbacks. One that got no 2xx is retried on DIDWW's schedule (cdrex.callbacks.schedule)
and dropped after its last delay; one that no retry can help (a refused destination, an
account without a secret) is dropped at once.
"""

from __future__ import annotations

import errno
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cdrex.callbacks.schedule import next_attempt_delay
from cdrex.pipeline.file_store import FileTooLarge, StorageFull, StorageUnavailable
from cdrex.store.db import UNAVAILABLE_ERRORS

# An outage's pause before the next claim: 5 s, plus up to half again at random, so that
# workers refused at the same moment (two builds that fit a nearly full disk only one at a
# time) do not retry in step, and fail together, for ever.
OUTAGE_BACKOFF_SECONDS = 5.0
OUTAGE_JITTER = 0.5
STORE_FULL = "the file store is full"
STORE_UNAVAILABLE = "the file store is unavailable"
DATABASE_UNAVAILABLE = "the database is unavailable"
FILE_TOO_LARGE = "the export file is larger than the file store accepts"

# A full disk, or the user's quota on it: writes work again once space is freed. EFBIG is
# not among them: a file too large for the filesystem stays too large however often it is
# retried, so it counts as the export's own (see FILE_TOO_LARGE).
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


@dataclass(frozen=True)
class Retry:
    """Try the job again at ``at``.

    For an export, ``at`` is when its worker claims again: the export itself goes back to
    pending at once, for any worker. For a callback, it is when the delivery is due again.
    """

    at: datetime
    reason: str | None = None  # recorded as the job's last error, shown if it ends Failed
    count_attempt: bool = True  # False: an outage, the export gets its attempt back


@dataclass(frozen=True)
class GiveUp:
    """Try no more: the export becomes Failed, the callback is dropped."""

    reason: str


Decision = Retry | GiveUp


@dataclass(frozen=True)
class Limits:
    """The settings ``decide`` reads."""

    max_attempts: int  # claims of an export before it is Failed (CDREX_MAX_ATTEMPTS)
    callback_delays: Sequence[int] = ()  # seconds before each retry of a callback


@dataclass(frozen=True)
class Unfinished:
    """An export about to be claimed again: an earlier attempt failed, or its worker died."""

    last_error: str | None


@dataclass(frozen=True)
class CallbackFailed:
    """A callback attempt that got no 2xx."""

    error: str
    retryable: bool  # False: no later attempt could succeed


def _unasked() -> bool:
    raise TypeError("decide needs database_answers to tell a database outage from a failed query")


def decide(
    failure: Exception | Unfinished | CallbackFailed,
    attempts: int,
    now: datetime,
    limits: Limits,
    database_answers: Callable[[], bool] = _unasked,
) -> Decision:
    """What follows ``failure`` for a job attempted ``attempts`` times so far (a failed
    attempt included, the claim an Unfinished export awaits not).

    ``failure`` is the error an export's build raised, an export about to be claimed again,
    or a callback's failed attempt. ``database_answers`` is asked only when a build's error
    may be the database's, to tell an outage from a failed query.
    """
    if isinstance(failure, CallbackFailed):
        delay = next_attempt_delay(attempts, limits.callback_delays) if failure.retryable else None
        if delay is None:
            return GiveUp(failure.error)
        return Retry(now + timedelta(seconds=delay), failure.error)
    if isinstance(failure, Unfinished):
        if attempts < limits.max_attempts:
            return Retry(now, failure.last_error)
        return GiveUp(_gave_up(attempts, failure.last_error))
    return _build_failed(failure, now, database_answers)


def _build_failed(error: Exception, now: datetime, database_answers: Callable[[], bool]) -> Retry:
    """An export's build raised ``error``: retried at once, counted, unless it is an outage.
    Never GiveUp: the attempts are counted by the claim (see Unfinished)."""
    if isinstance(error, StorageFull) or _errno(error) in _FULL_ERRNOS:
        return _outage(STORE_FULL, now)
    if isinstance(error, StorageUnavailable):
        return _outage(STORE_UNAVAILABLE, now)
    if isinstance(error, UNAVAILABLE_ERRORS) and not database_answers():
        return _outage(DATABASE_UNAVAILABLE, now)
    if isinstance(error, FileTooLarge) or _errno(error) == errno.EFBIG:
        return Retry(now, FILE_TOO_LARGE)
    # Unforeseen: its type is all a customer is shown; the worker's log has the rest.
    return Retry(now, type(error).__name__)


def _outage(reason: str, now: datetime) -> Retry:
    backoff = OUTAGE_BACKOFF_SECONDS * (1 + OUTAGE_JITTER * random.random())
    return Retry(now + timedelta(seconds=backoff), reason, count_attempt=False)


def _errno(error: Exception) -> int | None:
    return error.errno if isinstance(error, OSError) else None


def _gave_up(attempts: int, last_error: str | None) -> str:
    reason = f"gave up after {attempts} attempts"
    return f"{reason}; last error: {last_error}" if last_error else reason
