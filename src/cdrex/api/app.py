"""The ASGI application: routes for every API version's collection, and error handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from cdrex.api import downloads, exports, operator, provisioning
from cdrex.api.context import AppContext
from cdrex.api.errors import (
    ApiError,
    on_api_error,
    on_client_disconnect,
    on_database_unavailable,
    on_http_exception,
    on_unexpected,
)
from cdrex.api.urls import collection_route, export_route, file_route
from cdrex.exports.kinds import FILE_SUFFIXES
from cdrex.exports.versions import COLLECTIONS
from cdrex.store.db import UNAVAILABLE_ERRORS


class AnyMethod:
    """An endpoint every HTTP method reaches. Starlette gives a function endpoint only the
    methods listed for its route (GET and HEAD when none are) and answers the others with a
    405 of its own; the export and file handlers choose per API version (PATCH exists from
    2026-04-16 only) and answer that 405 themselves. Starlette routes any method to an
    endpoint that is not a function: an ASGI app such as this one."""

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self._app = request_response(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def routes() -> list[Route]:
    """Every route, named (api/urls.py builds the API's URLs from them)."""
    table = [
        Route("/operator/v1/cdrs", operator.ingest_cdrs, methods=["POST"], name="operator.cdrs"),
        Route(
            "/operator/v1/freeswitch/json_cdr",
            operator.freeswitch_json_cdr,
            methods=["POST"],
            name="operator.freeswitch_json_cdr",
        ),
        *provisioning.routes(),
    ]
    for collection in COLLECTIONS:
        base = f"/v3/{collection}"
        # File routes first: "{export_id}" would match "name.csv" too.
        table += [
            # Any method: the handlers answer 405 with the methods that version allows.
            Route(
                f"{base}/{{file_name}}{suffix}",
                AnyMethod(partial(downloads.download_file, suffix=suffix)),
                name=file_route(collection, suffix),
            )
            for suffix in FILE_SUFFIXES
        ]
        table += [
            # One route per path for all its methods, so that a 405 lists them all.
            Route(
                base,
                partial(exports.collection_endpoint, collection=collection),
                methods=["GET", "POST"],
                name=collection_route(collection),
            ),
            Route(
                f"{base}/{{export_id}}",
                AnyMethod(partial(exports.export_endpoint, collection=collection)),
                name=export_route(collection),
            ),
        ]
    return table


def create_app(context: AppContext) -> Starlette:
    app = Starlette(
        routes=routes(),
        exception_handlers={
            ApiError: on_api_error,
            HTTPException: on_http_exception,
            ClientDisconnect: on_client_disconnect,
            **dict.fromkeys(UNAVAILABLE_ERRORS, on_database_unavailable),
            Exception: on_unexpected,
        },
    )
    app.state.context = context
    return app
