"""ASGI application factories for list_endpoint.py, for servers that import an app by name.

``bare_app``: one route that returns a fixed body (the real list response, captured
first) with the same Content-Type; the baseline. ``cdrex_app``: the product's app wired as
``cdrex serve --workers 0`` wires it, for servers other than the uvicorn that serve runs.
Both read their inputs from the environment: BENCH_BODY_FILE, BENCH_CONTENT_TYPE,
CDREX_DATA_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

LIST_PATH = "/v3/cdr_exports"


def bare_app() -> Starlette:
    body = Path(os.environ["BENCH_BODY_FILE"]).read_bytes()
    content_type = os.environ["BENCH_CONTENT_TYPE"]

    async def listing(request: Request) -> Response:
        return Response(body, media_type=content_type)

    return Starlette(routes=[Route(LIST_PATH, listing, methods=["GET"])])


def cdrex_app() -> Starlette:
    from cdrex.api.app import create_app
    from cdrex.api.context import AppContext
    from cdrex.pipeline.local_files import LocalFiles
    from cdrex.settings import Settings
    from cdrex.store.db import Database

    settings = Settings.from_env()
    files = LocalFiles(settings.files_dir)
    return create_app(AppContext(Database(settings.resolved_database_url), files, settings))
