"""The export endpoints: list, show, create, and the file download."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate
from typing import TypeVar

from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    MalformedRangeHeader,
    PlainTextResponse,
    RangeNotSatisfiable,
    Response,
    StreamingResponse,
)
from starlette.types import Receive, Scope, Send

from cdrex.api.bodies import read_body, resource_attributes
from cdrex.api.context import AppContext, context_of
from cdrex.api.documents import meta, resource
from cdrex.api.errors import (
    REVALIDATE,
    ApiError,
    JsonApiResponse,
    error_object,
    json_pointer,
    not_found,
)
from cdrex.api.listing import cached_list_query, page_links
from cdrex.api.negotiation import check_accept, check_request_body_type
from cdrex.exports.create import new_export, reference_problem
from cdrex.exports.errors import Invalid, ValidationFailed
from cdrex.exports.kinds import file_format
from cdrex.exports.model import Export, is_export_key
from cdrex.exports.versions import ApiVersion, choose_version
from cdrex.pipeline.file_store import StorageUnavailable
from cdrex.pipeline.local_files import LocalFiles
from cdrex.pipeline.s3_files import S3Files
from cdrex.store import exports as export_store
from cdrex.store.accounts import Account
from cdrex.store.db import Database

T = TypeVar("T")
log = logging.getLogger("cdrex.api")
READ_METHODS = ("GET", "HEAD")


async def _find(
    context: AppContext,
    find: Callable[[Database, int, str], Export | None],
    account_id: int,
    key: str,
) -> Export | None:
    """An export by id or file name. A key no export can have never reaches the database."""
    if not is_export_key(key):
        return None
    return await context.read(find, context.db, account_id, key)


async def _answering(
    request: Request, context: AppContext, collection: str
) -> tuple[Account, ApiVersion]:
    """The caller's account and the version that answers it (spec §2.1). A collection that
    version does not have is as unknown as any other path."""
    account = await context.authenticate(request)
    version = choose_version(account.api_version, request.headers.get("x-didww-api-version"))
    if version.collection != collection:
        raise ApiError.one(
            404,
            f"API version {version.name} has no /v3/{collection}; it uses "
            f"/v3/{version.collection}.",
            title="Not Found",
        )
    return account, version


async def collection_endpoint(request: Request, collection: str) -> Response:
    """GET (and HEAD) lists the exports, POST creates one."""
    handler = create_export if request.method == "POST" else list_exports
    return await handler(request, collection)


async def list_exports(request: Request, collection: str) -> Response:
    context = context_of(request)
    check_accept(request)
    account, version = await _answering(request, context, collection)
    query = cached_list_query(request.scope["query_string"], version.name)
    base = context.base_url(request)

    async def document() -> Response:
        page, total = await context.read(
            export_store.list_exports,
            context.db,
            account.id,
            query.sort,
            query.offset,
            query.page_size,
            query.filters,
        )
        return JsonApiResponse(
            {
                "data": [resource(export, version, base, query.fields) for export in page],
                "meta": meta(version, total_records=total),
                "links": page_links(query, f"{base}/v3/{version.collection}", total),
            },
            cache_control=REVALIDATE,
        )

    # Everything the page depends on besides the database (see ResponseCache).
    key = ("list", account.id, version.name, base, request.scope["query_string"])
    return await context.responses.get(key, document)


async def export_endpoint(request: Request, collection: str) -> Response:
    """GET shows one export, PATCH (or PUT) changes it where the version allows; DELETE is
    refused in every version (see docs/api.md, compatibility)."""
    context = context_of(request)
    check_accept(request)
    account, version = await _answering(request, context, collection)
    export_id = request.path_params["export_id"]
    allowed = READ_METHODS + (("PATCH", "PUT") if version.updatable else ())
    if request.method not in allowed:
        raise _not_allowed(request, allowed, f"in API version {version.name}")
    if request.method in READ_METHODS:
        export = await _find(context, export_store.get_export, account.id, export_id)
    else:
        export = await _update(request, context, version, account.id, export_id)
    if export is None:
        raise not_found(export_id)
    return JsonApiResponse(
        {
            "data": resource(export, version, context.base_url(request)),
            "meta": meta(version),
        }
    )


def _not_allowed(request: Request, allowed: tuple[str, ...], where: str) -> ApiError:
    # DELETE is refused in every version: exports expire on their own (docs/api.md).
    return ApiError(
        405,
        [
            error_object(
                405,
                f"{request.method} is not supported here {where}; use {', '.join(allowed)}.",
                title="Method Not Allowed",
            )
        ],
        {"Allow": ", ".join(allowed)},
    )


async def _update(
    request: Request, context: AppContext, version: ApiVersion, account_id: int, export_id: str
) -> Export | None:
    check_request_body_type(request)
    body = await read_body(request)
    if await _find(context, export_store.get_export, account_id, export_id) is None:
        return None  # 404 before the body's details: nothing there to update
    attributes = resource_attributes(body, version, version.updatable, export_id)
    if "external_reference_id" not in attributes:
        return await _find(context, export_store.get_export, account_id, export_id)
    reference = attributes["external_reference_id"]
    if problem := reference_problem(reference):
        raise _unprocessable([problem])
    return await context.write(
        export_store.set_external_reference_id, context.db, account_id, export_id, reference
    )


def _unprocessable(problems: list[Invalid]) -> ApiError:
    return ApiError(
        422,
        [
            error_object(
                422,
                problem.detail,
                code="100",
                title=problem.title,
                pointer=json_pointer("data", "attributes", *problem.path),
            )
            for problem in problems
        ],
    )


async def create_export(request: Request, collection: str) -> Response:
    context = context_of(request)
    check_request_body_type(request)
    check_accept(request)
    account, version = await _answering(request, context, collection)
    attributes = resource_attributes(await read_body(request), version, version.writable)
    base = context.base_url(request)
    try:
        export = new_export(
            attributes,
            account_id=account.id,
            api_version=version.name,
            filter_rules=version.filter_rules,
            callback_methods=version.callback_methods,
            now=datetime.now(UTC),
            months_back=context.settings.export_window_months,
            base_url=base,
        )
    except ValidationFailed as failed:
        raise _unprocessable(failed.problems) from None
    await context.write(export_store.insert_export, context.db, export)
    context.export_created()
    return JsonApiResponse(
        {"data": resource(export, version, base), "meta": meta(version)},
        status_code=201,
        headers={"Location": f"{base}/v3/{version.collection}/{export.id}"},
        cache_control=REVALIDATE,
    )


async def download_file(request: Request, suffix: str) -> Response:
    """The export's file, under either collection and whatever the API version: it is the
    file of the version the export was created with. Independent of Accept: SDKs send
    none, docs send text/csv."""
    if request.method not in READ_METHODS:
        raise _not_allowed(request, READ_METHODS, "on export files")
    context = context_of(request)
    account = await context.authenticate(request)
    name = request.path_params["file_name"]
    export = await _find(context, export_store.get_export_by_file, account.id, name)
    fmt = export and file_format(export.api_version, export.export_type)
    if export is None or not export.is_completed or fmt.suffix != suffix:
        raise not_found(name + suffix)
    etag = f'"{export.sha256}"'
    if _etag_matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "private"})
    file_name = export.file_name + fmt.suffix
    headers = {"ETag": etag, "Cache-Control": "private"}
    files = context.files
    if isinstance(files, S3Files):
        return await _stored_file(
            request, context, files, file_name, fmt.media_type, headers, export.byte_size or 0
        )
    assert isinstance(files, LocalFiles)  # the only other store
    path = files.path(file_name)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise not_found(file_name) from None
    return ExportFileResponse(
        path, media_type=fmt.media_type, filename=file_name, headers=headers, stat_result=stat
    )


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: "*" matches any file, else a weak comparison with each listed tag."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


class ExportFileResponse(FileResponse):
    """Ignores a Range header it cannot parse, as RFC 9110 §14.2 allows (and, for unknown
    units, requires), and sends the whole file; Starlette would answer a plain-text 400."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        value = Headers(scope=scope).get("range")
        if value is not None and self.stat_result is not None:
            try:
                # Starlette's own parser: what is kept here is what it can serve.
                self._parse_range_header(value, self.stat_result.st_size)
            except MalformedRangeHeader:
                headers = [(name, v) for name, v in scope["headers"] if name != b"range"]
                scope = {**scope, "headers": headers}
            except RangeNotSatisfiable:
                pass  # Starlette's 416 with Content-Range: bytes */size is right
        await super().__call__(scope, receive, send)


async def _stored_file(
    request: Request,
    context: AppContext,
    files: S3Files,
    file_name: str,
    media_type: str,
    headers: dict[str, str],
    size: int,
) -> Response:
    """A file in object storage: redirected to a presigned URL, or streamed through with the
    status and headers a local file gets (one range at most: several get the whole file,
    which RFC 9110 §14.2 allows)."""
    headers = {**headers, **_file_headers(file_name, media_type)}
    settings = context.settings
    if settings.s3_downloads == "redirect" and request.method == "GET":
        # A missing object or unreachable storage answers here, as when streaming. HEAD is
        # answered here too: a URL presigned for GET is refused for HEAD.
        await _from_storage(context, file_name, files.stat, file_name)
        url = await _from_storage(
            context,
            file_name,
            files.presigned_url,
            file_name,
            settings.s3_presign_seconds,
            headers["content-type"],
            headers["content-disposition"],
        )
        # 307, not 302: the method is kept by definition, and the URL expires, so the
        # redirect is temporary; no-store keeps caches from replaying it after expiry.
        return Response(status_code=307, headers={"Location": url, "Cache-Control": "no-store"})
    try:
        span = _one_range(request, size, headers["ETag"])
    except RangeNotSatisfiable:
        return PlainTextResponse(status_code=416, headers={"Content-Range": f"bytes */{size}"})
    head = request.method == "HEAD"
    if head:
        stored = await _from_storage(context, file_name, files.stat, file_name)
    else:
        stored = await _from_storage(context, file_name, files.read, file_name, span)
    headers["last-modified"] = formatdate(stored.last_modified.timestamp(), usegmt=True)
    headers["content-length"] = str(stored.size if head else stored.length)
    if span is not None:
        headers["content-range"] = f"bytes {span[0]}-{span[1] - 1}/{size}"
        headers["content-length"] = str(span[1] - span[0])
    status = 200 if span is None else 206
    if head:
        return Response(status_code=status, headers=headers)
    # The body is read on worker threads; the background task releases the connection
    # when the client leaves early.
    return StreamingResponse(
        stored.chunks(),
        status_code=status,
        headers=headers,
        background=BackgroundTask(stored.close),
    )


def _file_headers(file_name: str, media_type: str) -> dict[str, str]:
    """Content-Type, Content-Disposition and Accept-Ranges exactly as a local file gets them
    (constructing a FileResponse touches no file)."""
    response = FileResponse(file_name, media_type=media_type, filename=file_name)
    return {
        key: response.headers[key]
        for key in ("content-type", "content-disposition", "accept-ranges")
    }


def _one_range(request: Request, size: int, etag: str) -> tuple[int, int] | None:
    """The one [start, end) range to send, as FileResponse decides for a local file; None
    for the whole file: no Range, a stale If-Range, an unusable Range, or several ranges.
    Raises RangeNotSatisfiable for a range past the end."""
    value, if_range = request.headers.get("range"), request.headers.get("if-range")
    if value is None or (if_range is not None and if_range != etag):
        return None
    try:
        ranges = FileResponse._parse_range_header(value, size)
    except MalformedRangeHeader:
        return None
    return ranges[0] if len(ranges) == 1 else None


async def _from_storage(
    context: AppContext, file_name: str, function: Callable[..., T], *args: object
) -> T:
    """Call the object store off the event loop: a missing object is the same 404 as a
    missing local file, an unreachable store the same 503 as an unreachable database."""
    try:
        return await context.run(function, *args)
    except FileNotFoundError:
        raise not_found(file_name) from None
    except StorageUnavailable as error:
        log.warning("file storage unavailable for %s: %s", file_name, error)
        raise ApiError(
            503,
            [error_object(503, "The file storage is unavailable; try again shortly.")],
            {"Retry-After": "1"},
        ) from None
