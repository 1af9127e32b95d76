"""The export endpoints: list, show, create, update (the file download: api/downloads.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from cdrex.api.bodies import read_body, resource_attributes
from cdrex.api.context import AppContext, context_of
from cdrex.api.documents import meta, resource
from cdrex.api.errors import (
    REVALIDATE,
    ApiError,
    JsonApiResponse,
    error_object,
    json_pointer,
    method_not_allowed,
    not_found,
)
from cdrex.api.listing import cached_list_query, page_links
from cdrex.api.negotiation import check_accept, check_request_body_type
from cdrex.api.urls import collection_url, export_url
from cdrex.exports.create import new_export, reference_problem
from cdrex.exports.errors import Invalid, ValidationFailed
from cdrex.exports.model import Export, is_export_key
from cdrex.exports.versions import ApiVersion, choose_version
from cdrex.store import exports as export_store
from cdrex.store.accounts import Account
from cdrex.store.db import Database

READ_METHODS = ("GET", "HEAD")


async def find_export(
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
                "links": page_links(query, collection_url(base, version), total),
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
        raise method_not_allowed(request, allowed, f"in API version {version.name}")
    if request.method in READ_METHODS:
        export = await find_export(context, export_store.get_export, account.id, export_id)
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


async def _update(
    request: Request, context: AppContext, version: ApiVersion, account_id: int, export_id: str
) -> Export | None:
    check_request_body_type(request)
    body = await read_body(request)
    if await find_export(context, export_store.get_export, account_id, export_id) is None:
        return None  # 404 before the body's details: nothing there to update
    attributes = resource_attributes(body, version, version.updatable, export_id)
    if "external_reference_id" not in attributes:
        return await find_export(context, export_store.get_export, account_id, export_id)
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
        headers={"Location": export_url(base, version, export)},
        cache_control=REVALIDATE,
    )
