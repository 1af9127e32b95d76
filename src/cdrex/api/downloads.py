"""Export file downloads: which export's file a URL names, and the HTTP around its bytes
(ETag and 304, one Range and 206 or 416, HEAD, a redirect to a presigned URL), the same
for every file store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.utils import formatdate
from typing import TypeVar
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from cdrex.api.context import AppContext, context_of
from cdrex.api.errors import ApiError, error_object, method_not_allowed, not_found
from cdrex.api.exports import READ_METHODS, find_export
from cdrex.api.ranges import RangeNotSatisfiable, parse_range, range_applies
from cdrex.exports.kinds import file_format
from cdrex.pipeline.file_store import StorageUnavailable
from cdrex.store import exports as export_store

T = TypeVar("T")
log = logging.getLogger("cdrex.api")


async def download_file(request: Request, suffix: str) -> Response:
    """The export's file, under either collection and whatever the API version: it is the
    file of the version the export was created with. Independent of Accept: SDKs send
    none, docs send text/csv."""
    if request.method not in READ_METHODS:
        raise method_not_allowed(request, READ_METHODS, "on export files")
    context = context_of(request)
    account = await context.authenticate(request)
    name = request.path_params["file_name"]
    export = await find_export(context, export_store.get_export_by_file, account.id, name)
    if export is None or not export.is_completed:
        raise not_found(name + suffix)
    fmt = file_format(export.api_version, export.export_type)
    if fmt.suffix != suffix:  # the file of another version's export: no such file
        raise not_found(name + suffix)
    settings = context.settings
    redirect = settings.s3_downloads == "redirect"  # where the store can: S3
    return ExportFileResponse(
        context,
        export.file_name + fmt.suffix,
        media_type=fmt.media_type,
        etag=f'"{export.sha256}"',
        size=export.byte_size or 0,
        presign_seconds=settings.s3_presign_seconds if redirect else None,
    )


class ExportFileResponse(Response):
    """A stored file, as Starlette's FileResponse serves a local one (its headers, its
    200/206/416 and HEAD), through the FileStore interface, plus what an export file needs:

    - 304 for If-None-Match, before the store is asked anything;
    - one Range at most (cdrex.api.ranges), decided on the export's recorded size, so that
      a 416 costs no request to the store either;
    - with ``presign_seconds``, a GET redirected to the store's presigned URL, when the
      store can make one.

    The store is called off the event loop; a missing file answers the 404 an unknown one
    gets, a store that cannot answer 503. Those are raised before the response starts, so
    the app's error handlers answer them.
    """

    def __init__(
        self,
        context: AppContext,
        name: str,
        *,
        media_type: str,
        etag: str,
        size: int,
        presign_seconds: int | None = None,
    ) -> None:
        self.context = context
        self.name = name
        self.etag = etag
        self.size = size
        self.presign_seconds = presign_seconds
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        # The headers of every answer with the file's bytes or their length; init_headers
        # adds Content-Type as Starlette writes it (a charset for text/*). Content-Length
        # and Last-Modified wait for the range and the store's answer.
        self.init_headers(
            {
                "ETag": etag,
                "Cache-Control": "private",
                "Accept-Ranges": "bytes",
                "Content-Disposition": _content_disposition(name),
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._answer(Headers(scope=scope), scope["method"] == "HEAD")
        await response(scope, receive, send)

    async def _answer(self, request_headers: Headers, head: bool) -> Response:
        headers = dict(self.headers)
        if _etag_matches(request_headers.get("if-none-match", ""), self.etag):
            return Response(
                status_code=304, headers={"ETag": self.etag, "Cache-Control": "private"}
            )
        # HEAD is answered here, not redirected: a URL presigned for GET is refused for HEAD.
        if not head and (redirect := await self._redirect(headers)):
            return redirect
        try:
            span = self._span(request_headers)
        except RangeNotSatisfiable as unsatisfiable:
            return PlainTextResponse(
                status_code=416, headers={"Content-Range": f"bytes */{unsatisfiable.size}"}
            )
        status = 200 if span is None else 206
        if span is not None:
            headers["content-range"] = f"bytes {span[0]}-{span[1] - 1}/{self.size}"
        if head:
            stored = await self._from_store(self.context.files.stat, self.name)
            headers["last-modified"] = formatdate(stored.last_modified.timestamp(), usegmt=True)
            headers["content-length"] = str(stored.size if span is None else span[1] - span[0])
            return Response(status_code=status, headers=headers)
        reader = await self._from_store(self.context.files.read, self.name, span)
        headers["last-modified"] = formatdate(reader.last_modified.timestamp(), usegmt=True)
        headers["content-length"] = str(reader.length)
        # The chunks are read on worker threads; the background task releases the file or
        # connection when the client leaves early (the chunks release it when read to the end).
        return StreamingResponse(
            reader.chunks(),
            status_code=status,
            headers=headers,
            background=BackgroundTask(reader.close),
        )

    def _span(self, request_headers: Headers) -> tuple[int, int] | None:
        value = request_headers.get("range")
        if value is None or not range_applies(request_headers.get("if-range"), self.etag):
            return None
        return parse_range(value, self.size)

    async def _redirect(self, headers: dict[str, str]) -> Response | None:
        """To the store's presigned URL, if asked for and the store can make one."""
        if self.presign_seconds is None:
            return None
        url = await self._from_store(
            self.context.files.presigned_url,
            self.name,
            self.presign_seconds,
            headers["content-type"],
            headers["content-disposition"],
        )
        if url is None:
            return None
        # The URL is signed without asking the store: a missing file or an unreachable
        # store answers here, 404 or 503 as when streaming, not at the redirect's end.
        await self._from_store(self.context.files.stat, self.name)
        # 307, not 302: the method is kept by definition, and the URL expires, so the
        # redirect is temporary; no-store keeps caches from replaying it after expiry.
        return Response(status_code=307, headers={"Location": url, "Cache-Control": "no-store"})

    async def _from_store(self, function: Callable[..., T], *args: object) -> T:
        """Call the store off the event loop: a missing file is the same 404 as an unknown
        one, an unreachable store the same 503 as an unreachable database."""
        try:
            return await self.context.run(function, *args)
        except FileNotFoundError:
            raise not_found(self.name) from None
        except StorageUnavailable as error:
            log.warning("file storage unavailable for %s: %s", self.name, error)
            raise ApiError(
                503,
                [error_object(503, "The file storage is unavailable; try again shortly.")],
                {"Retry-After": "1"},
            ) from None


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: "*" matches any file, else a weak comparison with each listed tag."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _content_disposition(file_name: str) -> str:
    """As Starlette's FileResponse writes it: RFC 6266's filename*, for a name that needs
    quoting (export file names never do: a UUID and a suffix)."""
    quoted = quote(file_name)
    if quoted != file_name:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{file_name}"'
