"""The HTTP/1.1 protocol `cdrex serve` runs: uvicorn's httptools protocol, with a bounded head.

httptools holds a request's target and each header field (and a chunked body's trailer
fields) in memory until it is complete, whatever its size, growing it by concatenation as
bytes arrive: one 64 MB header field raised a server to 294 MB. uvicorn has a limit for
its h11 protocol only, which serves the list endpoint a third slower and answers a plain
400. This protocol refuses a request whose target or header fields are too large as soon
as that many bytes have arrived without the head ending (so memory stays at the limits
plus a read or two), and a head that arrived whole once it is parsed. The refusal is a
JSON:API error document, 414 or 431, and the connection is closed after it.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from uvicorn._types import ASGI3Application, ASGIReceiveCallable, ASGISendCallable, Scope
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from cdrex.api.errors import JsonApiResponse, error_object

MAX_TARGET_BYTES = 16 * 1024  # the request target as sent: path and query string
MAX_FIELD_BYTES = 16 * 1024  # all header fields as sent: "name: value" lines
# Bytes of one head that may arrive before it must have ended: the two limits, the method,
# the HTTP version and line ends.
MAX_HEAD_BYTES = MAX_TARGET_BYTES + MAX_FIELD_BYTES + 1024

TARGET_TOO_LONG = f"The request target (path and query) is limited to {MAX_TARGET_BYTES} bytes."
FIELDS_TOO_LARGE = f"The request's header fields are limited to {MAX_FIELD_BYTES} bytes in all."
DETAILS = {
    HTTPStatus.REQUEST_URI_TOO_LONG: TARGET_TOO_LONG,
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: FIELDS_TOO_LARGE,
}


def refusal(status: HTTPStatus) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of the answer to a head over a limit: the application's own
    error document, headers and all."""
    error = error_object(int(status), DETAILS[status], title=status.phrase)
    # Connection: close because the rest of the request is not read.
    response = JsonApiResponse({"errors": [error]}, int(status), {"Connection": "close"})
    return response.raw_headers, bytes(response.body)


def refusing_app(status: HTTPStatus) -> ASGI3Application:
    """An ASGI app that answers every request with the refusal for ``status``."""
    headers, body = refusal(status)

    async def app(scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        await send({"type": "http.response.start", "status": int(status), "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


REFUSING_APPS = {status: refusing_app(status) for status in DETAILS}


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with MAX_TARGET_BYTES and MAX_FIELD_BYTES enforced.

    httptools reports progress only at certain points: a head complete, body data, a
    chunk begun, a message complete. Bytes that arrive without any are held in pieces of
    unknown size: a head, a chunked body's trailer fields or a chunk extension. Past
    MAX_HEAD_BYTES of them the request is refused.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.url, self.headers = b"", []  # uvicorn sets them when a request begins
        self._in_head = True  # reading a head (or waiting for one), not a body
        self._progress = 0  # parser events seen: a read that caused none is held whole
        self._held_bytes = 0  # bytes received since the last parser event

    def data_received(self, data: bytes) -> None:
        progress = self._progress
        super().data_received(data)
        if self.transport.is_closing():
            return
        # After an event, the read's later bytes are not counted: the count errs low by
        # less than one read (at most 256 KiB), never high.
        self._held_bytes = self._held_bytes + len(data) if self._progress == progress else 0
        if self._held_bytes <= MAX_HEAD_BYTES:
            return
        if self._in_head:
            self._refuse_unfinished_head()
        else:  # trailer fields or a chunk extension: the request has had its answer or will
            self.logger.warning("Closed a connection: chunk framing over %d bytes", MAX_HEAD_BYTES)
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._in_head, self._progress = False, self._progress + 1
        status = self._head_over_limit()
        if status is None:
            super().on_headers_complete()
            return
        # As uvicorn answers over its concurrency limit: the request runs, on another app.
        app, self.app = self.app, REFUSING_APPS[status]
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_body(self, body: bytes) -> None:
        self._progress += 1
        super().on_body(body)

    def on_chunk_header(self) -> None:
        self._progress += 1

    def on_message_complete(self) -> None:
        self._in_head, self._progress = True, self._progress + 1
        super().on_message_complete()

    def _head_over_limit(self) -> HTTPStatus | None:
        if len(self.url) > MAX_TARGET_BYTES:
            return HTTPStatus.REQUEST_URI_TOO_LONG
        if sum(len(name) + len(value) + 4 for name, value in self.headers) > MAX_FIELD_BYTES:
            return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        return None

    def _refuse_unfinished_head(self) -> None:
        """Answer and close while the head is still arriving (no request has begun)."""
        status = self._head_over_limit() or HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        headers, body = refusal(status)
        lines = [STATUS_LINE[status]]
        lines += [b"%s: %s\r\n" % pair for pair in self.server_state.default_headers + headers]
        self.transport.write(b"".join([*lines, b"\r\n", body]))
        self.transport.close()
        self.logger.warning("Refused a request: %s", DETAILS[status])
