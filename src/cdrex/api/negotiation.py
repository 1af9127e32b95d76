"""JSON:API content negotiation (1.0 rules, as DIDWW's docs quote them)."""

from __future__ import annotations

import functools

from starlette.requests import Request

from cdrex.api.errors import JSONAPI, ApiError


def _media_ranges(header: str) -> list[tuple[str, list[str], float]]:
    """Parse an Accept header into (media range, media type parameters, q)."""
    ranges = []
    for item in header.split(","):
        media, *params = [part.strip() for part in item.split(";")]
        quality = 1.0
        media_params = []
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
            elif param:
                media_params.append(param)
        if media:
            ranges.append((media.lower(), media_params, quality))
    return ranges


@functools.lru_cache(maxsize=64)  # clients send the same few headers; parsing showed up in profiles
def accepts_jsonapi(header: str | None) -> bool:
    """True unless the Accept header rules out the plain JSON:API media type."""
    if not header:
        return True
    return any(
        quality > 0 and media in (JSONAPI, "application/*", "*/*") and not params
        for media, params, quality in _media_ranges(header)
    )


def check_accept(request: Request) -> None:
    if not accepts_jsonapi(request.headers.get("accept")):
        raise ApiError.one(
            406,
            f"The Accept header must allow {JSONAPI} without media type parameters.",
        )


def check_request_body_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.strip().lower() != JSONAPI:
        raise ApiError.one(
            415,
            f"Request bodies must be sent as {JSONAPI} without media type parameters.",
        )
