"""Callback signing, destination checks, retry schedule and delivery (src/cdrex/callbacks).

The decisive test feeds our requests to DIDWW's own Python SDK validator (didww==3.2.0, in a
separate venv) the way a receiving application would: if it accepts them, customers' existing
receivers accept cdrex callbacks.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from cdrex.callbacks.destinations import (
    RefusedDestination,
    check_destination,
    validate_callback_url,
)
from cdrex.callbacks.schedule import RETRY_DELAYS_SECONDS, next_attempt_delay, parse_delays
from cdrex.callbacks.send import send_callback
from cdrex.callbacks.signature import (
    PreparedCallback,
    callback_payload,
    callback_request,
    normalize_url,
    sign,
)
from conftest import SAMPLES
from sdk_env import SdkEnvs

VECTORS_FILE = SAMPLES / "callback_signature_vectors.json"
VECTORS = json.loads(VECTORS_FILE.read_text())["cases"]
SECRET = "my-callback-secret"
EXPORT_ID = "5f4e1a52-0b7a-4c55-9a6e-0f2f6a0c8d11"
DOWNLOAD_URL = f"https://api.example.test/v3/exports/{EXPORT_ID}.csv.gz"


# --- signature -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS, ids=lambda c: f"{c['url']}-{c['valid']}")
def test_signature_vectors(case: dict) -> None:
    ours = sign(case["secret"], case["url"], case["payload"])
    if case["valid"]:
        assert ours == case["signature"]
    else:
        assert ours != case["signature"]
    if "signed_string" in case:
        payload = case["payload"]
        tail = "".join(k + payload[k] for k in sorted(payload))
        assert normalize_url(case["url"]) + tail == case["signed_string"]


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("http://foo.com/bar", "http://foo.com:80/bar"),
        ("http://foo.com:443/bar", "http://foo.com:443/bar"),
        ("https://foo.com:80/bar", "https://foo.com:80/bar"),
        ("https://foo.com/bar?qwe=asd#baz", "https://foo.com:443/bar?qwe=asd#baz"),
        ("https://qwe:asd@foo.com/bar", "https://qwe:asd@foo.com:443/bar"),
        ("http://user@foo.com/bar", "http://user@foo.com:80/bar"),
        ("http://[::1]/bar", "http://[::1]:80/bar"),
        ("https://[::1]:9090/bar", "https://[::1]:9090/bar"),
        ("http://FOO.Example.COM/Bar", "http://foo.example.com:80/Bar"),
        ("http://foo.com/foo%2Fbar", "http://foo.com:80/foo%2Fbar"),
        ("http://foo.com/hello%20world", "http://foo.com:80/hello%20world"),
        ("http://foo.com", "http://foo.com:80"),
        ("http://foo.com?x=1", "http://foo.com:80?x=1"),
    ],
)
def test_normalize_url(url: str, normalized: str) -> None:
    assert normalize_url(url) == normalized


def test_callback_payload() -> None:
    assert callback_payload(EXPORT_ID, "exports", DOWNLOAD_URL) == {
        "id": EXPORT_ID,
        "type": "exports",
        "status": "completed",
        "url": DOWNLOAD_URL,
    }
    assert callback_payload(EXPORT_ID, "cdr_exports", None, status="failed") == {
        "id": EXPORT_ID,
        "type": "cdr_exports",
        "status": "failed",
    }


def test_post_request_matches_spec_example() -> None:
    payload = callback_payload(EXPORT_ID, "exports", DOWNLOAD_URL)
    request = callback_request("https://hooks.example.test/didww/exports", "POST", payload, SECRET)
    assert request.method == "POST"
    assert request.url == "https://hooks.example.test/didww/exports"
    assert request.headers == {
        "User-Agent": "cdrex-callbacks",
        "Content-Type": "application/x-www-form-urlencoded",
        "X-DIDWW-Signature": "e9a55721178b74f3859777741731d3428763be0a",
    }
    quoted_url = f"https%3A%2F%2Fapi.example.test%2Fv3%2Fexports%2F{EXPORT_ID}.csv.gz"
    body = f"id={EXPORT_ID}&status=completed&type=exports&url={quoted_url}"
    assert request.body == body.encode()


def test_get_request_reproduces_sandbox_vector() -> None:
    case = next(c for c in VECTORS if "callback.php" in c["url"])
    request = callback_request(
        "http://example.com/callback.php", "get", case["payload"], case["secret"]
    )
    assert request.method == "GET"
    assert request.body is None
    assert "Content-Type" not in request.headers
    assert request.url == case["url"]
    assert request.headers["X-DIDWW-Signature"] == case["signature"]


def test_get_request_appends_to_existing_query_and_drops_fragment() -> None:
    payload = callback_payload(EXPORT_ID, "exports", None)
    request = callback_request("https://h.example.test/cb?src=cdr#frag", "GET", payload, SECRET)
    assert request.url == (
        f"https://h.example.test/cb?src=cdr&id={EXPORT_ID}&status=completed&type=exports"
    )
    received = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    assert request.headers["X-DIDWW-Signature"] == sign(SECRET, request.url, received)


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="GET or POST"):
        callback_request("https://h.example.test/cb", "PUT", {}, SECRET)


# --- the official SDK validator accepts our signatures ---------------------------------------

SDK_SCRIPT = """
import json, sys
from didww.callback.request_validator import RequestValidator
results = [
    RequestValidator(c["secret"]).validate(c["url"], c["payload"], c["signature"])
    for c in json.load(sys.stdin)
]
print(json.dumps(results))
"""


@pytest.fixture(scope="session")
def sdk_python(sdk_envs: SdkEnvs) -> Path:
    """A venv with DIDWW's Python SDK 3.2.0 (conftest.sdk_envs); failure fails the test."""
    return sdk_envs.python("3.2.0")


def sdk_validate(python: Path, cases: list[dict]) -> list[bool]:
    """Run the SDK's RequestValidator.validate(url, payload, signature) on every case."""
    done = subprocess.run(
        [str(python), "-c", SDK_SCRIPT],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def as_received(request: PreparedCallback, secret: str) -> dict:
    """What a receiving app hands the validator: POST -> its configured callback URL and the
    form fields; GET -> the full request URL and its query parameters."""
    if request.method == "POST":
        assert request.body is not None
        fields = parse_qsl(request.body.decode(), keep_blank_values=True)
    else:
        fields = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
    return {
        "secret": secret,
        "url": request.url,
        "payload": dict(fields),
        "signature": request.headers["X-DIDWW-Signature"],
    }


def test_sdk_validator_accepts_our_signatures(sdk_python: Path) -> None:
    with_url = callback_payload(EXPORT_ID, "exports", DOWNLOAD_URL)
    without_url = callback_payload(EXPORT_ID, "cdr_exports", None)
    requests = [
        callback_request(url, method, payload, SECRET)
        for method in ("POST", "GET")
        for payload in (with_url, without_url)
        for url in (
            "https://hooks.example.test/didww/exports",
            "http://hooks.example.test:8080/didww/exports?src=cdr&x=a%20b",
            "https://Hooks.Example.test:8443/cb?token=abc",
            "http://[2001:db8::1]:9090/cb",
            "https://user:pw@hooks.example.test/cb#frag",
        )
    ]
    cases = [as_received(r, SECRET) for r in requests]
    # Every published vector, signed by us, for the URL normaliser's corner cases.
    cases += [{**c, "signature": sign(c["secret"], c["url"], c["payload"])} for c in VECTORS]
    assert sdk_validate(sdk_python, cases) == [True] * len(cases)
    # The harness can say no: a wrong secret and a tampered payload are rejected.
    wrong_secret = {**cases[0], "secret": "other"}
    tampered = {**cases[1], "payload": {**cases[1]["payload"], "status": "failed"}}
    assert sdk_validate(sdk_python, [wrong_secret, tampered]) == [False, False]


# --- destinations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/cb",
        "http://10.1.2.3:8080/cb",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/cb",
        "http://[fe80::1]/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://0.0.0.0/cb",
        "http://224.0.0.1/cb",
        "http://100.64.0.1/cb",
        "http://localhost:9000/cb",
    ],
)
def test_internal_destinations_are_refused(url: str) -> None:
    with pytest.raises(RefusedDestination, match="resolves to"):
        check_destination(url, allow_private=False)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.216.34/cb", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("http:///cb", "host"),
    ],
)
def test_bad_scheme_or_host_is_refused(url: str, message: str) -> None:
    with pytest.raises(RefusedDestination, match=message):
        check_destination(url, allow_private=True)


def test_public_ip_literal_is_allowed_without_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise AssertionError("an IP literal must not be resolved")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    check_destination("https://93.184.216.34/cb", allow_private=False)
    check_destination("http://[2606:2800:220:1:248:1893:25c8:1946]:8080/cb", allow_private=False)


def fake_dns(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        family = socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, "93.184.216.34")
    check_destination("https://hooks.example.test/cb", allow_private=False)
    fake_dns(monkeypatch, "93.184.216.34", "192.168.1.5")
    with pytest.raises(RefusedDestination, match=r"private address 192\.168\.1\.5"):
        check_destination("https://hooks.example.test/cb", allow_private=False)


def test_unresolvable_host_is_refused() -> None:
    with pytest.raises(RefusedDestination, match="does not resolve"):
        check_destination("https://no-such-host.invalid/cb", allow_private=False)


def test_allow_private_lets_loopback_through() -> None:
    check_destination("http://127.0.0.1:8080/cb", allow_private=True)
    check_destination("http://localhost/cb", allow_private=True)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://hooks.example.test/cb?x=1", None),
        ("http://127.0.0.1:8080/cb", None),
        ("ftp://hooks.example.test/cb", "http or https"),
        ("hooks.example.test/cb", "http or https"),
        ("https:///cb", "host"),
        ("https://hooks.example.test/a b", "whitespace"),
        ("https://hooks.example.test/cb\n", "whitespace"),
        ("https://hooks.example.test/cb\x00", "control characters"),
        ("https://hooks.example.test/\x7fcb", "control characters"),
        ("https://hooks.example.test:99999/cb", "not a valid URL"),
        ("https://hooks.example.test/" + "a" * 2000, "at most 2000"),
    ],
)
def test_validate_callback_url(url: str, error: str | None) -> None:
    result = validate_callback_url(url)
    if error is None:
        assert result is None
    else:
        assert result is not None and error in result


# --- retry schedule ----------------------------------------------------------------------------


def test_didww_retry_schedule() -> None:
    assert RETRY_DELAYS_SECONDS == (60, 600, 1800, 3600, 10800, 21600, 43200, 86400, 172800)
    assert next_attempt_delay(0, RETRY_DELAYS_SECONDS) == 0
    assert next_attempt_delay(1, RETRY_DELAYS_SECONDS) == 60  # before attempt 2
    assert next_attempt_delay(9, RETRY_DELAYS_SECONDS) == 172800  # before attempt 10
    assert next_attempt_delay(10, RETRY_DELAYS_SECONDS) is None  # dropped after 10 attempts
    assert next_attempt_delay(1, ()) is None
    with pytest.raises(ValueError):
        next_attempt_delay(-1, RETRY_DELAYS_SECONDS)


def test_parse_delays() -> None:
    assert parse_delays("1,1,2") == (1, 1, 2)
    assert parse_delays(" 0, 5 ,60 ") == (0, 5, 60)
    assert parse_delays("") == ()
    for bad in ("1,,2", "1,-1", "a", "1.5", "1;2"):
        with pytest.raises(ValueError):
            parse_delays(bad)


# --- delivery ----------------------------------------------------------------------------------


class Recorder(BaseHTTPRequestHandler):
    """Records each request; the path picks the answer (/fail -> 500, /moved -> 302)."""

    received: list[dict] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append(
            {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers),
                "body": self.rfile.read(length),
            }
        )
        status = 500 if self.path.startswith("/fail") else 200
        if self.path.startswith("/moved"):
            status = 302
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer  # noqa: N815 - http.server dispatches on these names

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def test_post_delivery_is_signed(receiver: str, client: httpx.Client) -> None:
    Recorder.received.clear()
    url = f"{receiver}/hook?src=cdr"
    payload = callback_payload(EXPORT_ID, "exports", DOWNLOAD_URL)
    outcome = send_callback(client, callback_request(url, "POST", payload, SECRET), timeout=5)
    assert outcome.ok and outcome.status_code == 200 and outcome.error is None
    [seen] = Recorder.received
    assert seen["method"] == "POST" and seen["path"] == "/hook?src=cdr"
    assert seen["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen["headers"]["User-Agent"] == "cdrex-callbacks"
    fields = dict(parse_qsl(seen["body"].decode(), keep_blank_values=True))
    assert fields == payload
    assert seen["headers"]["X-DIDWW-Signature"] == sign(SECRET, url, fields)


def test_delivery_connects_to_the_checked_address_not_a_new_lookup(
    receiver: str, client: httpx.Client
) -> None:
    """DNS rebinding: the name is never resolved again after check_destination; the
    request goes to the address it approved, and still names the host it was meant for."""
    Recorder.received.clear()
    port = urlsplit(receiver).port
    url = f"http://callback-host.invalid:{port}/pinned"  # .invalid never resolves
    request = callback_request(url, "POST", callback_payload(EXPORT_ID, "exports", None), SECRET)
    outcome = send_callback(client, request, 5, ipaddress.ip_address("127.0.0.1"))
    assert outcome.ok, outcome
    [seen] = Recorder.received
    assert seen["path"] == "/pinned"
    assert seen["headers"]["Host"] == f"callback-host.invalid:{port}"
    assert not send_callback(client, request, 5).ok  # by name it cannot be reached at all


def test_checked_address_is_the_one_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, "93.184.216.34", "93.184.216.35")
    assert check_destination("https://example.test/cb", allow_private=False) == (
        ipaddress.ip_address("93.184.216.34")
    )
    assert check_destination("https://example.test/cb", allow_private=True) is None


def test_get_delivery_carries_query(receiver: str, client: httpx.Client) -> None:
    Recorder.received.clear()
    payload = callback_payload(EXPORT_ID, "exports", DOWNLOAD_URL)
    request = callback_request(f"{receiver}/hook", "GET", payload, SECRET)
    assert send_callback(client, request, timeout=5).ok
    [seen] = Recorder.received
    assert seen["method"] == "GET" and seen["body"] == b""
    full_url = receiver + seen["path"]
    fields = dict(parse_qsl(urlsplit(full_url).query, keep_blank_values=True))
    assert fields == payload
    assert seen["headers"]["X-DIDWW-Signature"] == sign(SECRET, full_url, fields)


def test_wire_requests_pass_the_sdk_validator(
    receiver: str, client: httpx.Client, sdk_python: Path
) -> None:
    """End to end: the bytes that actually arrived, as a receiver would read them."""
    Recorder.received.clear()
    payload = callback_payload(EXPORT_ID, "exports", DOWNLOAD_URL)
    urls = [f"{receiver}/hook", f"{receiver}/hook?src=cdr&v=1"]
    for method in ("POST", "GET"):
        for url in urls:
            assert send_callback(client, callback_request(url, method, payload, SECRET), 5).ok
    cases = []
    for seen, url in zip(Recorder.received, urls * 2, strict=True):
        if seen["method"] == "POST":
            fields = parse_qsl(seen["body"].decode(), keep_blank_values=True)
        else:
            url = receiver + seen["path"]
            fields = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        signature = seen["headers"]["X-DIDWW-Signature"]
        cases.append(
            {"secret": SECRET, "url": url, "payload": dict(fields), "signature": signature}
        )
    assert sdk_validate(sdk_python, cases) == [True] * 4


def test_non_2xx_is_a_failure(receiver: str, client: httpx.Client) -> None:
    request = callback_request(f"{receiver}/fail", "POST", {"id": "1"}, SECRET)
    outcome = send_callback(client, request, timeout=5)
    assert not outcome.ok and outcome.status_code == 500 and outcome.error == "HTTP 500"


def test_redirects_are_not_followed(receiver: str, client: httpx.Client) -> None:
    Recorder.received.clear()
    request = callback_request(f"{receiver}/moved", "POST", {"id": "1"}, SECRET)
    outcome = send_callback(client, request, timeout=5)
    assert not outcome.ok and outcome.status_code == 302
    assert [r["path"] for r in Recorder.received] == ["/moved"]


def test_closed_port_is_a_failure(client: httpx.Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = callback_request(f"http://127.0.0.1:{port}/cb", "POST", {"id": "1"}, SECRET)
    outcome = send_callback(client, request, timeout=5)
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error and "ConnectError" in outcome.error


def test_silent_receiver_times_out(client: httpx.Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()  # the kernel accepts the connection, nobody ever answers
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/cb"
        outcome = send_callback(client, callback_request(url, "GET", {"id": "1"}, SECRET), 0.3)
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error and outcome.error.startswith("timeout")
    assert 250 <= outcome.elapsed_ms < 5000
