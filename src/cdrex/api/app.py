"""The ASGI application: routes for every API version's collection, and error handlers."""

from __future__ import annotations

from functools import partial

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from cdrex.api import exports
from cdrex.api.context import AppContext
from cdrex.api.errors import (
    ApiError,
    on_api_error,
    on_database_unavailable,
    on_http_exception,
    on_unexpected,
)
from cdrex.api.versions import VERSIONS
from cdrex.store.db import UNAVAILABLE_ERRORS

FILE_SUFFIXES = (".csv",)


def routes() -> list[Route]:
    table = []
    for version in VERSIONS.values():
        base = f"/v3/{version.collection}"
        # File routes first: "{export_id}" would match "name.csv" too.
        table += [
            Route(f"{base}/{{file_name}}{suffix}",
                  partial(exports.download_file, version=version, suffix=suffix),
                  methods=["GET", "HEAD"])
            for suffix in FILE_SUFFIXES
        ]
        table += [
            # One route for GET and POST, so that a 405 on the collection allows both.
            Route(base, partial(exports.collection, version=version), methods=["GET", "POST"]),
            Route(f"{base}/{{export_id}}", partial(exports.show_export, version=version),
                  methods=["GET"]),
        ]
    return table


def create_app(context: AppContext) -> Starlette:
    app = Starlette(
        routes=routes(),
        exception_handlers={
            ApiError: on_api_error,
            HTTPException: on_http_exception,
            **dict.fromkeys(UNAVAILABLE_ERRORS, on_database_unavailable),
            Exception: on_unexpected,
        },
    )
    app.state.context = context
    return app
