"""The operator API's provisioning (``/operator/v1``): accounts, their API keys, and who owns
which DID number or trunk when, as the CLI's `cdrex accounts|keys|dids|trunks` do.

Plain JSON in and out; errors are JSON:API error documents, as everywhere. What the store
refuses (a taken name, an overlapping interval, an unknown account) is a 422 with its
reason, the CLI's one line.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cdrex.api.bodies import read_body
from cdrex.api.context import AppContext, context_of
from cdrex.api.errors import ApiError
from cdrex.api.operator import authenticate
from cdrex.cdrs.records import parse_timestamp
from cdrex.cdrs.routing import Assignment
from cdrex.exports.kinds import RESOURCES, Resource
from cdrex.store import accounts as account_store
from cdrex.store import ownership
from cdrex.store.accounts import Account, AccountError, KeyInfo

Handler = Callable[[Request], Awaitable[Response]]


def _json(document: object, status: int = 200) -> Response:
    return Response(
        orjson.dumps(document),
        status,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _account(account: Account) -> dict:
    return {"name": account.name, "api_version": account.api_version}


def _key(key: KeyInfo) -> dict:
    return {
        "prefix": key.prefix,
        "account": key.account,
        "created_at": _time(key.created_at),
        "revoked_at": _time(key.revoked_at),
    }


def _assignment(held: Assignment) -> dict:
    return {
        "id": held.identifier,
        "account": held.account_name,
        "since": _time(held.since),
        "until": _time(held.until),
        "name": held.name,
    }


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


async def _body(request: Request, allowed: dict[str, bool]) -> dict[str, Any]:
    """The request's JSON object; ``allowed``: member -> required. Members are strings."""
    body = await read_body(request)
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as error:
        raise ApiError.one(400, f"not valid JSON ({error})", title="Bad Request") from None
    if not isinstance(document, dict):
        raise ApiError.one(400, "the body must be a JSON object", title="Bad Request")
    for member, value in document.items():
        if member not in allowed:
            raise _invalid(f"unknown member {member!r}", member)
        if value is not None and not isinstance(value, str):
            raise _invalid(f"{member} must be a string", member)
    for member, required in allowed.items():
        if required and not document.get(member):
            raise _invalid(f"{member} is required", member)
    return document


def _invalid(detail: str, member: str) -> ApiError:
    return ApiError.one(422, detail, title="Invalid Attribute", pointer=f"/{member}")


def _moment(document: dict, member: str) -> datetime | None:
    text = document.get(member)
    if text is None:
        return None
    try:
        return parse_timestamp(text + " 00:00:00" if len(text) == 10 else text).replace(tzinfo=UTC)
    except ValueError as error:
        raise _invalid(f"{member}: {error}", member) from None


async def _run(context: AppContext, function: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    try:
        return await context.run(function, *args, **kw)
    except AccountError as error:
        raise ApiError.one(422, str(error), title="Unprocessable Entity") from None


def _operator(handler: Callable[[Request, AppContext], Awaitable[Response]]) -> Handler:
    async def endpoint(request: Request) -> Response:
        context = context_of(request)
        await authenticate(context, request)
        return await handler(request, context)

    return endpoint


@_operator
async def create_account(request: Request, context: AppContext) -> Response:
    """``POST /operator/v1/accounts`` ``{"name": ...}``: 201 with the account."""
    document = await _body(request, {"name": True})
    return _json(
        _account(await _run(context, account_store.create_account, context.db, document["name"])),
        201,
    )


@_operator
async def list_accounts(request: Request, context: AppContext) -> Response:
    found = await context.read(account_store.list_accounts, context.db)
    return _json({"accounts": [_account(account) for account in found]})


@_operator
async def create_key(request: Request, context: AppContext) -> Response:
    """``POST /operator/v1/accounts/{name}/keys``: 201 with the key, shown this once."""
    name = request.path_params["name"]

    def create() -> str:
        return account_store.create_api_key(
            context.db, account_store.find_account(context.db, name)
        )

    key = await _run(context, create)
    prefix = key[: account_store.KEY_PREFIX_LENGTH]
    return _json({"key": key, "prefix": prefix, "account": name}, 201)


@_operator
async def list_keys(request: Request, context: AppContext) -> Response:
    name = request.path_params["name"]

    def listed() -> list[KeyInfo]:
        return account_store.list_api_keys(context.db, account_store.find_account(context.db, name))

    return _json({"keys": [_key(key) for key in await _run(context, listed)]})


@_operator
async def revoke_key(request: Request, context: AppContext) -> Response:
    """``DELETE /operator/v1/keys/{key}``: a customer key, or its displayed prefix."""
    prefix = await _run(
        context, account_store.revoke_api_key, context.db, request.path_params["key"]
    )
    return _json({"revoked": prefix})


def _ownership_routes(resource: Resource) -> list[Route]:
    """``/operator/v1/dids`` and ``/operator/v1/trunks``: assign, list, release."""
    base = f"/operator/v1/{resource.name}s"

    @_operator
    async def assign(request: Request, context: AppContext) -> Response:
        document = await _body(
            request, {"id": True, "account": True, "since": False, "until": False, "name": False}
        )
        since, until = _moment(document, "since"), _moment(document, "until")

        def assigned() -> Assignment:
            account = account_store.find_account(context.db, document["account"])
            return ownership.assign(
                context.db, resource, document["id"], account.id, since, until, document.get("name")
            )

        return _json(_assignment(await _run(context, assigned)), 201)

    @_operator
    async def list_(request: Request, context: AppContext) -> Response:
        name = request.query_params.get("account")

        def listed() -> list[Assignment]:
            account = account_store.find_account(context.db, name) if name else None
            return ownership.list_assignments(context.db, resource, account.id if account else None)

        return _json({f"{resource.name}s": [_assignment(a) for a in await _run(context, listed)]})

    @_operator
    async def release(request: Request, context: AppContext) -> Response:
        document = await _body(request, {"at": False})
        at = _moment(document, "at") or datetime.now(UTC)
        identifier = request.path_params["identifier"]
        released = await _run(context, ownership.release, context.db, resource, identifier, at)
        return _json(_assignment(released))

    return [
        Route(base, assign, methods=["POST"], name=f"operator.{resource.name}s.assign"),
        Route(base, list_, methods=["GET"], name=f"operator.{resource.name}s.list"),
        Route(
            f"{base}/{{identifier}}/release",
            release,
            methods=["POST"],
            name=f"operator.{resource.name}s.release",
        ),
    ]


ACCOUNT_ROUTES = [  # path, method, endpoint, name
    ("/operator/v1/accounts", "POST", create_account, "operator.accounts.create"),
    ("/operator/v1/accounts", "GET", list_accounts, "operator.accounts.list"),
    ("/operator/v1/accounts/{name}/keys", "POST", create_key, "operator.keys.create"),
    ("/operator/v1/accounts/{name}/keys", "GET", list_keys, "operator.keys.list"),
    ("/operator/v1/keys/{key}", "DELETE", revoke_key, "operator.keys.revoke"),
]


def routes() -> list[Route]:
    table = [
        Route(path, endpoint, methods=[method], name=name)
        for path, method, endpoint, name in ACCOUNT_ROUTES
    ]
    for resource in RESOURCES.values():
        table += _ownership_routes(resource)
    return table
