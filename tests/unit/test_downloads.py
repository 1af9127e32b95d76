"""ExportFileResponse (cdrex.api.downloads) over the in-memory store: the HTTP of a
download decided in one place, whatever the store (tests/test_download.py and
tests/test_s3.py run it through `cdrex serve` on a local directory and on S3)."""

from __future__ import annotations

import asyncio
import hashlib
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from cdrex.api.context import AppContext
from cdrex.api.downloads import ExportFileResponse
from cdrex.api.errors import ApiError, on_api_error
from cdrex.pipeline.memory_files import MemoryFiles

DATA = bytes(range(256)) * 1000
ETAG = f'"{hashlib.sha256(DATA).hexdigest()}"'


class PresigningFiles(MemoryFiles):
    """A store that can presign, as S3 can."""

    def presigned_url(
        self, name: str, seconds: int, content_type: str, content_disposition: str
    ) -> str | None:
        return f"https://files.example/{name}?expires={seconds}"


class _Client:
    """Requests to an ASGI app, in this thread (httpx's ASGI transport)."""

    def __init__(self, app: Starlette) -> None:
        self.transport = httpx.ASGITransport(app=app)

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://t") as c:
                return await c.request(method, path, **options)

        return asyncio.run(send())

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def head(self, path: str, **options: Any) -> httpx.Response:
        return self.request("HEAD", path, **options)


def _client(files: MemoryFiles, presign_seconds: int | None = None) -> _Client:
    # What the response asks of the app's context: the store, and a way off the event loop.
    context = cast(AppContext, SimpleNamespace(files=files, run=run_in_threadpool))

    async def endpoint(request: Request) -> ExportFileResponse:
        return ExportFileResponse(
            context,
            "a.csv",
            media_type="text/csv",
            etag=ETAG,
            size=len(DATA),
            presign_seconds=presign_seconds,
        )

    app = Starlette(
        routes=[Route("/a.csv", endpoint, methods=["GET", "HEAD"])],
        exception_handlers={ApiError: on_api_error},
    )
    return _Client(app)


@pytest.fixture
def files() -> MemoryFiles:
    store = MemoryFiles()
    with store.writer("a.csv") as out:
        out.write(DATA)
    return store


def test_the_whole_file_and_its_headers(files: MemoryFiles) -> None:
    response = _client(files).get("/a.csv")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="a.csv"'
    assert response.headers["etag"] == ETAG
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["cache-control"] == "private"
    assert "last-modified" in response.headers


def test_head_has_the_headers_without_the_body(files: MemoryFiles) -> None:
    client = _client(files)
    full, head = client.get("/a.csv"), client.head("/a.csv")
    assert head.status_code == 200
    assert head.content == b""
    assert dict(head.headers) == dict(full.headers)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_one_range_is_206(files: MemoryFiles, method: str) -> None:
    response = _client(files).request(method, "/a.csv", headers={"Range": "bytes=10-19"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 10-19/{len(DATA)}"
    assert response.headers["content-length"] == "10"
    assert response.content == (DATA[10:20] if method == "GET" else b"")


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=0-1,5-6"},  # several ranges
        {"Range": "bytes=abc"},
        {"Range": "bytes=0-9", "If-Range": '"stale"'},
        {"Range": "bytes=0-9", "If-Range": f"W/{ETAG}"},
    ],
)
def test_ranges_it_does_not_serve_get_the_whole_file(
    files: MemoryFiles, headers: dict[str, str]
) -> None:
    response = _client(files).get("/a.csv", headers=headers)
    assert response.status_code == 200
    assert response.content == DATA


def test_a_range_past_the_end_is_416_without_asking_the_store() -> None:
    response = _client(MemoryFiles()).get("/a.csv", headers={"Range": f"bytes={len(DATA)}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("value", [ETAG, f"W/{ETAG}", "*", f'"other", {ETAG}'])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_none_match_is_304(value: str, method: str) -> None:
    # Before the store is asked: this store has no file.
    response = _client(MemoryFiles()).request(method, "/a.csv", headers={"If-None-Match": value})
    assert response.status_code == 304
    assert response.headers["etag"] == ETAG
    assert response.content == b""


def test_a_missing_file_is_404(files: MemoryFiles) -> None:
    files.delete("a.csv")
    for method in ("GET", "HEAD"):
        assert _client(files).request(method, "/a.csv").status_code == 404


def test_redirect_when_the_store_presigns(files: MemoryFiles) -> None:
    presigning = PresigningFiles()
    presigning.files = files.files
    response = _client(presigning, 300).get("/a.csv")
    assert response.status_code == 307
    assert response.headers["location"] == "https://files.example/a.csv?expires=300"
    assert response.headers["cache-control"] == "no-store"
    head = _client(presigning, 300).head("/a.csv")
    assert head.status_code == 200  # HEAD is answered, not redirected
    presigning.delete("a.csv")
    assert _client(presigning, 300).get("/a.csv").status_code == 404


def test_no_redirect_when_the_store_cannot_presign(files: MemoryFiles) -> None:
    response = _client(files, 300).get("/a.csv")
    assert response.status_code == 200
    assert response.content == DATA
