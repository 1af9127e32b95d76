"""Reading a JSON:API request document: size limit, JSON, structure, type and id rules."""

from __future__ import annotations

import orjson
from starlette.requests import Request

from cdrex.api.errors import ApiError, error_object, json_pointer
from cdrex.exports.versions import ApiVersion

MAX_BODY_BYTES = 1024 * 1024


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, or 413 as soon as it passes ``limit`` bytes (memory stays bounded)."""
    too_large = ApiError.one(413, f"Request bodies are limited to {limit} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _bad_document(detail: str, pointer: str) -> ApiError:
    return ApiError.one(400, detail, title="Bad Request", pointer=pointer)


def resource_attributes(
    body: bytes, version: ApiVersion, allowed: tuple[str, ...], resource_id: str | None = None
) -> dict:
    """The attributes of a request's resource object, after the structural checks.

    A create (``resource_id`` None) must not carry an id; an update must carry the id of
    the resource it is sent to. Attributes outside ``allowed`` are refused, not ignored:
    a client that believes it changed something must learn that it did not.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError.one(400, "The request body is not valid JSON.") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise _bad_document(
            "The request body must be a JSON:API document with a data object.", "/data"
        )
    data = document["data"]
    if "type" not in data:
        raise _bad_document("data must have a type member.", "/data/type")
    if data["type"] != version.collection:
        raise ApiError(
            409,
            [
                error_object(
                    409,
                    f"type must be {version.collection!r}, not {data['type']!r}.",
                    code="116",
                    title="Type mismatch",
                    pointer="/data/type",
                )
            ],
        )
    _check_id(data, resource_id)
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        raise ApiError.one(
            422, "attributes must be an object.", code="100", pointer="/data/attributes"
        )
    unexpected: list[tuple[str, ...]] = [
        ("attributes", name) for name in attributes if name not in allowed
    ]
    unexpected += [("relationships",)] if "relationships" in data else []
    if unexpected:
        raise ApiError(
            422,
            [
                error_object(
                    422,
                    f"{path[-1]} is not allowed.",
                    code="100",
                    title="Param not allowed",
                    pointer=json_pointer("data", *path),
                )
                for path in unexpected
            ],
        )
    return attributes


def _check_id(data: dict, resource_id: str | None) -> None:
    if resource_id is None:
        if "id" in data:
            raise ApiError.one(403, "Client-generated ids are not supported.", pointer="/data/id")
    elif "id" not in data:
        raise _bad_document("data must have an id member.", "/data/id")
    elif data["id"] != resource_id:
        raise ApiError(
            409,
            [
                error_object(
                    409,
                    "data.id must be the id in the URL.",
                    code="116",
                    title="Id mismatch",
                    pointer="/data/id",
                )
            ],
        )
