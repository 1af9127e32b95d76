"""What a request may cost the server: a head of at most 16 KiB of target and 16 KiB of header
fields (414, 431, refused while it arrives), list pages cached within a byte budget, and an
unexpected error that says it closes the connection. Memory is measured as the server
process's resident set (VmRSS), with margins wide enough for a loaded machine."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conftest import JSONAPI, Service, assert_error, month_back, run_sql

MIB = 1024 * 1024
V2026 = {"X-DIDWW-API-Version": "2026-04-16"}
V2021 = {"X-DIDWW-API-Version": "2021-04-19"}  # cdr_exports, with callback_url


@pytest.fixture(scope="module")
def server(new_api_service) -> Service:  # type: ignore[no-untyped-def]
    """A server of this module's own (its memory is measured), without workers: nothing
    commits while a test runs, so cached pages stay current."""
    service = new_api_service()
    service.start("--workers", "0")
    return service


@pytest.fixture(scope="module")
def key(server: Service) -> str:
    return server.new_account()


@pytest.fixture
def client(server: Service, key: str) -> Iterator[httpx.Client]:
    with server.client(key) as client:
        yield client


class PeakMemory:
    """The growth of the server's peak resident set (VmHWM) over a block, in MiB: the peak is
    reset on entry, so memory held only briefly counts too."""

    def __init__(self, service: Service, limit_mib: float) -> None:
        assert service.process is not None
        self._proc = Path(f"/proc/{service.process.pid}")
        self._limit = limit_mib

    def _field(self, name: str) -> float:
        status = (self._proc / "status").read_text()
        line = next(line for line in status.splitlines() if line.startswith(name + ":"))
        return int(line.split()[1]) / 1024

    def __enter__(self) -> PeakMemory:
        (self._proc / "clear_refs").write_text("5")  # VmHWM := VmRSS
        self._before = self._field("VmRSS")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            grown = self._field("VmHWM") - self._before
            assert grown < self._limit, f"peak memory grew by {grown:.1f} MiB"


def send_raw(service: Service, head: bytes, stream: bytes = b"", megabytes: int = 0) -> bytes:
    """Send ``head``, then ``stream`` ``megabytes`` MiB of ``stream`` bytes (or until the
    server stops reading), then a blank line; return what the server answered."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        try:
            sock.sendall(head)
            for _ in range(megabytes):
                sock.sendall(stream * (MIB // len(stream)))
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # refused mid-send: the answer was written before the connection closed
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer


def assert_refusal(answer: bytes, status: int) -> dict:
    """A raw answer is the JSON:API refusal with this status, closing the connection."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), answer[:300]
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"] == JSONAPI
    assert headers["connection"] == "close"
    document = json.loads(body)
    assert document["errors"][0]["status"] == str(status), document
    return document["errors"][0]


def test_header_fields_over_16_kib_are_431(server: Service, client: httpx.Client) -> None:
    assert client.get("/v3/cdr_exports", headers={"X-Pad": "a" * 16_000}).status_code == 200
    for headers in ({"X-Pad": "a" * 17_000}, {f"X-Pad-{n}": "a" * 100 for n in range(170)}):
        response = client.get("/v3/cdr_exports", headers=headers)
        error = assert_error(response, 431, code="431")
        assert "16384 bytes" in error["detail"], error
        assert response.headers["connection"] == "close"
    assert client.get("/v3/cdr_exports").status_code == 200


def test_request_targets_over_16_kib_are_414(server: Service, client: httpx.Client) -> None:
    assert client.get("/v3/cdr_exports/" + "a" * 16_000).status_code == 404
    response = client.get("/v3/cdr_exports/" + "a" * 17_000)
    assert_error(response, 414, code="414")
    assert response.headers["connection"] == "close"


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET /v3/cdr_exports HTTP/1.1\r\nHost: x\r\nX-Big: ", 431),
        (b"GET /v3/cdr_exports?a=", 414),
    ],
    ids=["header", "target"],
)
def test_a_64_mib_head_is_refused_while_it_arrives(
    server: Service, key: str, head: bytes, status: int
) -> None:
    """httptools keeps a head until it ends: 64 MiB in one header field took the server from
    77 to 205 MB (ten at once: 643 MB). Four at once must cost next to nothing."""
    with PeakMemory(server, limit_mib=16), ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: send_raw(server, head, b"a", 64), range(4)))
    for answer in answers:
        assert_refusal(answer, status)
    with server.client(key) as client:
        assert client.get("/v3/cdr_exports").status_code == 200  # still serving


def test_an_endless_chunked_trailer_closes_the_connection(server: Service) -> None:
    """Trailer fields after a chunked body are held like header fields: no more than them."""
    head = (
        b"POST /v3/cdr_exports HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1\r\na\r\n0\r\nX-Trailer: "
    )
    with PeakMemory(server, limit_mib=16):
        send_raw(server, head, b"a", 64)  # the answer (401) may or may not precede the close


def test_distinct_over_long_list_queries_are_refused_and_cost_nothing(
    server: Service, client: httpx.Client
) -> None:
    """600 list requests with distinct 65 KB queries took a server to 896 MB; 300 here."""
    with PeakMemory(server, limit_mib=16):
        for n in range(300):
            query = f"filter[external_reference_id]={n:05d}" + "r" * 65_000
            assert client.get(f"/v3/exports?{query}", headers=V2026).status_code == 414


def test_cached_list_pages_stay_within_the_byte_budget(server: Service) -> None:
    """Pages of 100 exports with 2,000-character callback URLs are about 250 KB each: 300
    distinct query strings for them would hold 75 MB in a cache of 256 entries; the default
    budget is 4 MiB. (The queries differ only in empty items of fields[...], so the
    database sees one statement and its caches do not grow.)"""
    with server.client(server.new_account()) as client:
        year, month = month_back(0)
        attributes = {
            "filters": {"year": year, "month": month},
            "callback_url": "https://hooks.example.com/" + "c" * 1_970,
        }
        body = json.dumps({"data": {"type": "cdr_exports", "attributes": attributes}}).encode()
        for _ in range(100):
            response = client.post(
                "/v3/cdr_exports", content=body, headers={"Content-Type": JSONAPI, **V2021}
            )
            assert response.status_code == 201, response.text
        with PeakMemory(server, limit_mib=16):
            for n in range(300):
                query = "page[size]=100&fields[cdr_exports]=callback_url" + "," * n
                response = client.get(f"/v3/cdr_exports?{query}", headers=V2021)
                assert response.status_code == 200, response.text
                assert len(response.content) > 200_000


def test_an_unexpected_error_is_a_500_document_closing_the_connection(
    server: Service, key: str
) -> None:
    """A row no version can show (its status corrupted outside cdrex) is the one way left
    to make the handler fail; the answer must say the connection closes, not reset it."""
    with server.client(key) as client:
        year, month = month_back(0)
        body = {
            "data": {
                "type": "cdr_exports",
                "attributes": {"filters": {"year": year, "month": month}},
            }
        }
        created = client.post(
            "/v3/cdr_exports", content=json.dumps(body).encode(), headers={"Content-Type": JSONAPI}
        )
        export_id = created.json()["data"]["id"]
        run_sql(server, "UPDATE exports SET status = 'corrupt' WHERE id = :id", id=export_id)
        response = client.get(f"/v3/cdr_exports/{export_id}")
        assert_error(response, 500, code="500")
        assert response.headers["connection"] == "close"
        assert client.get(f"/v3/cdr_exports/{uuid.uuid4()}").status_code == 404
