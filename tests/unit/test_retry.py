"""The retry policy, every branch of cdrex.worker.retry.decide: no database, no server."""

from __future__ import annotations

import errno
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from cdrex.callbacks.schedule import RETRY_DELAYS_SECONDS
from cdrex.pipeline.file_store import FileTooLarge, StorageFull, StorageUnavailable
from cdrex.worker.retry import (
    DATABASE_UNAVAILABLE,
    FILE_TOO_LARGE,
    OUTAGE_BACKOFF_SECONDS,
    STORE_FULL,
    STORE_UNAVAILABLE,
    CallbackFailed,
    GiveUp,
    Limits,
    Retry,
    Unfinished,
    decide,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LIMITS = Limits(max_attempts=3, callback_delays=RETRY_DELAYS_SECONDS)
DATABASE_ERROR = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed"))


def _answers() -> bool:
    return True


def _does_not_answer() -> bool:
    return False


def _never_asked() -> bool:
    raise AssertionError("only an error of the database's asks whether it answers")


# --- an export's build failed -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (StorageFull("refused"), STORE_FULL),
        (OSError(errno.ENOSPC, "No space left on device"), STORE_FULL),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), STORE_FULL),
        (StorageUnavailable("down"), STORE_UNAVAILABLE),
    ],
    ids=["StorageFull", "ENOSPC", "EDQUOT", "StorageUnavailable"],
)
def test_a_store_outage_gives_the_attempt_back_and_pauses(error: Exception, reason: str) -> None:
    decision = decide(error, 1, NOW, LIMITS, _never_asked)
    assert isinstance(decision, Retry)
    assert (decision.reason, decision.count_attempt) == (reason, False)
    pause = (decision.at - NOW).total_seconds()
    assert OUTAGE_BACKOFF_SECONDS <= pause <= OUTAGE_BACKOFF_SECONDS * 1.5


def test_outage_pauses_are_jittered(monkeypatch: pytest.MonkeyPatch) -> None:
    for draw, pause in ((0.0, 5.0), (0.5, 6.25), (0.9, 7.25)):
        monkeypatch.setattr("cdrex.worker.retry.random.random", lambda draw=draw: draw)
        decision = decide(StorageFull("refused"), 1, NOW, LIMITS, _never_asked)
        assert decision == Retry(NOW + timedelta(seconds=pause), STORE_FULL, count_attempt=False)


def test_a_database_error_is_an_outage_only_while_the_database_does_not_answer() -> None:
    down = decide(DATABASE_ERROR, 1, NOW, LIMITS, _does_not_answer)
    assert isinstance(down, Retry)
    assert (down.reason, down.count_attempt) == (DATABASE_UNAVAILABLE, False)
    assert down.at > NOW
    # It answers: the query itself failed, which is the export's own.
    assert decide(DATABASE_ERROR, 1, NOW, LIMITS, _answers) == Retry(NOW, "OperationalError")


def test_a_database_error_cannot_be_decided_without_asking_the_database() -> None:
    with pytest.raises(TypeError, match="database_answers"):
        decide(DATABASE_ERROR, 1, NOW, LIMITS)


@pytest.mark.parametrize(
    "error",
    [FileTooLarge("too large"), OSError(errno.EFBIG, "File too large")],
    ids=["FileTooLarge", "EFBIG"],
)
def test_a_file_too_large_counts_and_is_retried_at_once(error: Exception) -> None:
    assert decide(error, 1, NOW, LIMITS, _never_asked) == Retry(NOW, FILE_TOO_LARGE)


@pytest.mark.parametrize(
    "error",
    [ValueError("bad"), NotADirectoryError(errno.ENOTDIR, "Not a directory")],
    ids=["ValueError", "NotADirectoryError"],
)
def test_an_unforeseen_error_counts_and_gives_its_type(error: Exception) -> None:
    assert decide(error, 1, NOW, LIMITS, _never_asked) == Retry(NOW, type(error).__name__)


def test_a_build_failure_is_never_given_up_on_even_at_the_last_attempt() -> None:
    # The claim counts the attempts (Unfinished): it sees a dead worker's too.
    assert decide(ValueError("bad"), 99, NOW, LIMITS, _never_asked) == Retry(NOW, "ValueError")


# --- an export about to be claimed again --------------------------------------------------


def test_an_unfinished_export_runs_again_below_max_attempts() -> None:
    assert decide(Unfinished(None), 0, NOW, LIMITS) == Retry(NOW, None)
    assert decide(Unfinished("ValueError"), 2, NOW, LIMITS) == Retry(NOW, "ValueError")


def test_an_unfinished_export_at_max_attempts_is_given_up_with_its_last_error() -> None:
    assert decide(Unfinished("ValueError"), 3, NOW, LIMITS) == GiveUp(
        "gave up after 3 attempts; last error: ValueError"
    )
    # A worker that died every time left no error.
    assert decide(Unfinished(None), 4, NOW, LIMITS) == GiveUp("gave up after 4 attempts")


# --- a callback attempt failed ------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(1, 60), (2, 600), (5, 10800), (9, 172800)],
)
def test_a_failed_callback_is_retried_on_didww_schedule(attempts: int, delay: int) -> None:
    decision = decide(CallbackFailed("HTTP 500", retryable=True), attempts, NOW, LIMITS)
    assert decision == Retry(NOW + timedelta(seconds=delay), "HTTP 500")


def test_a_failed_callback_is_dropped_after_the_last_delay() -> None:
    failed = CallbackFailed("HTTP 500", retryable=True)
    assert decide(failed, 10, NOW, LIMITS) == GiveUp("HTTP 500")
    assert decide(failed, 1, NOW, Limits(3, callback_delays=())) == GiveUp("HTTP 500")


def test_a_callback_no_retry_can_help_is_dropped_at_once() -> None:
    refused = CallbackFailed("the destination is a private address", retryable=False)
    assert decide(refused, 1, NOW, LIMITS) == GiveUp("the destination is a private address")
