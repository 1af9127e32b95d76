"""Callback senders: deliver what finished exports owe, off the export path.

Each worker process runs ``settings.callback_senders`` of these threads next to its export
workers: an endpoint that hangs holds one sender for at most the timeout and never an
export. Every attempt is recorded; when a failure is retried is cdrex.worker.retry's.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import httpx

from cdrex.api.urls import file_url
from cdrex.callbacks.destinations import (
    RefusedDestination,
    UnresolvableDestination,
    check_destination,
)
from cdrex.callbacks.send import DeliveryOutcome, send_callback
from cdrex.callbacks.signature import callback_payload, callback_request
from cdrex.exports.model import ExportStatus
from cdrex.exports.versions import VERSIONS
from cdrex.settings import Settings
from cdrex.store.callback_queue import DueCallback, claim_due_callback, record_attempt
from cdrex.store.db import UNAVAILABLE_ERRORS, Database
from cdrex.worker.retry import CallbackFailed, Limits, Retry, decide

log = logging.getLogger("cdrex.callbacks")


class CallbackSender:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        # The lease: longer than an attempt can take, so no two senders make the same one.
        self.lease = timedelta(seconds=settings.callback_timeout_seconds + 30)
        self.client = httpx.Client(follow_redirects=False)
        self.limits = Limits(settings.max_attempts, settings.callback_retry_delays)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                sent = self.run_once()
            except UNAVAILABLE_ERRORS as error:
                log.warning("callbacks: database unavailable: %s", str(error).splitlines()[0])
                sent = False
            except Exception:
                log.exception("callbacks: unexpected error; retrying shortly")
                sent = False
            if not sent:
                stop.wait(self.settings.poll_seconds)
        self.client.close()

    def run_once(self) -> bool:
        """Make one due attempt; False when none is due."""
        due = claim_due_callback(
            self.db, datetime.now(UTC), self.lease, self.settings.callback_per_account
        )
        if due is None:
            return False
        outcome, retry = self._attempt(due)
        now = datetime.now(UTC)
        retry_at = None
        if not outcome.ok:
            assert outcome.error is not None  # every failed outcome says why
            failure = CallbackFailed(outcome.error, retryable=retry)
            decision = decide(failure, due.attempts_made + 1, now, self.limits)
            retry_at = decision.at if isinstance(decision, Retry) else None
        status = record_attempt(self.db, due.delivery_id, now, outcome, retry_at)
        log.info(
            "callbacks: export %s %s callback attempt %d: %s (%s)",
            due.export.id,
            due.event,
            due.attempts_made + 1,
            status,
            outcome.error or outcome.status_code,
        )
        return True

    def _attempt(self, due: DueCallback) -> tuple[DeliveryOutcome, bool]:
        """The outcome of one attempt, and whether a failure may be retried."""
        export = due.export
        if due.secret is None:
            return _refused("the account has no callback secret; callbacks are not sent"), False
        assert export.callback_url is not None and export.callback_method is not None
        try:
            address = check_destination(export.callback_url, self.settings.callback_allow_private)
        except UnresolvableDestination as error:
            return _refused(str(error)), True  # DNS may answer next time
        except RefusedDestination as error:
            return _refused(str(error)), False
        request = callback_request(
            export.callback_url,
            export.callback_method.value.upper(),
            self._payload(due),
            due.secret,
        )
        timeout = self.settings.callback_timeout_seconds
        return send_callback(self.client, request, timeout, address), True

    def _payload(self, due: DueCallback) -> dict[str, str]:
        """As the version the export was created with sends it (spec §9.2)."""
        export, version = due.export, VERSIONS[due.export.api_version]
        url = None
        if version.callback_has_url and due.event == ExportStatus.COMPLETED.value:
            url = file_url(export.base_url or self.settings.public_url or "", version, export)
        return callback_payload(export.id, version.callback_type, url, status=due.event)


def _refused(reason: str) -> DeliveryOutcome:
    return DeliveryOutcome(ok=False, status_code=None, error=reason, elapsed_ms=0)


def start_senders(
    db: Database, settings: Settings, stop: threading.Event
) -> list[threading.Thread]:
    threads = [
        threading.Thread(
            target=CallbackSender(db, settings).run,
            args=(stop,),
            name=f"callback-sender-{n}",
            daemon=True,
        )
        for n in range(settings.callback_senders)
    ]
    for thread in threads:
        thread.start()
    return threads
