"""JSON:API error documents, and the exception every handler raises to send one."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

JSONAPI = "application/vnd.api+json"
log = logging.getLogger("cdrex.api")

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


# DIDWW's Cache-Control values (its recorded responses): lists and creates may be kept by
# the client if revalidated; a single export and every error are not to be reused unchecked.
REVALIDATE = "max-age=0, private, must-revalidate"
NO_CACHE = "no-cache"


class JsonApiResponse(Response):
    """A JSON:API document with DIDWW's headers: ``Vary: Accept`` (the answer depends on
    Accept, which may make it a 406) and the ``Cache-Control`` its kind of answer gets."""

    media_type = JSONAPI

    def __init__(
        self,
        content: object,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        cache_control: str = NO_CACHE,
    ) -> None:
        super().__init__(
            content,
            status_code,
            {"Vary": "Accept", "Cache-Control": cache_control, **(headers or {})},
        )

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


def error_object(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    title: str | None = None,
    pointer: str | None = None,
    parameter: str | None = None,
) -> dict:
    error: dict = {
        "title": title or TITLES.get(status, "Error"),
        "detail": detail,
        "code": code or str(status),
        "status": str(status),
    }
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    elif parameter is not None:
        # DIDWW's published error schema requires a pointer in every source, and a query
        # parameter has none (DIDWW's own 400s carry no source): the parameter goes in the
        # error's meta, which the schema leaves open for error-specific details.
        error["meta"] = {"parameter": parameter}
    return error


def json_pointer(*segments: str) -> str:
    """An RFC 6901 pointer: "~" and "/" inside a member name (a client's filter key can hold
    anything) are escaped, so the pointer still names that one member."""
    return "".join("/" + segment.replace("~", "~0").replace("/", "~1") for segment in segments)


class ApiError(Exception):
    """Raised anywhere in a handler; becomes a JSON:API error document."""

    def __init__(self, status: int, errors: list[dict], headers: dict | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.errors = errors
        self.headers = headers

    @classmethod
    def one(cls, status: int, detail: str, **fields: str | None) -> ApiError:
        return cls(status, [error_object(status, detail, **fields)])


def not_found(what: str) -> ApiError:
    return ApiError.one(
        404, f"The record identified by {what} could not be found.", title="Record not found"
    )


def method_not_allowed(request: Request, allowed: tuple[str, ...], where: str) -> ApiError:
    """405 naming the methods that work ``where`` (DELETE is refused in every version:
    exports expire on their own, docs/api.md)."""
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


def error_response(status: int, errors: list[dict], headers: dict | None = None) -> Response:
    return JsonApiResponse({"errors": errors}, status_code=status, headers=headers)


async def on_api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.errors, error.headers)


async def on_http_exception(request: Request, error: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method), as JSON:API documents."""
    assert isinstance(error, HTTPException)
    detail = {404: f"No route matches {request.url.path}", 405: "Method not allowed"}.get(
        error.status_code, str(error.detail)
    )
    return error_response(
        error.status_code, [error_object(error.status_code, detail)], dict(error.headers or {})
    )


async def on_database_unavailable(request: Request, error: Exception) -> Response:
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, error)
    return error_response(
        503,
        [error_object(503, "The database is unavailable; try again shortly.")],
        {"Retry-After": "1"},
    )


async def on_client_disconnect(request: Request, error: Exception) -> Response:
    """The client closed the connection before sending its whole request: its choice, not
    our error. The response reaches no one; it only ends the request."""
    log.info("client went away during %s %s", request.method, request.url.path)
    return error_response(400, [error_object(400, "The request ended before its body.")])


async def on_unexpected(request: Request, error: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    # Starlette re-raises the error once this is sent, and uvicorn then closes the
    # connection: Connection: close tells the client so, instead of a reset it must guess.
    return error_response(
        500,
        [error_object(500, "The server could not handle the request.")],
        {"Connection": "close"},
    )
