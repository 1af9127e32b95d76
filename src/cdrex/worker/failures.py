"""The failure policy: what a failed build means for its export, decided by one function.

An outage (the database or the file store down, the file store full) is not the export's
fault: the export goes back to pending without counting the attempt and the worker waits
before it claims again, so an outage, however long, neither turns exports into Failed nor
spins. Any other error counts as an attempt. Either way the reason is recorded in words a
customer can read: an export that runs out of attempts is Failed with its last one.
"""

from __future__ import annotations

import errno
import random
from collections.abc import Callable
from dataclasses import dataclass

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
class FailureDecision:
    reason: str  # recorded as the export's last error, shown if it ends Failed
    count_attempt: bool  # False: an outage, the export goes back to pending uncounted
    backoff_seconds: float = 0.0  # how long the worker waits before claiming again


def decide_failure(error: Exception, database_answers: Callable[[], bool]) -> FailureDecision:
    """The decision for a build that raised ``error``; ``database_answers`` is asked only
    when the error may be the database's, to tell an outage from a failed query."""
    if isinstance(error, StorageFull) or _errno(error) in _FULL_ERRNOS:
        return _outage(STORE_FULL)
    if isinstance(error, StorageUnavailable):
        return _outage(STORE_UNAVAILABLE)
    if isinstance(error, UNAVAILABLE_ERRORS) and not database_answers():
        return _outage(DATABASE_UNAVAILABLE)
    if isinstance(error, FileTooLarge) or _errno(error) == errno.EFBIG:
        return FailureDecision(FILE_TOO_LARGE, count_attempt=True)
    # Unforeseen: its type is all a customer is shown; the worker's log has the rest.
    return FailureDecision(type(error).__name__, count_attempt=True)


def _outage(reason: str) -> FailureDecision:
    backoff = OUTAGE_BACKOFF_SECONDS * (1 + OUTAGE_JITTER * random.random())
    return FailureDecision(reason, count_attempt=False, backoff_seconds=backoff)


def _errno(error: Exception) -> int | None:
    return error.errno if isinstance(error, OSError) else None
