"""Callback delivery against a real HTTP endpoint on loopback: signed as DIDWW signs, with
each version's payload; retried on a (shortened) schedule with every attempt recorded;
owed across a restart; refused for private addresses unless allowed; never in the way of
other exports or other callbacks while an endpoint hangs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from cdrex.callbacks.signature import sign
from conftest import JSONAPI, Service, run_sql

SECRET = "cb-secret-0123"
FAST_CALLBACKS = {"CDREX_CALLBACK_ALLOW_PRIVATE": "1", "CDREX_CALLBACK_RETRY_DELAYS": "1,1,1"}


@dataclass
class Received:
    method: str
    url: str  # as the receiver sees it: what it passes to a signature validator
    params: dict[str, str]
    signature: str | None


@dataclass
class Endpoint:
    """A callback receiver. ``answer`` decides each reply: a status, or None to hang."""

    answer: Callable[[int], int | None] = lambda n: 200
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, self.received
            time.sleep(0.05)
        return self.received


@contextmanager
def serving(state: Endpoint) -> Iterator[Endpoint]:
    """Run ``state``'s receiver on a loopback port while the block runs."""

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            query = urlsplit(self.path).query
            params = dict(
                parse_qsl(body if self.command == "POST" else query, keep_blank_values=True)
            )
            url = f"http://{self.headers['host']}{self.path}"
            state.received.append(
                Received(self.command, url, params, self.headers.get("x-didww-signature"))
            )
            status = state.answer(len(state.received))
            if status is None:
                state.release.wait(60)
                status = 200
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST = _handle  # noqa: N815 (http.server's names)

        def log_message(self, *args: object) -> None:
            pass

    state.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=state.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        state.server.shutdown()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with serving(Endpoint()) as state:
        yield state


def _account(service: Service, version: str, secret: str | None = SECRET) -> str:
    name = f"cb-{time.monotonic_ns()}"
    key = service.new_account(name)
    args = ["--api-version", version] + (["--callback-secret", secret] if secret else [])
    service.cli("accounts", "update", name, *args)
    return key


def _create(
    service: Service, key: str, version: str, callback_url: str, method: str = "post"
) -> str:
    """An export of this month, through ``version``'s own path and spellings."""
    year, month = time.gmtime()[:2]
    if version == "2026-04-16":
        path, kind = "/v3/exports", {"export_type": "cdr_in"}
        filters = {"from": f"{year}-{month:02d}-01 00:00:00", "to": "2099-01-01 00:00:00"}
    else:
        path, kind = "/v3/cdr_exports", {}
        filters, method = {"year": year, "month": month}, method.upper()
    attributes = {
        **kind,
        "filters": filters,
        "callback_url": callback_url,
        "callback_method": method,
    }
    with service.client(key) as client:
        response = client.post(
            path,
            json={"data": {"type": path[4:], "attributes": attributes}},
            headers={"Content-Type": JSONAPI, "X-DIDWW-API-Version": version},
        )
    assert response.status_code == 201, response.text
    return response.json()["data"]["id"]


def name_of(service: Service, key: str) -> str:
    """The account an API key belongs to, from the key list (which shows prefixes)."""
    listed = service.cli("keys", "list").stdout.decode().splitlines()
    return next(line.split("\t")[1] for line in listed if line.startswith(key[:12]))


def _attempts(service: Service, export_id: str) -> list:
    return run_sql(
        service,
        "SELECT d.status, d.attempts, a.status_code, a.error FROM callback_deliveries d "
        "LEFT JOIN callback_attempts a ON a.delivery_id = d.id WHERE d.export_id = :e "
        "ORDER BY a.id",
        e=export_id,
    )


def _wait_status(service: Service, export_id: str, status: str, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while not (rows := _attempts(service, export_id)) or rows[0][0] != status:
        assert time.monotonic() < deadline, (rows, service.log()[-3000:])
        time.sleep(0.1)
    return rows


def _wait_until(condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _assert_signed(received: Received, secret: str = SECRET) -> None:
    """Valid as a receiver checks it: the URL it was called on and the parameters it got."""
    assert received.signature == sign(secret, received.url, received.params)


@pytest.mark.parametrize(
    ("version", "method"), [("2026-04-16", "post"), ("2026-04-16", "get"), ("2021-04-19", "post")]
)
def test_completed_export_calls_back_signed_with_its_versions_payload(
    make_service,
    endpoint: Endpoint,
    version: str,
    method: str,  # type: ignore[no-untyped-def]
) -> None:
    service = make_service(**FAST_CALLBACKS)
    key = _account(service, version)
    service.start()
    export_id = _create(service, key, version, f"{endpoint.base}/hook?src=cdrex", method)
    (got,) = endpoint.wait_for(1)
    assert got.method == method.upper()
    _assert_signed(got)
    assert got.params["id"] == export_id and got.params["status"] == "completed"
    if version == "2026-04-16":
        assert got.params["type"] == "exports"
        with service.client(key) as client:  # the url is the export's own, and downloads
            shown = client.get(f"/v3/exports/{export_id}").json()["data"]["attributes"]["url"]
            assert got.params["url"] == shown
            assert client.get(shown).content[:2] == b"\x1f\x8b"
    else:
        assert got.params["type"] == "cdr_exports" and "url" not in got.params
    assert _wait_status(service, export_id, "delivered") == [("delivered", 1, 200, None)]


def test_failing_endpoint_is_retried_until_it_recovers_every_attempt_recorded(
    make_service,
    endpoint: Endpoint,  # type: ignore[no-untyped-def]
) -> None:
    endpoint.answer = lambda n: 503 if n <= 2 else 204
    service = make_service(**FAST_CALLBACKS)
    key = _account(service, "2026-04-16")
    service.start()
    export_id = _create(service, key, "2026-04-16", f"{endpoint.base}/flaky")
    rows = _wait_status(service, export_id, "delivered")
    assert [(code, error) for _, _, code, error in rows] == [
        (503, "HTTP 503"),
        (503, "HTTP 503"),
        (204, None),
    ]
    assert len(endpoint.received) == 3
    for got in endpoint.received:
        _assert_signed(got)
    listed = service.cli("callbacks", "list").stdout.decode().splitlines()
    assert [line.split("\t")[1:] for line in listed] == [
        [export_id, name_of(service, key), "completed", "delivered", "3", ""]
    ]


def test_callback_dropped_after_the_last_retry(make_service, endpoint: Endpoint) -> None:  # type: ignore[no-untyped-def]
    endpoint.answer = lambda n: 500
    service = make_service(**{**FAST_CALLBACKS, "CDREX_CALLBACK_RETRY_DELAYS": "1"})
    key = _account(service, "2026-04-16")
    service.start()
    export_id = _create(service, key, "2026-04-16", f"{endpoint.base}/down")
    rows = _wait_status(service, export_id, "dropped")
    assert [row[2] for row in rows] == [500, 500]  # the first attempt and one retry


def test_a_callback_owed_survives_a_restart(make_service, endpoint: Endpoint) -> None:  # type: ignore[no-untyped-def]
    # No senders in the first process: the export completes and the callback stays owed.
    service = make_service(**FAST_CALLBACKS, CDREX_CALLBACK_SENDERS="0")
    key = _account(service, "2026-04-16")
    service.start()
    export_id = _create(service, key, "2026-04-16", f"{endpoint.base}/later")
    _wait_status(service, export_id, "pending")
    service.stop()
    assert endpoint.received == []
    service.extra_env["CDREX_CALLBACK_SENDERS"] = "2"
    service.start()
    (got,) = endpoint.wait_for(1)
    assert got.params["id"] == export_id
    _wait_status(service, export_id, "delivered")


def test_private_destinations_are_refused_unless_allowed(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(CDREX_CALLBACK_RETRY_DELAYS="1")  # private addresses not allowed
    key = _account(service, "2026-04-16")
    service.start()
    for host in ("127.0.0.1", "localhost", "169.254.169.254", "10.0.0.7", "[::1]"):
        export_id = _create(service, key, "2026-04-16", f"http://{host}:9/hook")
        (_, attempts, code, error) = _wait_status(service, export_id, "dropped")[0]
        assert (attempts, code) == (1, None)  # refused at once, never retried
        assert f"callback host {host.strip('[]')!r} resolves to" in error
        with service.client(key) as client:  # the export itself is not affected
            attributes = client.get(f"/v3/exports/{export_id}").json()["data"]["attributes"]
            assert attributes["status"] == "completed"


def test_no_secret_no_callback(make_service, endpoint: Endpoint) -> None:  # type: ignore[no-untyped-def]
    service = make_service(**FAST_CALLBACKS)
    key = _account(service, "2026-04-16", secret=None)
    service.start()
    export_id = _create(service, key, "2026-04-16", f"{endpoint.base}/nosecret")
    rows = _wait_status(service, export_id, "dropped")
    assert "callback secret" in rows[0][3]
    assert endpoint.received == []


def test_a_hanging_endpoint_delays_neither_exports_nor_other_callbacks(
    make_service,
    endpoint: Endpoint,  # type: ignore[no-untyped-def]
) -> None:
    endpoint.answer = lambda n: None if n == 1 else 200  # the first request hangs
    service = make_service(**FAST_CALLBACKS, CDREX_CALLBACK_TIMEOUT_SECONDS="30")
    key = _account(service, "2026-04-16")
    service.start()
    hanging = _create(service, key, "2026-04-16", f"{endpoint.base}/hangs")
    endpoint.wait_for(1)  # a sender is now stuck in that request
    started = time.monotonic()
    others = [_create(service, key, "2026-04-16", f"{endpoint.base}/fine") for _ in range(3)]
    got = endpoint.wait_for(4, timeout=15)
    assert {r.params["id"] for r in got[1:]} == set(others)
    assert time.monotonic() - started < 10
    with service.client(key) as client:
        for export_id in others:
            data = client.get(f"/v3/exports/{export_id}").json()["data"]
            assert data["attributes"]["status"] == "completed"
    assert _attempts(service, hanging)[0][:2] == ("sending", 1)  # still in its attempt
    endpoint.release.set()
    _wait_status(service, hanging, "delivered")


def test_one_accounts_hanging_endpoints_leave_senders_for_other_accounts(
    make_service,
    endpoint: Endpoint,  # type: ignore[no-untyped-def]
) -> None:
    # Four senders (the default); an account may hold half of them.
    service = make_service(**FAST_CALLBACKS, CDREX_CALLBACK_TIMEOUT_SECONDS="20")
    slow_key, other_key = _account(service, "2026-04-16"), _account(service, "2026-04-16")
    service.start()
    with serving(Endpoint(answer=lambda n: None)) as hanging:
        slow = [_create(service, slow_key, "2026-04-16", f"{hanging.base}/hangs") for _ in range(4)]
        for export_id in slow:  # every one of its callbacks is owed, and due
            _wait_until(lambda export_id=export_id: _attempts(service, export_id))
        hanging.wait_for(2)
        time.sleep(1)  # five polls: time for every idle sender to claim what it may
        started = time.monotonic()
        other = _create(service, other_key, "2026-04-16", f"{endpoint.base}/waits")
        (got,) = endpoint.wait_for(1, timeout=10)  # not after the 20 s the others hang
        latency = time.monotonic() - started
        assert got.params["id"] == other
        assert len(hanging.received) == 2, latency  # the rest wait for a free share
        hanging.release.set()
        for export_id in slow:
            _wait_status(service, export_id, "delivered")


def test_callback_for_a_failed_export_says_failed(make_service, endpoint: Endpoint) -> None:  # type: ignore[no-untyped-def]
    import shutil

    service = make_service(**FAST_CALLBACKS, CDREX_MAX_ATTEMPTS="1")
    key = _account(service, "2026-04-16")
    service.start()
    partial = service.data_dir / "exports" / "partial"  # files can no longer be written
    shutil.rmtree(partial)
    partial.write_bytes(b"")
    export_id = _create(service, key, "2026-04-16", f"{endpoint.base}/failed")
    (got,) = endpoint.wait_for(1)
    assert got.params == {"id": export_id, "type": "exports", "status": "failed"}
    _assert_signed(got)


def test_callback_url_must_be_a_url(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    key = _account(service, "2026-04-16")
    service.start()
    year, month = time.gmtime()[:2]
    this_month = {"from": f"{year}-{month:02d}-01 00:00:00", "to": "2099-01-01 00:00:00"}
    with service.client(key) as client:
        for bad in ("ftp://example.com/x", "not a url", "http://", 42):
            response = client.post(
                "/v3/exports",
                headers={"Content-Type": JSONAPI},
                json={
                    "data": {
                        "type": "exports",
                        "attributes": {
                            "export_type": "cdr_in",
                            "callback_url": bad,
                            "callback_method": "post",
                            "filters": this_month,
                        },
                    }
                },
            )
            assert response.status_code == 422, (bad, response.text)
            assert response.json()["errors"][0]["source"]["pointer"] == (
                "/data/attributes/callback_url"
            )
